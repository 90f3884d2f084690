"""Sessions: making them, finding the one a request's cookie names, refreshing
them, and the JSON shapes Better Auth gives users and sessions.

A session is valid while its row exists and ``expiresAt`` is in the future; an
expired row is deleted when it is next looked up. ``get-session`` pushes the
expiry forward once ``updateAge`` has passed since the last push, unless the
session was started without "remember me".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rowgate.auth import cookies
from rowgate.auth.options import AuthOptions
from rowgate.auth.store import (
    Session,
    SessionWithUser,
    Store,
    User,
    in_seconds,
    now_ms,
)
from rowgate.auth.tokens import generate_id, generate_session_token

logger = logging.getLogger("rowgate.auth")

DONT_REMEMBER_EXPIRES_IN = 86400


def iso(moment: datetime) -> str:
    """A timestamp as JavaScript's ``Date.toJSON`` writes it."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def user_json(user: User) -> dict[str, Any]:
    """A user in Better Auth's key order."""
    return {
        "name": user.name,
        "email": user.email,
        "emailVerified": user.email_verified,
        "image": user.image,
        "createdAt": iso(user.created_at),
        "updatedAt": iso(user.updated_at),
        "id": user.id,
    }


def session_json(session: Session) -> dict[str, Any]:
    """A session in Better Auth's key order (the raw token included)."""
    return {
        "expiresAt": iso(session.expires_at),
        "token": session.token,
        "createdAt": iso(session.created_at),
        "updatedAt": iso(session.updated_at),
        "ipAddress": session.ip_address,
        "userAgent": session.user_agent,
        "userId": session.user_id,
        "id": session.id,
    }


def session_with_user_json(found: SessionWithUser) -> dict[str, Any]:
    return {"session": session_json(found.session), "user": user_json(found.user)}


def new_session(
    user_id: str,
    options: AuthOptions,
    *,
    remember: bool,
    ip_address: str,
    user_agent: str,
) -> Session:
    """A session row to insert; one day long without "remember me"."""
    now = now_ms()
    lifetime = options.expires_in if remember else DONT_REMEMBER_EXPIRES_IN
    return Session(
        id=generate_id(),
        expires_at=in_seconds(lifetime, start=now),
        token=generate_session_token(),
        created_at=now,
        updated_at=now,
        ip_address=ip_address,
        user_agent=user_agent,
        user_id=user_id,
    )


def is_expired(session: Session, *, now: datetime | None = None) -> bool:
    return session.expires_at <= (now or datetime.now(UTC))


def needs_refresh(
    session: Session, options: AuthOptions, *, now: datetime | None = None
) -> bool:
    """Whether ``updateAge`` has passed since the expiry was last set."""
    moment = (now or datetime.now(UTC)).timestamp()
    last_set = session.expires_at.timestamp() - options.expires_in
    return last_set + options.update_age <= moment


def is_fresh(
    session: Session, options: AuthOptions, *, now: datetime | None = None
) -> bool:
    """Whether the session was created within ``freshAge``."""
    moment = (now or datetime.now(UTC)).timestamp()
    return moment - session.created_at.timestamp() < options.fresh_age


@dataclass(frozen=True)
class CookieSession:
    """What a request's cookies say about its session."""

    token: str | None
    dont_remember: bool


def read_cookie_session(
    cookie_header: str | None, options: AuthOptions
) -> CookieSession:
    """The verified session token and "don't remember" flag from a Cookie
    header; a forged or unsigned cookie reads as no token."""
    if not cookie_header:
        return CookieSession(token=None, dont_remember=False)
    names = cookies.cookie_names(options)
    jar = cookies.parse_cookie_header(cookie_header)
    token = cookies.read_signed(jar, names.session_token, options.secrets)
    flag = cookies.read_signed(jar, names.dont_remember, options.secrets)
    return CookieSession(token=token, dont_remember=flag is not None)


async def find_valid_session(store: Store, token: str) -> SessionWithUser | None:
    """The live session for ``token``; an expired row is deleted on the way."""
    found = await store.find_session(token)
    if found is None:
        return None
    if is_expired(found.session):
        logger.info("deleting expired session %s", found.session.id)
        await store.delete_session(token)
        return None
    return found
