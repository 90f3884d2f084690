"""Better Auth's cookies, as pure functions: names, signing, parsing, headers.

A signed value is ``encodeURIComponent(value + "." + base64(HMAC-SHA256(secret,
value)))`` with standard, padded base64, so the signature is always 44
characters ending in ``=``. The server reads only the cookie names it would set
itself: with an http base URL a ``__Secure-`` cookie is ignored and vice versa.
``Set-Cookie`` attributes go out in the order Better Auth writes them.
Values are signed with the current secret and verified against every secret
the options list, so a rotated-out secret keeps its cookies valid.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote

from rowgate.auth.options import AuthOptions

SIGNATURE_LENGTH = 44


@dataclass(frozen=True)
class CookieNames:
    session_token: str
    session_data: str
    dont_remember: str


def cookie_names(options: AuthOptions) -> CookieNames:
    """The three cookie names for these options."""
    prefix = "__Secure-" if options.secure_cookies else ""
    base = f"{prefix}{options.cookie_prefix}."
    return CookieNames(
        session_token=base + "session_token",
        session_data=base + "session_data",
        dont_remember=base + "dont_remember",
    )


def _signature(value: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), value.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign(value: str, secret: str) -> str:
    """The URL-encoded ``value.signature`` that goes on the wire."""
    return quote(f"{value}.{_signature(value, secret)}", safe="")


def unsign(raw: str, secret: str | Sequence[str]) -> str | None:
    """The value inside a signed cookie, or None when it is unsigned or forged.

    ``raw`` is the cookie value as parsed (already URL-decoded); ``secret`` is
    one secret or several, any of which may have signed it.
    """
    keys = (secret,) if isinstance(secret, str) else tuple(secret)
    cut = raw.rfind(".")
    if cut < 1:
        return None
    value, signature = raw[:cut], raw[cut + 1 :]
    if len(signature) != SIGNATURE_LENGTH or not signature.endswith("="):
        return None
    # Every key is tried, so the time taken does not tell which one matched.
    matched = [hmac.compare_digest(signature, _signature(value, k)) for k in keys]
    return value if any(matched) else None


def parse_cookie_header(header: str) -> dict[str, str]:
    """Cookies of a ``Cookie`` header; the first of duplicate names wins, values
    are trimmed, unquoted and URL-decoded (as the JS server reads them)."""
    found: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name or name in found:
            continue
        value = value.strip()
        if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
            value = value[1:-1]
        found[name] = _try_unquote(value)
    return found


def _try_unquote(value: str) -> str:
    if "%" not in value:
        return value
    try:
        return unquote(value, errors="strict")
    except UnicodeDecodeError:
        return value


def serialize(
    name: str,
    value: str,
    *,
    max_age: int | None,
    secure: bool,
    path: str = "/",
    http_only: bool = True,
    same_site: str = "Lax",
) -> str:
    """One ``Set-Cookie`` value; attribute order as Better Auth's: Max-Age, Domain,
    Path, Expires, HttpOnly, Secure, SameSite."""
    parts = [f"{name}={value}"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    parts.append(f"Path={path}")
    if http_only:
        parts.append("HttpOnly")
    if secure:
        parts.append("Secure")
    parts.append(f"SameSite={same_site}")
    return "; ".join(parts)


def session_cookie(
    token: str, options: AuthOptions, *, remember: bool = True
) -> list[str]:
    """``Set-Cookie`` values that start (or re-send) a session.

    Without ``remember`` the token cookie lasts for the browser session and a
    signed ``dont_remember`` cookie tells later requests not to extend it.
    """
    names = cookie_names(options)
    secure = options.secure_cookies
    max_age = options.expires_in if remember else None
    headers = [
        serialize(
            names.session_token,
            sign(token, options.secret),
            max_age=max_age,
            secure=secure,
        )
    ]
    if not remember:
        headers.append(
            serialize(
                names.dont_remember,
                sign("true", options.secret),
                max_age=None,
                secure=secure,
            )
        )
    return headers


def expire_cookie(name: str, options: AuthOptions) -> str:
    """A ``Set-Cookie`` value that deletes cookie ``name``."""
    return serialize(name, "", max_age=0, secure=options.secure_cookies)


def expired_session_cookies(options: AuthOptions) -> list[str]:
    """The three ``Set-Cookie`` values sign-out sends."""
    names = cookie_names(options)
    return [
        expire_cookie(names.session_token, options),
        expire_cookie(names.session_data, options),
        expire_cookie(names.dont_remember, options),
    ]


def read_signed(
    cookies: dict[str, str], name: str, secret: str | Sequence[str]
) -> str | None:
    """The verified value of signed cookie ``name`` (signed with ``secret`` or
    any of several), or None."""
    raw = cookies.get(name)
    if not raw:
        return None
    return unsign(raw, secret)
