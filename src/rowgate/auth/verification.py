"""Email-verification tokens and the links built on them, as pure functions.

Better Auth's verification token is stateless: an HS256 JWT signed with the
auth secret (header ``{"alg":"HS256"}``), payload ``email`` (lower-case),
optional ``updateTo`` and ``requestType`` for an email change, ``userId``,
``iat`` and ``exp``. Tokens minted here verify in Better Auth and the other way
round. They are not single-use; they expire.

Links follow Better Auth's shapes: ``<auth url>/verify-email?token=…&callbackURL=…``
and ``<auth url>/reset-password/<token>?callbackURL=…``, the callback
percent-encoded as JavaScript's ``encodeURIComponent`` does it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import jwt

from rowgate.auth.errors import APIError
from rowgate.auth.options import AuthOptions
from rowgate.auth.validation import is_email

# Characters encodeURIComponent leaves alone besides letters and digits.
_URI_COMPONENT_SAFE = "-_.!~*'()"

CHANGE_EMAIL_CONFIRMATION = "change-email-confirmation"
CHANGE_EMAIL_VERIFICATION = "change-email-verification"


@dataclass(frozen=True)
class EmailClaims:
    """What a verification token says."""

    email: str
    user_id: str | None = None
    update_to: str | None = None
    request_type: str | None = None


def encode_uri_component(value: str) -> str:
    return quote(value, safe=_URI_COMPONENT_SAFE)


def create_email_token(
    secret: str, claims: EmailClaims, expires_in: int, *, now: int | None = None
) -> str:
    """A signed token for ``claims``, valid for ``expires_in`` seconds."""
    issued = int(time.time()) if now is None else now
    payload: dict[str, Any] = {"email": claims.email.lower()}
    if claims.update_to is not None:
        payload["updateTo"] = claims.update_to.lower()
    if claims.request_type is not None:
        payload["requestType"] = claims.request_type
    if claims.user_id is not None:
        payload["userId"] = claims.user_id
    payload.update(iat=issued, exp=issued + expires_in)
    return jwt.encode(payload, secret, algorithm="HS256", headers={"typ": None})


def read_email_token(token: str, *secrets: str) -> EmailClaims:
    """The claims of a token signed with any of ``secrets`` (current first, so a
    link mailed before a secret rotation still works); ``APIError``
    ``TOKEN_EXPIRED`` or ``INVALID_TOKEN`` otherwise (status 401, as verify-email
    answers)."""
    for secret in secrets:
        try:
            payload = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                options={"require": ["exp"], "verify_iat": False},
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.ExpiredSignatureError:
            raise APIError("TOKEN_EXPIRED", status=401) from None
        except jwt.InvalidTokenError:
            raise APIError("INVALID_TOKEN", status=401) from None
        return _claims(payload)
    raise APIError("INVALID_TOKEN", status=401)


def _claims(payload: dict[str, Any]) -> EmailClaims:
    email = payload.get("email")
    optional = [payload.get(k) for k in ("userId", "updateTo", "requestType")]
    if not isinstance(email, str) or not is_email(email):
        raise APIError("INVALID_TOKEN", status=401)
    if any(v is not None and not isinstance(v, str) for v in optional):
        raise APIError("INVALID_TOKEN", status=401)
    user_id, update_to, request_type = optional
    return EmailClaims(email, user_id, update_to, request_type)


def verify_email_url(options: AuthOptions, token: str, callback_url: str | None) -> str:
    """The link a verification email carries (callback ``/`` when none)."""
    callback = encode_uri_component(callback_url or "/")
    return f"{options.auth_url}/verify-email?token={token}&callbackURL={callback}"


def reset_password_url(
    options: AuthOptions, token: str, redirect_to: str | None
) -> str:
    """The link a password-reset email carries (empty callback when none)."""
    callback = encode_uri_component(redirect_to) if redirect_to else ""
    return f"{options.auth_url}/reset-password/{token}?callbackURL={callback}"
