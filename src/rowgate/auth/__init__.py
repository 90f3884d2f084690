"""The Better Auth-compatible auth core: tables, password hashes, signed session
cookies, origin checks and the ``/api/auth`` endpoints as an ASGI app."""

from rowgate.auth.app import Auth
from rowgate.auth.mail import EmailMessage, EmailSender, console_transport
from rowgate.auth.options import (
    AuthOptions,
    CookieCacheOptions,
    RateLimitOptions,
    RateLimitRule,
)
from rowgate.auth.store import Session, SessionWithUser, User

__all__ = [
    "Auth",
    "AuthOptions",
    "CookieCacheOptions",
    "EmailMessage",
    "EmailSender",
    "RateLimitOptions",
    "RateLimitRule",
    "Session",
    "SessionWithUser",
    "User",
    "console_transport",
]
