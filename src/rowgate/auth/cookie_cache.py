"""The cookie cache: Better Auth's signed ``session_data`` cookie, byte for byte.

With the cache on, every response that starts or re-sends a session also
sends a copy of the session and user, and ``get-session`` answers from that
copy without a database read while it is fresh (``max_age``, 300 s by
default). A session revoked in the database therefore stays visible to
``get-session`` until the copy expires; ``?disableCookieCache=true`` forces
the database, and endpoints that act on a session always read the database.

Two encodings, as Better Auth writes them so that either server reads the
other's cookie:

* ``compact``: ``base64url(JSON.stringify({session: data, expiresAt, signature}))``
  where ``data = {session, user, updatedAt, version: "1"}`` and ``signature``
  is ``base64url(HMAC-SHA256(secret, JSON.stringify({...data, expiresAt})))``;
* ``jwt``: an HS256 JWS (header ``{"alg":"HS256"}``) of ``data`` plus ``iat``
  and ``exp``;
* ``jwe``: ``data`` encrypted, so the browser cannot read it either
  (``rowgate.auth.jwe``, salt ``better-auth-session``).

Both are signed with the current secret and verified against every listed
one. Timestamps are Unix milliseconds except the JWT's ``iat``/``exp``.

A copy whose ``Set-Cookie`` line would pass 4050 bytes (under Safari's limit) is
split, as Better Auth splits it, into ``session_data.0``, ``session_data.1`` ...
each within the limit, and read back by joining them in order; one too large for
100 chunks is not cached. Whatever cookies of the copy the browser holds and the
new copy does not reuse are expired.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import jwt

from rowgate.auth import cookies, jwe, routes, sessions
from rowgate.auth.options import AuthOptions, CookieCacheOptions
from rowgate.auth.store import Session, SessionWithUser, Store, User

logger = logging.getLogger("rowgate.auth")

VERSION = "1"
# Without "remember me" the cookie lasts for the browser session and Better
# Auth dates the compact copy 60 s ahead (the JWT keeps the 300 s default).
DONT_REMEMBER_COMPACT_SECONDS = 60
DONT_REMEMBER_JWT_SECONDS = 300
JWE_SALT = "better-auth-session"
# Better Auth's limits: one Set-Cookie line at most 4050 bytes (Safari drops
# cookies a little over 4093), and at most 100 chunks of a copy.
MAX_COOKIE_SIZE = 4050
MAX_COOKIE_CHUNKS = 100

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_DECIMAL = re.compile("[0-9]+")


@dataclass(frozen=True)
class CachedSession:
    """A verified cookie copy: the session and user as JSON objects."""

    session: dict[str, Any]
    user: dict[str, Any]
    expires_at_ms: int

    def to_session_with_user(self) -> SessionWithUser:
        """The copy as the store's typed rows."""
        s, u = self.session, self.user
        return SessionWithUser(
            session=Session(
                id=s["id"],
                expires_at=_date(s["expiresAt"]),
                token=s["token"],
                created_at=_date(s["createdAt"]),
                updated_at=_date(s["updatedAt"]),
                ip_address=s.get("ipAddress"),
                user_agent=s.get("userAgent"),
                user_id=s["userId"],
            ),
            user=User(
                id=u["id"],
                name=u["name"],
                email=u["email"],
                email_verified=bool(u["emailVerified"]),
                image=u.get("image"),
                created_at=_date(u["createdAt"]),
                updated_at=_date(u["updatedAt"]),
            ),
        )


