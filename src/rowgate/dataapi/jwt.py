"""Who a request runs as: the bearer token checked, the role chosen, no I/O.

Only HS256 with the project secret is accepted. The role comes from the ``role``
claim and must be in the configured allow-list (a token without one is anonymous);
anything else is refused here, before a connection is even taken. Messages follow
PostgREST 12.2, which answers every token problem with PGRST301.

A client sends the same token with every request until it expires, so tokens that
verified are remembered (``TokenCache``): a repeat skips the signature and the
decoding, never the time checks.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rowgate.dataapi.config import DataApiConfig
from rowgate.dataapi.errors import AuthError

TIME_CLAIMS = ("exp", "nbf", "iat")


@dataclass(frozen=True)
class Identity:
    """The database role a request switches to and the claims it carries."""

    role: str
    claims: dict[str, Any]

    @functools.cached_property
    def claims_json(self) -> str:
        # Compact and unescaped so that claims round-trip into Postgres exactly.
        return json.dumps(self.claims, ensure_ascii=False, separators=(",", ":"))


class TokenCache:
    """Identities of tokens that verified, by the token's exact text.

    The same text carries the same signature, so a hit is as good as verifying
    again under the same secret (a cache belongs to one ``DataApiConfig``). Only
    successes are kept, at most ``capacity`` of them; the oldest goes first.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._identities: dict[str, Identity] = {}

    def get(self, token: str) -> Identity | None:
        return self._identities.get(token)

    def put(self, token: str, identity: Identity) -> None:
        if len(self._identities) >= self.capacity:
            del self._identities[next(iter(self._identities))]
        self._identities[token] = identity

    def discard(self, token: str) -> None:
        self._identities.pop(token, None)

    def __len__(self) -> int:
        return len(self._identities)


def anonymous(config: DataApiConfig) -> Identity:
    return Identity(config.anon_role, {"role": config.anon_role})


def authenticate(
    authorization: Sequence[str],
    config: DataApiConfig,
    now: float,
    tokens: TokenCache | None = None,
) -> Identity:
    """The identity for a request's ``Authorization`` header values."""
    if not authorization:
        return anonymous(config)
    if len(authorization) > 1:
        raise AuthError("PGRST301", "More than one Authorization header was sent")

    scheme, _, token = authorization[0].strip().partition(" ")
    if scheme.lower() != "bearer":
        raise AuthError("PGRST301", "Only Bearer authorization is supported")
    token = token.strip()
    if not token:
        raise AuthError("PGRST301", "Empty JWT is sent in Authorization header")

    if config.anon_key is not None and hmac.compare_digest(
        token.encode(), config.anon_key.encode()
    ):
        return anonymous(config)
    if token.startswith("anon_"):
        if config.anon_key_check is not None and config.anon_key_check(token):
            return anonymous(config)
        # Not a JWT at all: say what it looks like rather than "Expected 3 parts".
        raise AuthError("PGRST301", "Invalid or retired anon key")
    if tokens is not None and (known := tokens.get(token)) is not None:
        try:
            check_times(known.claims, now, config.clock_skew)
        except AuthError:
            tokens.discard(token)
            raise
        return known
    claims = verify(token, config, now)
    identity = Identity(claim_role(claims, config), claims)
    if tokens is not None:
        tokens.put(token, identity)
    return identity


def verify(token: str, config: DataApiConfig, now: float) -> dict[str, Any]:
    """The claims of ``token`` once its signature, times and audience check out."""
    parts = token.split(".")
    if len(parts) != 3:
        raise AuthError("PGRST301", f"Expected 3 parts in JWT; got {len(parts)}")

    header = _json_segment(parts[0])
    _check_header(header)
    expected = hmac.new(
        config.jwt_secret.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256
    ).digest()
    if not hmac.compare_digest(expected, _b64(parts[2])):
        raise AuthError("PGRST301", "JWT cryptographic operation failed")

    claims = _json_segment(parts[1], what="claims")
    check_times(claims, now, config.clock_skew)
    if config.jwt_aud is not None:
        check_audience(claims, config.jwt_aud)
    return claims


def claim_role(claims: dict[str, Any], config: DataApiConfig) -> str:
    """The allowed role a verified token asks for; anonymous when it names none."""
    role = claims.get("role", config.anon_role)
    if not isinstance(role, str):
        raise AuthError("PGRST301", "The JWT 'role' claim must be a string")
    if role not in config.allowed_roles:
        raise AuthError(
            "PGRST301",
            "The JWT 'role' claim names a role the data API does not allow",
            details=json.dumps(role, ensure_ascii=False),
        )
    return role


def check_times(claims: dict[str, Any], now: float, skew: int) -> None:
    """Refuse expired, not-yet-valid and future-issued tokens, give or take ``skew``."""
    for name in TIME_CLAIMS:
        value = claims.get(name)
        if name in claims and not _is_number(value):
            raise AuthError("PGRST301", f"The JWT '{name}' claim must be a number")
    if "exp" in claims and now - skew > claims["exp"]:
        raise AuthError("PGRST301", "JWT expired")
    if "nbf" in claims and now + skew < claims["nbf"]:
        raise AuthError("PGRST301", "JWT not yet valid")
    if "iat" in claims and now + skew < claims["iat"]:
        raise AuthError("PGRST301", "JWT issued at future")


def check_audience(claims: dict[str, Any], audience: str) -> None:
    """A configured audience must be the ``aud`` string or one of its list."""
    aud = claims.get("aud")
    if isinstance(aud, str):
        accepted = aud == audience
    elif isinstance(aud, list) and all(isinstance(item, str) for item in aud):
        accepted = audience in aud
    else:
        raise AuthError(
            "PGRST301",
            "The JWT 'aud' claim must be a string or an array of strings",
        )
    if not accepted:
        raise AuthError("PGRST301", "JWT not in audience")


def _check_header(header: dict[str, Any]) -> None:
    alg = header.get("alg")
    if alg == "none":
        raise AuthError(
            "PGRST301",
            "Wrong or unsupported encoding algorithm",
            details="JWT is unsecured but expected 'alg' was not 'none'",
        )
    if alg != "HS256":
        raise AuthError("PGRST301", "Wrong or unsupported encoding algorithm")
    # RFC 7515: a critical extension we do not understand makes the token invalid.
    if "crit" in header or header.get("typ", "JWT") not in ("JWT", "jwt"):
        raise AuthError("PGRST301", "Unsupported token type")


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)


def _b64(segment: str) -> bytes:
    try:
        return base64.b64decode(
            segment + "=" * (-len(segment) % 4), altchars=b"-_", validate=True
        )
    except (binascii.Error, ValueError):
        raise AuthError("PGRST301", "JWT cryptographic operation failed") from None


def _json_segment(segment: str, what: str = "header") -> dict[str, Any]:
    try:
        value = json.loads(_b64(segment), parse_constant=_refuse_constant)
        # A lone surrogate escape (\ud800) parses, but no UTF-8 text, and so no
        # Postgres setting, can hold it.
        json.dumps(value, ensure_ascii=False).encode()
    except (UnicodeError, ValueError):
        value = None
    if not isinstance(value, dict):
        message = (
            "Parsing claims failed"
            if what == "claims"
            else ("JWT cryptographic operation failed")
        )
        raise AuthError("PGRST301", message)
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
