"""The bridge token: a short-lived HS256 JWT the data API accepts for a user.

The claim set is fixed and minimal — ``sub`` (user id), ``role``
(``authenticated``), ``aud`` (``insforge-api``), ``iat`` and ``exp`` — so
nothing about the user (no email) travels to the data API.
"""

from __future__ import annotations

import time

import jwt

from rowgate.errors import RowgateError

ROLE = "authenticated"
AUDIENCE = "insforge-api"
DEFAULT_LIFETIME = 3600


class BridgeConfigError(RowgateError):
    """The bridge cannot sign with what it was given."""


def mint_token(
    user_id: str,
    secret: str,
    *,
    now: int | None = None,
    lifetime: int = DEFAULT_LIFETIME,
) -> str:
    """An HS256 JWT for ``user_id``, valid from ``now`` (default: the current
    time) for ``lifetime`` seconds; header ``{"alg": "HS256", "typ": "JWT"}``."""
    if not secret:
        raise BridgeConfigError("the bridge needs a JWT secret to sign with")
    if lifetime <= 0:
        raise BridgeConfigError("token lifetime must be positive")
    issued = int(time.time()) if now is None else now
    claims = {
        "sub": user_id,
        "role": ROLE,
        "aud": AUDIENCE,
        "iat": issued,
        "exp": issued + lifetime,
    }
    return jwt.encode(claims, secret, algorithm="HS256", headers={"typ": "JWT"})
