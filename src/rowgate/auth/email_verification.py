"""Email verification: send the link, and follow it.

``POST /send-verification-email`` mails a signed token (see ``verification``);
a signed-in user may only ask for their own unverified address, anyone else
gets ``{"status": true}`` whatever the address, after a fixed minimum delay so
the timing does not tell either. ``GET /verify-email`` checks the token and
marks the address verified, signing the user in when configured; tokens that
carry ``updateTo`` finish an email change (Better Auth's confirmation,
verification and older one-step flows). Failures redirect to the callback
with ``?error=<CODE>`` when there is one, else answer 401.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import anyio

from rowgate.auth import mail, origin, sessions, verification
from rowgate.auth.errors import APIError, EmailTakenError
from rowgate.auth.routes import (
    AuthContext,
    AuthRequest,
    Reply,
    optional_session,
    redirect,
    resend_session_cookie,
    send_verification_email,
    start_session,
)
from rowgate.auth.store import SessionWithUser, User
from rowgate.auth.validation import Field, Kind, validate_body
from rowgate.auth.verification import EmailClaims

logger = logging.getLogger("rowgate.auth")

# Answers to anonymous callers take at least this long, mail sent or not.
ANONYMOUS_MIN_SECONDS = 0.5

SEND_FIELDS = (
    Field("email", Kind.EMAIL),
    Field("callbackURL", Kind.STRING, required=False),
)


async def send_verification_email_endpoint(
    ctx: AuthContext, request: AuthRequest
) -> Reply:
    body = validate_body(request.body, SEND_FIELDS)
    if ctx.options.send_verification_email is None:
        logger.error("email verification needs a send_verification_email hook")
        raise APIError("VERIFICATION_EMAIL_NOT_ENABLED")
    email: str = body["email"]
    callback = body.get("callbackURL")

    found = await optional_session(ctx, request)
    if found is None:
        await _send_anonymously(ctx, email.lower(), callback)
        return Reply({"status": True})
    if found.user.email.lower() != email.lower():
        raise APIError("EMAIL_MISMATCH")
    if found.user.email_verified:
        raise APIError("EMAIL_ALREADY_VERIFIED")
    await send_verification_email(ctx, found.user, callback, quiet=False)
    return Reply({"status": True})


async def _send_anonymously(ctx: AuthContext, email: str, callback: str | None) -> None:
    started = time.monotonic()
    user = await ctx.store.find_user_by_email(email)
    if user is not None and not user.email_verified:
        await send_verification_email(ctx, user, callback, quiet=True)
    remaining = ANONYMOUS_MIN_SECONDS - (time.monotonic() - started)
    if remaining > 0:
        await anyio.sleep(remaining)


VERIFY_FIELDS = (
    Field("token", Kind.STRING),
    Field("callbackURL", Kind.STRING, required=False),
)


async def verify_email(ctx: AuthContext, request: AuthRequest) -> Reply:
    query = validate_body(dict(request.query), VERIFY_FIELDS, location="query")
    callback: str | None = query.get("callbackURL") or None
    origin.check_callback_urls({}, {"callbackURL": callback or ""}, ctx.trusted)
    try:
        claims = verification.read_email_token(query["token"], *ctx.options.secrets)
    except APIError as error:
        return _refuse(callback, error.code or "INVALID_TOKEN")
    if claims.update_to:
        return await _finish_email_change(ctx, request, claims, callback)

    user = await ctx.store.find_user_by_email(claims.email)
    if user is None:
        return _refuse(callback, "USER_NOT_FOUND")
    if claims.user_id and claims.user_id != user.id:
        return _refuse(callback, "INVALID_TOKEN")
    done = redirect(callback) if callback else Reply({"status": True, "user": None})
    if user.email_verified:
        return done

    await ctx.store.update_user(user.id, {"email_verified": True})
    logger.info("verified the email of user %s", user.id)
    if ctx.options.auto_sign_in_after_verification:
        done.cookies = await _sign_in(ctx, request, user, claims.email)
    return done


def _refuse(callback: str | None, code: str) -> Reply:
    """Better Auth's answer to a bad link: back to the callback with
    ``error=<code>``, or 401 without a callback."""
    if callback is None:
        raise APIError(code, status=401)
    return redirect(append_query_param(callback, "error", code))


def append_query_param(url: str, name: str, value: str) -> str:
    """``url`` with ``name=value`` added to its query (before any fragment),
    the existing query text left as it is."""
    base, hash_mark, fragment = url.partition("#")
    head, _, query = base.partition("?")
    param = f"{name}={value}"
    if query:
        joined = f"{head}?{query}{'' if query.endswith('&') else '&'}{param}"
    else:
        joined = f"{head}?{param}"
    return joined + hash_mark + fragment


async def _sign_in(
    ctx: AuthContext, request: AuthRequest, user: User, email: str
) -> list[str]:
    """Cookies for the verified user: the current session's when it is
    theirs, else a new session's."""
    current = await optional_session(ctx, request)
    if current is not None and current.user.email == email:
        return resend_session_cookie(ctx, request, current.session.token)
    session = start_session(ctx, request, user.id, remember=True)
    await ctx.store.create_session(session)
    return resend_session_cookie(ctx, request, session.token)


