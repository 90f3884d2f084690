"""Checking the admin credential.

The admin key (``ik_`` + 64 hex) arrives as ``Authorization: Bearer <key>`` or as
``x-api-key``; it is compared in constant time. Nothing else — not the anon key, not
a user's JWT, whatever its claims — is an admin credential.
"""

from __future__ import annotations

import hmac

from starlette.requests import HTTPConnection

ADMIN_KEY_PREFIX = "ik_"


def presented_key(conn: HTTPConnection) -> str | None:
    """The admin key a request presents, if it presents one."""
    header = conn.headers.get("x-api-key")
    if header:
        return header.strip()
    scheme, _, value = conn.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip().startswith(ADMIN_KEY_PREFIX):
        return value.strip()
    return None


def matches(presented: str | None, admin_key: str) -> bool:
    """Whether ``presented`` is the admin key, compared in constant time."""
    if not presented or not admin_key:
        return False
    return hmac.compare_digest(presented.encode(), admin_key.encode())


def is_admin(conn: HTTPConnection, admin_key: str) -> bool:
    """Whether the request carries the project's admin key."""
    return matches(presented_key(conn), admin_key)