def _date(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# -- JSON and base64 as JavaScript writes them --------------------------------


def js_json(value: Any) -> str:
    """``JSON.stringify(value)``: no spaces, non-ASCII as is, lone surrogates
    escaped (as well-formed ``JSON.stringify`` does)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _hmac_b64url(secret: str, message: str) -> str:
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return b64url(digest)


# -- encoding ----------------------------------------------------------------


def cache_data(
    session: dict[str, Any], user: dict[str, Any], now_ms: int
) -> dict[str, Any]:
    """The cached object: ``{session, user, updatedAt, version}``."""
    return {"session": session, "user": user, "updatedAt": now_ms, "version": VERSION}


def encode(
    data: dict[str, Any],
    options: CookieCacheOptions,
    secret: str,
    *,
    remember: bool,
    now_ms: int,
) -> str:
    """The ``session_data`` cookie value for ``data``."""
    if options.strategy in ("jwt", "jwe"):
        seconds = options.max_age if remember else DONT_REMEMBER_JWT_SECONDS
        if options.strategy == "jwe":
            return jwe.encrypt(data, secret, JWE_SALT, seconds, now_s=now_ms // 1000)
        return encode_jwt(data, secret, seconds, now_s=now_ms // 1000)
    seconds = options.max_age if remember else DONT_REMEMBER_COMPACT_SECONDS
    return encode_compact(data, secret, now_ms + seconds * 1000)


def encode_compact(data: dict[str, Any], secret: str, expires_at_ms: int) -> str:
    signature = _hmac_b64url(secret, js_json({**data, "expiresAt": expires_at_ms}))
    outer = {"session": data, "expiresAt": expires_at_ms, "signature": signature}
    return b64url(js_json(outer).encode())


def encode_jwt(data: dict[str, Any], secret: str, seconds: int, *, now_s: int) -> str:
    header = b64url(js_json({"alg": "HS256"}).encode())
    claims = {**data, "iat": now_s, "exp": now_s + seconds}
    signing_input = f"{header}.{b64url(js_json(claims).encode())}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256)
    return f"{signing_input}.{b64url(signature.digest())}"


# -- decoding ----------------------------------------------------------------


def decode(
    value: str,
    options: CookieCacheOptions,
    secrets: Sequence[str],
    *,
    now_ms: int,
) -> CachedSession | None:
    """The verified, unexpired copy in a ``session_data`` value, or None."""
    if options.strategy == "jwt":
        return decode_jwt(value, secrets, now_ms=now_ms)
    if options.strategy == "jwe":
        claims = jwe.decrypt(value, secrets, JWE_SALT, now_s=now_ms // 1000)
        if claims is None:
            return None
        return _payload(claims, claims["exp"] * 1000, now_ms)
    return decode_compact(value, secrets, now_ms=now_ms)


def decode_compact(
    value: str, secrets: Sequence[str], *, now_ms: int
) -> CachedSession | None:
    try:
        outer = json.loads(b64url_decode(value).decode("utf-8"))
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        # RecursionError: a forged copy nested deeper than json can read.
        return None
    if not isinstance(outer, dict):
        return None
    data, expires_at, signature = (
        outer.get("session"),
        outer.get("expiresAt"),
        outer.get("signature"),
    )
    if not (isinstance(data, dict) and isinstance(signature, str)):
        return None
    if not isinstance(expires_at, int) or isinstance(expires_at, bool):
        return None
    signed = js_json({**data, "expiresAt": expires_at})
    matched = [hmac.compare_digest(signature, _hmac_b64url(s, signed)) for s in secrets]
    if not any(matched) or expires_at < now_ms:
        return None
    return _payload(data, expires_at, now_ms)


def decode_jwt(
    value: str, secrets: Sequence[str], *, now_ms: int
) -> CachedSession | None:
    for secret in secrets:
        try:
            claims = jwt.decode(
                value,
                secret,
                algorithms=["HS256"],
                # Expiry is checked against ``now_ms`` below, not the clock.
                options={"verify_exp": False, "verify_iat": False},
            )
        except jwt.InvalidTokenError:
            continue
        expires = claims.get("exp")
        if not isinstance(expires, int) or isinstance(expires, bool):
            return None
        if expires * 1000 < now_ms:
            return None
        return _payload(claims, expires * 1000, now_ms)
    return None


def _payload(
    data: dict[str, Any], expires_at_ms: int, now_ms: int
) -> CachedSession | None:
    """The copy, if its shape is a session and a user of the current version
    and the session itself has not expired."""
    session, user = data.get("session"), data.get("user")
    if not (isinstance(session, dict) and isinstance(user, dict)):
        return None
    if data.get("version", VERSION) != VERSION:
        return None
    try:
        copy = CachedSession(session, user, expires_at_ms)
        expires = copy.to_session_with_user().session.expires_at
    except (KeyError, TypeError, ValueError, AttributeError):
        logger.warning("cookie cache copy has an unexpected shape; ignored")
        return None
    if expires.timestamp() * 1000 < now_ms:
        return None
    return copy


# -- the cache on requests and replies ----------------------------------------


def _set_cookie_name_value(header: str) -> tuple[str, str]:
    name, _, rest = header.partition("=")
    return name, rest.split(";", 1)[0]


class CookieCache:
    """Reads the cache for ``get-session`` and writes it onto replies.

    ``store`` is consulted only for replies that start a session (sign-in,
    sign-up, a re-sent cookie), whose bodies do not carry the session row.
    """

    def __init__(self, options: AuthOptions, store: Store) -> None:
        self.options = options
        self.store = store
        self.names = cookies.cookie_names(options)

    def read(self, cookie_header: str | None) -> CachedSession | None:
        """The verified copy in the request's cookies, if it belongs to the
        session its signed token cookie names."""
        if not cookie_header:
            return None
        jar = cookies.parse_cookie_header(cookie_header)
        token = cookies.read_signed(jar, self.names.session_token, self.options.secrets)
        raw = jar.get(self.names.session_data) or _joined_chunks(
            jar, self.names.session_data
        )
        if not token or not raw:
            return None
        copy = decode(
            raw, self.options.cookie_cache, self.options.secrets, now_ms=_now_ms()
        )
        if copy is None or copy.session.get("token") != token:
            return None
        return copy

    async def write(
        self, reply: routes.Reply, path: str, request_cookies: str | None
    ) -> None:
        """Put a fresh copy on ``reply`` when it starts or confirms a session.

        A reply that ends the session (its token cookie expired) keeps the
        expiring ``session_data`` the handler wrote; otherwise the handler's
        own ``session_data`` lines are replaced by the copy.
        """
        sent = dict(_set_cookie_name_value(c) for c in reply.cookies)
        token_cookie = sent.get(self.names.session_token)
        held = _copy_cookies(request_cookies, self.names.session_data)
        if token_cookie == "":
            # Signed out: the handler expired session_data; chunks go too.
            reply.cookies += self._expire(held - {self.names.session_data})
            return
        found = await self._session_of(reply, path, token_cookie)
        reply.cookies = [
            c
            for c in reply.cookies
            if _set_cookie_name_value(c)[0] != self.names.session_data
        ]
        if found is None:
            return
        remember = self._remembered(sent, request_cookies)
        now = _now_ms()
        data = cache_data(found["session"], found["user"], now)
        value = encode(
            data,
            self.options.cookie_cache,
            self.options.secret,
            remember=remember,
            now_ms=now,
        )
        max_age = self.options.cookie_cache.max_age if remember else None
        written = self._chunks(value, max_age)
        if not written:
            # An older copy may hold stale data for this very session.
            logger.warning("session too large for the cookie cache; not cached")
            held.add(self.names.session_data)
        reply.cookies += self._expire(held - {name for name, _ in written})
        reply.cookies += [
            self._serialize(name, part, max_age) for name, part in written
        ]

    def _chunks(self, value: str, max_age: int | None) -> list[tuple[str, str]]:
        """(name, value) of the cookies that carry ``value``; none if too large."""
        name = self.names.session_data
        if len(self._serialize(name, value, max_age)) <= MAX_COOKIE_SIZE:
            return [(name, value)]
        # Sized for the longest chunk name, as Better Auth sizes them.
        overhead = len(self._serialize(f"{name}.{MAX_COOKIE_CHUNKS - 1}", "", max_age))
        size = MAX_COOKIE_SIZE - overhead
        count = -(-len(value) // size) if size > 0 else MAX_COOKIE_CHUNKS + 1
        if count > MAX_COOKIE_CHUNKS:
            return []
        return [
            (f"{name}.{index}", value[index * size : (index + 1) * size])
            for index in range(count)
        ]

    def _serialize(self, name: str, value: str, max_age: int | None) -> str:
        return cookies.serialize(
            name, value, max_age=max_age, secure=self.options.secure_cookies
        )

    def _expire(self, names: set[str]) -> list[str]:
        return [cookies.expire_cookie(name, self.options) for name in sorted(names)]

    async def _session_of(
        self, reply: routes.Reply, path: str, token_cookie: str | None
    ) -> dict[str, Any] | None:
        body = reply.body
        if token_cookie is None:
            # No cookie re-sent: only a get-session answer carries a session.
            if path == "/get-session" and isinstance(body, dict):
                return body if isinstance(body.get("session"), dict) else None
            return None
        token = cookies.unsign(unquote(token_cookie), self.options.secret)
        if token is None:
            return None
        found = await self.store.find_session(token)
        return None if found is None else sessions.session_with_user_json(found)

    def _remembered(self, sent: dict[str, str], request_cookies: str | None) -> bool:
        flag = sent.get(self.names.dont_remember)
        if flag is not None:
            return flag == ""
        state = sessions.read_cookie_session(request_cookies, self.options)
        return not state.dont_remember


def _chunk_index(base: str, name: str) -> int | None:
    """N for a cookie named ``<base>.N`` (N a plain decimal), else None."""
    suffix = name[len(base) + 1 :] if name.startswith(base + ".") else ""
    if not _DECIMAL.fullmatch(suffix) or str(int(suffix)) != suffix:
        return None
    return int(suffix)


def _joined_chunks(jar: dict[str, str], base: str) -> str | None:
    chunks = sorted(
        (index, value)
        for name, value in jar.items()
        if (index := _chunk_index(base, name)) is not None
    )
    return "".join(value for _, value in chunks) or None


def _copy_cookies(header: str | None, base: str) -> set[str]:
    """Names of the copy's cookies (whole or chunked) a request carried."""
    if not header:
        return set()
    return {
        name
        for name in cookies.parse_cookie_header(header)
        if name == base or _chunk_index(base, name) is not None
    }


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
