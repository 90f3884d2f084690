"""The Better Auth-compatible auth core: tables, password hashes, signed session
cookies, origin checks and the ``/api/auth`` endpoints as an ASGI app."""

from rowgate.auth.app import Auth
from rowgate.auth.options import AuthOptions
from rowgate.auth.store import Session, SessionWithUser, User

__all__ = ["Auth", "AuthOptions", "Session", "SessionWithUser", "User"]
