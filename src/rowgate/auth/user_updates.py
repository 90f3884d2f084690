"""The signed-in user changing themselves: profile, password, email, deletion.

All four need a live session (checked against the database). A password
change checks both passwords' lengths before any hashing, and with
``revokeOtherSessions`` swaps every session for a new one in the same
transaction as the new hash. Changing the email and deleting the user are off
unless enabled; deletion without the password needs a session younger than
``fresh_age``, or, with a ``send_delete_account_verification`` hook, waits for
the emailed link to be opened in a browser signed in as the same user.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from rowgate.auth import cookies, mail, origin, passwords, sessions, verification
from rowgate.auth.errors import APIError, EmailTakenError
from rowgate.auth.routes import (
    AuthContext,
    AuthRequest,
    Reply,
    check_password_length,
    check_password_not_too_long,
    current_session,
    optional_session,
    redirect,
    resend_session_cookie,
    send_verification_email,
    start_session,
)
from rowgate.auth.store import SessionWithUser, User, Verification, in_seconds, now_ms
from rowgate.auth.tokens import generate_delete_account_token, generate_id
from rowgate.auth.validation import MISSING, Field, Kind, js_type, validate_body

logger = logging.getLogger("rowgate.auth")

DELETE_ACCOUNT_PREFIX = "delete-account-"


def _record(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        received = js_type(body)
        message = f"[body] Invalid input: expected record, received {received}"
        raise APIError("VALIDATION_ERROR", message=message)
    return body


def _update_user_changes(body: dict[str, Any]) -> dict[str, Any]:
    """The ``User`` fields an update-user body sets. Unknown keys are dropped
    (Better Auth drops fields that are not declared user input); a name or
    image that is not a string is refused rather than stored as text."""
    if body.get("email"):
        raise APIError("EMAIL_CAN_NOT_BE_UPDATED")
    issues = []
    name, image = body.get("name", MISSING), body.get("image", MISSING)
    if name is not MISSING and not isinstance(name, str):
        issues.append(
            f"[body.name] Invalid input: expected string, received {js_type(name)}"
        )
    if image not in (MISSING, None) and not isinstance(image, str):
        issues.append(
            f"[body.image] Invalid input: expected string, received {js_type(image)}"
        )
    if issues:
        raise APIError("VALIDATION_ERROR", message="; ".join(issues))
    changes = {"name": name, "image": image}
    return {k: v for k, v in changes.items() if v is not MISSING}


async def update_user(ctx: AuthContext, request: AuthRequest) -> Reply:
    body = _record(request.body)
    found = await current_session(ctx, request)
    changes = _update_user_changes(body)
    if not changes:
        raise APIError(None, message="No fields to update", status=400)
    await ctx.store.update_user(found.user.id, changes)
    return Reply(
        {"status": True},
        cookies=resend_session_cookie(ctx, request, found.session.token),
    )


CHANGE_PASSWORD_FIELDS = (
    Field("newPassword", Kind.STRING),
    Field("currentPassword", Kind.STRING),
    Field("revokeOtherSessions", Kind.BOOLEAN, required=False),
)


async def change_password(ctx: AuthContext, request: AuthRequest) -> Reply:
    body = validate_body(request.body, CHANGE_PASSWORD_FIELDS)
    found = await current_session(ctx, request)
    new_password: str = body["newPassword"]
    current_password: str = body["currentPassword"]
    check_password_length(new_password, ctx.options)
    check_password_not_too_long(current_password, ctx.options)

    account = await ctx.store.find_credential_account(found.user.id)
    if account is None or not account.password:
        raise APIError("CREDENTIAL_ACCOUNT_NOT_FOUND")
    password_hash = await passwords.hash_password(new_password)
    if not await passwords.verify_password(account.password, current_password):
        raise APIError("INVALID_PASSWORD")

    revoke = body.get("revokeOtherSessions") is True
    session = (
        start_session(ctx, request, found.user.id, remember=True) if revoke else None
    )
    await ctx.store.change_password(account.id, password_hash, new_session=session)
    reply = Reply({"token": None, "user": sessions.user_json(found.user)})
    if session is not None:
        reply.body["token"] = session.token
        reply.cookies = resend_session_cookie(ctx, request, session.token)
    return reply


CHANGE_EMAIL_FIELDS = (
    Field("newEmail", Kind.EMAIL),
    Field("callbackURL", Kind.STRING, required=False),
)
NO_VERIFICATION = "Verification email isn't enabled"


async def change_email(ctx: AuthContext, request: AuthRequest) -> Reply:
    """Start an email change: an unverified user may switch at once when
    ``update_email_without_verification`` is on; a verified one, with a
    ``send_change_email_confirmation`` hook, first approves it from the current
    address; otherwise the new address gets a link that completes the change. A
    taken address gets the same answer and no mail."""
    body = validate_body(request.body, CHANGE_EMAIL_FIELDS)
    found = await current_session(ctx, request)
    if not ctx.options.change_email_enabled:
        raise APIError("CHANGE_EMAIL_DISABLED")
    new_email = body["newEmail"].lower()
    if new_email == found.user.email:
        raise APIError(None, message="Email is the same", status=400)

    at_once = (
        not found.user.email_verified and ctx.options.update_email_without_verification
    )
    if not at_once and ctx.options.send_verification_email is None:
        raise APIError(None, message=NO_VERIFICATION, status=400)
    if await ctx.store.find_user_by_email(new_email) is not None:
        logger.info("email change asked for an address that is taken")
        return Reply({"status": True})

    if at_once:
        return await _change_email_now(ctx, request, found, new_email, body)
    confirm = ctx.options.send_change_email_confirmation
    if confirm is not None and found.user.email_verified:
        await _mail_change_confirmation(
            ctx, found, new_email, body.get("callbackURL"), confirm
        )
        return Reply({"status": True})
    await _mail_change_link(ctx, found, new_email, body.get("callbackURL"))
    return Reply({"status": True})


async def _change_email_now(
    ctx: AuthContext,
    request: AuthRequest,
    found: SessionWithUser,
    new_email: str,
    body: dict[str, Any],
) -> Reply:
    try:
        updated = await ctx.store.update_user(found.user.id, {"email": new_email})
    except EmailTakenError:
        return Reply({"status": True})
    reply = Reply(
        {"status": True},
        cookies=resend_session_cookie(ctx, request, found.session.token),
    )
    if updated is not None and ctx.options.send_verification_email is not None:
        callback = body.get("callbackURL")
        await send_verification_email(ctx, updated, callback, quiet=False)
    return reply


async def _mail_change_link(
    ctx: AuthContext, found: SessionWithUser, new_email: str, callback: str | None
) -> None:
    sender = ctx.options.send_verification_email
    assert sender is not None
    url, token = _change_link(
        ctx, found, new_email, callback, verification.CHANGE_EMAIL_VERIFICATION
    )
    recipient = replace(found.user, email=new_email)
    await sender(
        mail.EmailMessage(mail.VERIFICATION_MAIL, new_email, recipient, url, token)
    )


async def _mail_change_confirmation(
    ctx: AuthContext,
    found: SessionWithUser,
    new_email: str,
    callback: str | None,
    sender: mail.EmailSender,
) -> None:
    """Ask the current address to approve the change; its link then mails the
    new address (``verify-email`` with a confirmation token)."""
    url, token = _change_link(
        ctx, found, new_email, callback, verification.CHANGE_EMAIL_CONFIRMATION
    )
    message = mail.EmailMessage(
        mail.CHANGE_EMAIL_CONFIRMATION_MAIL,
        found.user.email,
        found.user,
        url,
        token,
        new_email=new_email,
    )
    await sender(message)


def _change_link(
    ctx: AuthContext,
    found: SessionWithUser,
    new_email: str,
    callback: str | None,
    request_type: str,
) -> tuple[str, str]:
    """The ``verify-email`` link (and its token) for one step of an email change."""
    claims = verification.EmailClaims(
        found.user.email,
        user_id=found.user.id,
        update_to=new_email,
        request_type=request_type,
    )
    token = verification.create_email_token(
        ctx.options.secret, claims, ctx.options.verification_token_expires_in
    )
    return verification.verify_email_url(ctx.options, token, callback), token


DELETE_USER_FIELDS = (
    Field("callbackURL", Kind.STRING, required=False),
    Field("password", Kind.STRING, required=False),
    Field("token", Kind.STRING, required=False),
)
USER_DELETED = {"success": True, "message": "User deleted"}


async def delete_user(ctx: AuthContext, request: AuthRequest) -> Reply:
    """Delete the signed-in user (sessions and accounts go with it). Needs
    the password, a delete-account token, or a fresh session; with a
    ``send_delete_account_verification`` hook and no token, mails the link."""
    body = validate_body(request.body, DELETE_USER_FIELDS)
    found = await current_session(ctx, request)
    if not ctx.options.delete_user_enabled:
        logger.error("delete-user called but delete_user_enabled is off")
        return Reply(MISSING, status=404)
    password = body.get("password")
    if password:
        await _check_own_password(ctx, found, password)

    token = body.get("token")
    if token:
        return await _delete_with_token(ctx, found, token)
    sender = ctx.options.send_delete_account_verification
    if sender is not None:
        await _mail_delete_link(ctx, found.user, sender, body.get("callbackURL"))
        return Reply({"success": True, "message": "Verification email sent"})
    if (
        not password
        and ctx.options.fresh_age
        and not sessions.is_fresh(found.session, ctx.options)
    ):
        raise APIError("SESSION_EXPIRED")
    return await _delete(ctx, found)


DELETE_CALLBACK_FIELDS = (
    Field("token", Kind.STRING),
    Field("callbackURL", Kind.STRING, required=False),
)


async def delete_user_callback(ctx: AuthContext, request: AuthRequest) -> Reply:
    """The emailed link: delete the signed-in user if the token is theirs, then
    go to ``callbackURL`` (a trusted one) or answer as delete-user does."""
    if not ctx.options.delete_user_enabled:
        logger.error("delete-user callback called but delete_user_enabled is off")
        raise APIError("NOT_FOUND")
    query = validate_body(dict(request.query), DELETE_CALLBACK_FIELDS, location="query")
    callback = query.get("callbackURL") or None
    origin.check_callback_urls({}, {"callbackURL": callback or ""}, ctx.trusted)
    found = await optional_session(ctx, request)
    if found is None:
        raise APIError("FAILED_TO_GET_USER_INFO")
    deleted = await _delete_with_token(ctx, found, query["token"])
    if callback is None:
        return deleted
    return replace(redirect(callback), cookies=deleted.cookies)


async def _mail_delete_link(
    ctx: AuthContext, user: User, sender: mail.EmailSender, callback: str | None
) -> None:
    token = generate_delete_account_token()
    now = now_ms()
    await ctx.store.create_verification(
        Verification(
            id=generate_id(),
            identifier=DELETE_ACCOUNT_PREFIX + token,
            value=user.id,
            expires_at=in_seconds(ctx.options.delete_token_expires_in, start=now),
            created_at=now,
            updated_at=now,
        )
    )
    url = (
        f"{ctx.options.auth_url}/delete-user/callback?token={token}"
        f"&callbackURL={quote(callback or '/', safe='')}"
    )
    await sender(
        mail.EmailMessage(mail.DELETE_ACCOUNT_MAIL, user.email, user, url, token)
    )
    logger.info("sent a delete-account link to user %s", user.id)


async def _delete_with_token(
    ctx: AuthContext, found: SessionWithUser, token: str
) -> Reply:
    """Spend the user's own delete-account token, then delete them."""
    identifier = DELETE_ACCOUNT_PREFIX + token
    if not await ctx.store.consume_verification(identifier, found.user.id):
        raise APIError("INVALID_TOKEN", status=404)
    return await _delete(ctx, found)


async def _delete(ctx: AuthContext, found: SessionWithUser) -> Reply:
    await ctx.store.delete_user(found.user.id)
    await ctx.store.delete_user_sessions(found.user.id)
    logger.info("deleted user %s at their request", found.user.id)
    return Reply(
        dict(USER_DELETED), cookies=cookies.expired_session_cookies(ctx.options)
    )


async def _check_own_password(
    ctx: AuthContext, found: SessionWithUser, password: str
) -> None:
    check_password_not_too_long(password, ctx.options)
    account = await ctx.store.find_credential_account(found.user.id)
    if account is None or not account.password:
        raise APIError("CREDENTIAL_ACCOUNT_NOT_FOUND")
    if not await passwords.verify_password(account.password, password):
        raise APIError("INVALID_PASSWORD")
