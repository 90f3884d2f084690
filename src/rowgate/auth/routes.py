"""The auth endpoints: each a coroutine from a parsed ``AuthRequest`` to a
``Reply``, with Better Auth's request and response shapes.

Transport concerns (routing, media types, body parsing, the cookie origin
gate, rendering) belong to ``app``; a handler raises ``APIError`` for any
answer that is not a success.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rowgate.auth import cookies, mail, origin, passwords, sessions, verification
from rowgate.auth.errors import APIError, EmailTakenError
from rowgate.auth.options import AuthOptions
from rowgate.auth.store import (
    CREDENTIAL_PROVIDER,
    Account,
    Session,
    SessionWithUser,
    Store,
    User,
    in_seconds,
    now_ms,
)
from rowgate.auth.tokens import generate_id
from rowgate.auth.validation import MISSING, Field, Kind, is_email, validate_body

logger = logging.getLogger("rowgate.auth")

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

# Hashed in place of a missing user's password so that "no such email" takes
# as long as "wrong password".
_DUMMY_HASH_INPUT = "rowgate-timing-equaliser"


@dataclass(frozen=True)
class AuthRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: Any
    client_host: str | None
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Html:
    """A body that is a page, not JSON."""

    text: str


@dataclass
class Reply:
    """An endpoint's answer; a ``MISSING`` body goes out empty (redirects)."""

    body: Any
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    cookies: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AuthContext:
    """What every handler works with: the options and the store."""

    options: AuthOptions
    store: Store
    trusted: origin.TrustedOrigins

    @property
    def names(self) -> cookies.CookieNames:
        return cookies.cookie_names(self.options)


Handler = Callable[[AuthContext, AuthRequest], Awaitable[Reply]]


# -- shared steps ------------------------------------------------------------


def check_password_length(password: str, options: AuthOptions) -> None:
    """PASSWORD_TOO_SHORT / PASSWORD_TOO_LONG, counted in UTF-16 code units."""
    length = passwords.password_length(password)
    if length < options.min_password_length:
        raise APIError("PASSWORD_TOO_SHORT")
    if length > options.max_password_length:
        raise APIError("PASSWORD_TOO_LONG")


def check_password_not_too_long(password: str, options: AuthOptions) -> None:
    if passwords.password_length(password) > options.max_password_length:
        raise APIError("PASSWORD_TOO_LONG")


def client_ip(request: AuthRequest) -> str:
    """The address recorded on a new session: the peer's, or "" when unknown."""
    return request.client_host or ""


def start_session(
    ctx: AuthContext, request: AuthRequest, user_id: str, *, remember: bool
) -> Session:
    return sessions.new_session(
        user_id,
        ctx.options,
        remember=remember,
        ip_address=client_ip(request),
        user_agent=request.headers.get("user-agent", ""),
    )


def session_cookies(
    ctx: AuthContext, request: AuthRequest, token: str, *, remember: bool
) -> list[str]:
    """Cookies for a new session; a stale ``dont_remember`` is expired when the
    new session is remembered."""
    headers = cookies.session_cookie(token, ctx.options, remember=remember)
    if (
        remember
        and sessions.read_cookie_session(
            request.headers.get("cookie"), ctx.options
        ).dont_remember
    ):
        headers.append(cookies.expire_cookie(ctx.names.dont_remember, ctx.options))
    return headers


async def optional_session(
    ctx: AuthContext, request: AuthRequest
) -> SessionWithUser | None:
    """The request's live session, or None."""
    state = sessions.read_cookie_session(request.headers.get("cookie"), ctx.options)
    if not state.token:
        return None
    return await sessions.find_valid_session(ctx.store, state.token)


async def current_session(ctx: AuthContext, request: AuthRequest) -> SessionWithUser:
    """The request's live session, or 401 UNAUTHORIZED."""
    found = await optional_session(ctx, request)
    if found is None:
        raise APIError("UNAUTHORIZED")
    return found


