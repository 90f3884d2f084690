"""Password reset: request a link, follow it, set the new password.

``POST /request-password-reset`` stores a 24-character token in
``verification`` (``reset-password:<token>`` → user id) and hands the app a
link to mail; it answers the same for known and unknown addresses.
``GET /reset-password/:token`` sends the browser on to the app's page with
``?token=`` (or ``?error=INVALID_TOKEN``). ``POST /reset-password`` checks the
new password first, then spends the token, revokes the user's sessions
(unless turned off) and stores the hash in one transaction, so a refused
password leaves the token usable and a token is never spent twice.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from urllib.parse import parse_qsl, quote_plus, urlencode, urljoin, urlsplit

from rowgate.auth import mail, origin, passwords, verification
from rowgate.auth.errors import APIError
from rowgate.auth.routes import (
    AuthContext,
    AuthRequest,
    Reply,
    check_password_length,
    credential_account,
    redirect,
)
from rowgate.auth.store import Verification, in_seconds, now_ms
from rowgate.auth.tokens import generate_id, generate_reset_token
from rowgate.auth.validation import Field, Kind, validate_body

logger = logging.getLogger("rowgate.auth")

RESET_PREFIX = "reset-password:"
REPLY_MESSAGE = (
    "If this email exists in our system, check your email for the reset link"
)

REQUEST_FIELDS = (
    Field("email", Kind.EMAIL),
    Field("redirectTo", Kind.STRING, required=False),
)


async def request_password_reset(ctx: AuthContext, request: AuthRequest) -> Reply:
    body = validate_body(request.body, REQUEST_FIELDS)
    sender = ctx.options.send_reset_password
    if sender is None:
        logger.error("password reset needs a send_reset_password hook")
        raise APIError("RESET_PASSWORD_DISABLED")

    reply = Reply({"status": True, "message": REPLY_MESSAGE})
    token = generate_reset_token()
    user = await ctx.store.find_user_by_email(body["email"].lower())
    if user is None:
        # The same lookup a known address costs, so timing says little.
        await ctx.store.find_verification(RESET_PREFIX + token)
        logger.info("password reset asked for an unknown email")
        return reply

    now = now_ms()
    lifetime = ctx.options.reset_password_token_expires_in
    await ctx.store.create_verification(
        Verification(
            id=generate_id(),
            identifier=RESET_PREFIX + token,
            value=user.id,
            expires_at=in_seconds(lifetime, start=now),
            created_at=now,
            updated_at=now,
        )
    )
    url = verification.reset_password_url(ctx.options, token, body.get("redirectTo"))
    message = mail.EmailMessage(mail.RESET_MAIL, user.email, user, url, token)
    await mail.send_quietly(sender, message)
    return reply


CALLBACK_FIELDS = (Field("callbackURL", Kind.STRING),)


async def reset_password_callback(ctx: AuthContext, request: AuthRequest) -> Reply:
    """Redirect the emailed link to the app's page, with the token or an error."""
    query = validate_body(dict(request.query), CALLBACK_FIELDS, location="query")
    callback: str = query["callbackURL"]
    origin.check_callback_urls({}, {"callbackURL": callback}, ctx.trusted)
    token = request.params.get("token", "")

    if not callback:
        target = f"{ctx.options.auth_url}/error"
        return redirect(_with_param(target, "error", "INVALID_TOKEN"))
    found = await ctx.store.find_verification(RESET_PREFIX + token) if token else None
    target = urljoin(ctx.options.auth_url, callback)
    if found is None:
        return redirect(_with_param(target, "error", "INVALID_TOKEN"))
    return redirect(_with_param(target, "token", token))


def _with_param(url: str, name: str, value: str) -> str:
    """``url`` with query parameter ``name`` set to ``value`` (replacing any
    earlier one), serialised as a browser's ``URLSearchParams`` would."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    pairs = [(k, v) for k, v in pairs if k != name] + [(name, value)]
    query = urlencode(pairs, quote_via=quote_plus, safe="*")
    return parts._replace(query=query).geturl()


RESET_FIELDS = (
    Field("newPassword", Kind.STRING),
    Field("token", Kind.STRING, required=False),
)


async def reset_password(ctx: AuthContext, request: AuthRequest) -> Reply:
    body = validate_body(request.body, RESET_FIELDS)
    token = body.get("token") or request.query.get("token")
    if not token:
        raise APIError("INVALID_TOKEN")
    new_password: str = body["newPassword"]
    check_password_length(new_password, ctx.options)

    found = await ctx.store.find_verification(RESET_PREFIX + token)
    if found is None:
        raise APIError("INVALID_TOKEN")
    user = await ctx.store.find_user_by_id(found.value)
    if user is None:
        raise APIError("USER_NOT_FOUND")

    password_hash = await passwords.hash_password(new_password)
    now = now_ms()
    account = replace(
        credential_account(user, password_hash), created_at=now, updated_at=now
    )
    spent = await ctx.store.reset_password(
        RESET_PREFIX + token,
        user.id,
        password_hash,
        new_account=account,
        revoke_sessions=ctx.options.revoke_sessions_on_password_reset,
    )
    if not spent:
        # Another request spent the token while this one was hashing.
        raise APIError("INVALID_TOKEN")
    return Reply({"status": True})