async def _finish_email_change(
    ctx: AuthContext, request: AuthRequest, claims: EmailClaims, callback: str | None
) -> Reply:
    if not claims.user_id:
        return _refuse(callback, "INVALID_TOKEN")
    bound = await ctx.store.find_user_by_id(claims.user_id)
    if bound is None:
        return _refuse(callback, "USER_NOT_FOUND")
    if bound.email.lower() != claims.email:
        return _refuse(callback, "INVALID_TOKEN")
    current = await optional_session(ctx, request)
    if current is not None and current.user.id != bound.id:
        return _refuse(callback, "INVALID_USER")

    if claims.request_type == verification.CHANGE_EMAIL_CONFIRMATION:
        await _mail_new_address(ctx, bound, claims, callback)
        return redirect(callback) if callback else Reply({"status": True})
    try:
        return await _change_email(ctx, request, bound, claims, current, callback)
    except EmailTakenError:
        logger.info("email change for user %s hit a taken address", bound.id)
        return _refuse(callback, "USER_ALREADY_EXISTS")


async def _change_email(
    ctx: AuthContext,
    request: AuthRequest,
    bound: User,
    claims: EmailClaims,
    current: SessionWithUser | None,
    callback: str | None,
) -> Reply:
    """Move the user to ``updateTo``: verified at once for the second step of
    the two-step flow, else unverified with a fresh link to the new address."""
    assert claims.update_to is not None
    two_step = claims.request_type == verification.CHANGE_EMAIL_VERIFICATION
    verified = bound.email_verified if two_step else False
    changes = {"email": claims.update_to, "email_verified": verified}
    updated = await ctx.store.update_user(bound.id, changes)
    if updated is None:
        return _refuse(callback, "USER_NOT_FOUND")
    if not two_step and ctx.options.send_verification_email is not None:
        await send_verification_email(ctx, updated, callback, quiet=False)

    reply = (
        redirect(callback)
        if callback
        else Reply({"status": True, "user": sessions.user_json(updated)})
    )
    if current is not None:
        reply.cookies = resend_session_cookie(ctx, request, current.session.token)
    return reply


async def _mail_new_address(
    ctx: AuthContext, bound: User, claims: EmailClaims, callback: str | None
) -> None:
    """The confirmation step: the old address approved the change, so the new
    one gets the link that completes it."""
    sender = ctx.options.send_verification_email
    assert claims.update_to is not None
    if sender is None:
        return
    next_claims = replace(
        claims,
        request_type=verification.CHANGE_EMAIL_VERIFICATION,
        user_id=bound.id,
    )
    token = verification.create_email_token(
        ctx.options.secret, next_claims, ctx.options.verification_token_expires_in
    )
    url = verification.verify_email_url(ctx.options, token, callback)
    recipient = replace(bound, email=claims.update_to)
    await sender(
        mail.EmailMessage(
            mail.VERIFICATION_MAIL, claims.update_to, recipient, url, token
        )
    )