async def fresh_session(ctx: AuthContext, request: AuthRequest) -> SessionWithUser:
    """The request's live session if created within ``freshAge`` (0: any
    age); 401 without a session, 403 SESSION_NOT_FRESH with a stale one."""
    found = await current_session(ctx, request)
    if ctx.options.fresh_age and not sessions.is_fresh(found.session, ctx.options):
        raise APIError("SESSION_NOT_FRESH")
    return found


def resend_session_cookie(
    ctx: AuthContext, request: AuthRequest, token: str
) -> list[str]:
    """The session cookie again (after a user change or a new session), kept a
    browser-session cookie when the request says "don't remember me"."""
    state = sessions.read_cookie_session(request.headers.get("cookie"), ctx.options)
    return cookies.session_cookie(token, ctx.options, remember=not state.dont_remember)


def redirect(location: str) -> Reply:
    """Better Auth's redirect: 302, a ``location`` header, an empty body."""
    return Reply(MISSING, status=302, headers=[("location", location)])


async def send_verification_email(
    ctx: AuthContext, user: User, callback_url: str | None, *, quiet: bool
) -> None:
    """Mail ``user`` a link that verifies their address; ``quiet`` logs a
    failing hook instead of raising (where the answer must not tell whether
    the address has an account)."""
    sender = ctx.options.send_verification_email
    if sender is None:
        raise APIError("VERIFICATION_EMAIL_NOT_ENABLED")
    claims = verification.EmailClaims(user.email, user_id=user.id)
    token = verification.create_email_token(
        ctx.options.secret, claims, ctx.options.verification_token_expires_in
    )
    message = mail.EmailMessage(
        kind=mail.VERIFICATION_MAIL,
        to=user.email,
        user=user,
        url=verification.verify_email_url(ctx.options, token, callback_url),
        token=token,
    )
    if quiet:
        await mail.send_quietly(sender, message)
    else:
        await sender(message)


# -- endpoints ---------------------------------------------------------------

SIGN_UP_FIELDS = (
    Field("name", Kind.STRING),
    Field("email", Kind.EMAIL),
    Field("password", Kind.NONEMPTY),
    Field("image", Kind.STRING, required=False),
    Field("callbackURL", Kind.STRING, required=False),
    Field("rememberMe", Kind.BOOLEAN, required=False),
)


async def sign_up_email(ctx: AuthContext, request: AuthRequest) -> Reply:
    body = validate_body(request.body, SIGN_UP_FIELDS, open_record=True)
    origin.check_login_request(request.headers, ctx.trusted)
    password: str = body["password"]
    check_password_length(password, ctx.options)

    # Without an immediate session the answer for a taken email looks like a
    # new account's, so sign-up does not reveal who has one.
    no_session = ctx.options.require_email_verification or not ctx.options.auto_sign_in
    email = body["email"].lower()
    if await ctx.store.find_user_by_email(email) is not None:
        if not no_session:
            raise APIError("USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL")
        await passwords.hash_password(password)
        decoy = _new_user(body, email)
        return Reply({"token": None, "user": sessions.user_json(decoy)})

    password_hash = await passwords.hash_password(password)
    user = _new_user(body, email)
    remember = body.get("rememberMe") is not False
    session = (
        None if no_session else start_session(ctx, request, user.id, remember=remember)
    )
    try:
        await ctx.store.create_user(
            user, credential_account(user, password_hash), session
        )
    except EmailTakenError:
        logger.info("sign-up lost a race for an email; answered 422")
        raise APIError("FAILED_TO_CREATE_USER") from None

    if ctx.options.sends_on_sign_up and ctx.options.send_verification_email:
        await send_verification_email(ctx, user, body.get("callbackURL"), quiet=True)
    if session is None:
        return Reply({"token": None, "user": sessions.user_json(user)})
    return Reply(
        {"token": session.token, "user": sessions.user_json(user)},
        cookies=session_cookies(ctx, request, session.token, remember=remember),
    )


def _new_user(body: dict[str, Any], email: str) -> User:
    now = now_ms()
    return User(
        id=generate_id(),
        name=body["name"],
        email=email,
        email_verified=False,
        image=body.get("image"),
        created_at=now,
        updated_at=now,
    )


def credential_account(user: User, password_hash: str) -> Account:
    """The email-and-password account row Better Auth links to a new user."""
    return Account(
        id=generate_id(),
        account_id=user.id,
        provider_id=CREDENTIAL_PROVIDER,
        user_id=user.id,
        access_token=None,
        refresh_token=None,
        id_token=None,
        access_token_expires_at=None,
        refresh_token_expires_at=None,
        scope=None,
        password=password_hash,
        created_at=user.created_at,
        updated_at=user.created_at,
    )


SIGN_IN_FIELDS = (
    Field("email", Kind.STRING),
    Field("password", Kind.STRING),
    Field("callbackURL", Kind.STRING, required=False),
    Field("rememberMe", Kind.BOOLEAN, required=False),
)


async def sign_in_email(ctx: AuthContext, request: AuthRequest) -> Reply:
    body = validate_body(request.body, SIGN_IN_FIELDS)
    origin.check_login_request(request.headers, ctx.trusted)
    if not is_email(body["email"]):
        raise APIError("INVALID_EMAIL")
    password: str = body["password"]
    check_password_not_too_long(password, ctx.options)

    user = await verified_user(ctx, body["email"].lower(), password)
    if ctx.options.require_email_verification and not user.email_verified:
        if ctx.options.send_on_sign_in and ctx.options.send_verification_email:
            await send_verification_email(
                ctx, user, body.get("callbackURL"), quiet=False
            )
        raise APIError("EMAIL_NOT_VERIFIED")
    remember = body.get("rememberMe") is not False
    session = start_session(ctx, request, user.id, remember=remember)
    await ctx.store.create_session(session)

    reply = Reply(
        {"redirect": False, "token": session.token, "user": sessions.user_json(user)},
        cookies=session_cookies(ctx, request, session.token, remember=remember),
    )
    callback = body.get("callbackURL")
    if callback:
        reply.body = {
            "redirect": True,
            "token": session.token,
            "url": callback,
            "user": sessions.user_json(user),
        }
        reply.headers.append(("location", callback))
    return reply


async def verified_user(ctx: AuthContext, email: str, password: str) -> User:
    """The user whose credential account accepts ``password``, or 401.

    Every failing path costs one scrypt run, like the succeeding one, so the
    answer's timing does not tell which emails exist.
    """
    user = await ctx.store.find_user_by_email(email)
    account = await ctx.store.find_credential_account(user.id) if user else None
    if user is None or account is None or not account.password:
        await passwords.hash_password(_DUMMY_HASH_INPUT)
        raise APIError("INVALID_EMAIL_OR_PASSWORD")
    if not await passwords.verify_password(account.password, password):
        raise APIError("INVALID_EMAIL_OR_PASSWORD")
    return user


async def sign_out(ctx: AuthContext, request: AuthRequest) -> Reply:
    state = sessions.read_cookie_session(request.headers.get("cookie"), ctx.options)
    if state.token:
        await ctx.store.delete_session(state.token)
    return Reply(
        {"success": True}, cookies=cookies.expired_session_cookies(ctx.options)
    )


def _query_flag(query: Mapping[str, str], name: str) -> bool:
    # zod's coerce.boolean: any non-empty string is true, "false" included.
    return bool(query.get(name))


async def get_session(ctx: AuthContext, request: AuthRequest) -> Reply:
    reply = Reply(None, headers=[("cache-control", "no-store"), ("pragma", "no-cache")])
    if request.method == "POST":
        raise APIError("METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED")
    cookie_header = request.headers.get("cookie")
    state = sessions.read_cookie_session(cookie_header, ctx.options)
    if cookie_header and ctx.names.session_data in cookies.parse_cookie_header(
        cookie_header
    ):
        # No cookie cache here: a stale cache cookie is cleared.
        reply.cookies.append(cookies.expire_cookie(ctx.names.session_data, ctx.options))
    if not state.token:
        return reply

    found = await sessions.find_valid_session(ctx.store, state.token)
    if found is None:
        reply.cookies = cookies.expired_session_cookies(ctx.options)
        return reply
    if (
        state.dont_remember
        or _query_flag(request.query, "disableRefresh")
        or not sessions.needs_refresh(found.session, ctx.options)
    ):
        reply.body = sessions.session_with_user_json(found)
        return reply

    return await _refreshed(ctx, found, reply)


async def _refreshed(ctx: AuthContext, found: SessionWithUser, reply: Reply) -> Reply:
    now = now_ms()
    updated = await ctx.store.extend_session(
        found.session.token, in_seconds(ctx.options.expires_in, start=now), now
    )
    if updated is None:
        raise APIError("FAILED_TO_GET_SESSION")
    reply.cookies.extend(cookies.session_cookie(updated.token, ctx.options))
    reply.body = {
        "session": sessions.session_json(updated),
        "user": sessions.user_json(found.user),
    }
    return reply


async def list_sessions(ctx: AuthContext, request: AuthRequest) -> Reply:
    """The user's unexpired sessions, tokens included; needs a fresh session."""
    found = await fresh_session(ctx, request)
    listed = await ctx.store.list_sessions(found.user.id)
    live = [s for s in listed if not sessions.is_expired(s)]
    return Reply([sessions.session_json(s) for s in live])


REVOKE_SESSION_FIELDS = (Field("token", Kind.STRING),)


async def revoke_session(ctx: AuthContext, request: AuthRequest) -> Reply:
    """Delete one of the user's sessions; another user's token is left alone
    and the answer is the same, so tokens cannot be probed."""
    body = validate_body(request.body, REVOKE_SESSION_FIELDS)
    found = await current_session(ctx, request)
    await ctx.store.delete_session(body["token"], user_id=found.user.id)
    reply = Reply({"status": True})
    if body["token"] == found.session.token:
        reply.cookies = cookies.expired_session_cookies(ctx.options)
    return reply


async def revoke_sessions(ctx: AuthContext, request: AuthRequest) -> Reply:
    found = await current_session(ctx, request)
    await ctx.store.delete_user_sessions(found.user.id)
    return Reply({"status": True}, cookies=cookies.expired_session_cookies(ctx.options))


async def revoke_other_sessions(ctx: AuthContext, request: AuthRequest) -> Reply:
    found = await current_session(ctx, request)
    await ctx.store.delete_user_sessions(
        found.user.id, except_token=found.session.token
    )
    return Reply({"status": True})


def _scopes(scope: str | None) -> list[str]:
    return [part.strip() for part in (scope or "").split(",") if part.strip()]


async def list_accounts(ctx: AuthContext, request: AuthRequest) -> Reply:
    """The user's linked accounts, without tokens or password hashes."""
    found = await current_session(ctx, request)
    accounts = await ctx.store.list_accounts(found.user.id)
    return Reply(
        [
            {
                "accountId": a.account_id,
                "providerId": a.provider_id,
                "userId": a.user_id,
                "createdAt": sessions.iso(a.created_at),
                "updatedAt": sessions.iso(a.updated_at),
                "id": a.id,
                "scopes": _scopes(a.scope),
            }
            for a in accounts
        ]
    )


UNLINK_ACCOUNT_FIELDS = (Field("accountId", Kind.STRING),)


async def unlink_account(ctx: AuthContext, request: AuthRequest) -> Reply:
    """Remove one of the user's linked accounts (by its row id), never the
    last one; needs a fresh session."""
    body = validate_body(request.body, UNLINK_ACCOUNT_FIELDS)
    found = await fresh_session(ctx, request)
    accounts = await ctx.store.list_accounts(found.user.id)
    if len(accounts) == 1:
        raise APIError("FAILED_TO_UNLINK_LAST_ACCOUNT")
    if not any(a.id == body["accountId"] for a in accounts):
        raise APIError("ACCOUNT_NOT_FOUND")
    await ctx.store.delete_account(body["accountId"], found.user.id)
    return Reply({"status": True})


async def ok(ctx: AuthContext, request: AuthRequest) -> Reply:
    return Reply({"ok": True})


@dataclass(frozen=True)
class Endpoint:
    handler: Handler
    media_types: tuple[str, ...] = (JSON,)
