"""The auth core's exceptions and its one table of Better Auth error codes.

The tree::

    RowgateError
    └── AuthError                 anything the auth core raises on purpose
        ├── AuthConfigError       bad options, found when Auth is built
        ├── AuthSchemaError       the database is not ready for the auth tables
        ├── EmailTakenError       the user_email_key constraint refused an insert
        └── APIError              a request error that becomes a JSON response

Every code an endpoint may answer with is in ``ERROR_CODES``, with the status
and message Better Auth 1.x sends for it, so the JS client sees the same
``{"message", "code"}`` bodies. Codes and messages are part of the wire
contract: change neither, and never give a retired code a new meaning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rowgate.errors import RowgateError


class AuthError(RowgateError):
    """Base class of the auth core's errors."""


class AuthConfigError(AuthError):
    """The auth options are unusable; raised at start-up, never per request."""


class AuthSchemaError(AuthError):
    """The database lacks what the auth tables need (e.g. their schema)."""


class EmailTakenError(AuthError):
    """Another user already holds the email (a lost sign-up race)."""


@dataclass(frozen=True)
class ErrorCode:
    status: int
    message: str


ERROR_CODES: dict[str, ErrorCode] = {
    "ACCOUNT_NOT_FOUND": ErrorCode(400, "Account not found"),
    "BAD_REQUEST": ErrorCode(400, "Invalid JSON in request body"),
    "CHANGE_EMAIL_DISABLED": ErrorCode(400, "Change email is disabled"),
    "CREDENTIAL_ACCOUNT_NOT_FOUND": ErrorCode(400, "Credential account not found"),
    "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED": ErrorCode(
        403,
        "Cross-site navigation login blocked. This request appears to be a CSRF "
        "attack.",
    ),
    # rowgate's own: Postgres cannot be reached (a restart, a failover).
    "DATABASE_UNAVAILABLE": ErrorCode(
        503, "The database is unavailable. Please try again."
    ),
    "EMAIL_ALREADY_VERIFIED": ErrorCode(400, "Email is already verified"),
    "EMAIL_CAN_NOT_BE_UPDATED": ErrorCode(400, "Email can not be updated"),
    "EMAIL_MISMATCH": ErrorCode(400, "Email mismatch"),
    "EMAIL_NOT_VERIFIED": ErrorCode(403, "Email not verified"),
    "FAILED_TO_CREATE_SESSION": ErrorCode(400, "Failed to create session"),
    "FAILED_TO_CREATE_USER": ErrorCode(422, "Failed to create user"),
    "FAILED_TO_DELETE_USER": ErrorCode(400, "Failed to delete user"),
    "FAILED_TO_GET_SESSION": ErrorCode(401, "Failed to get session"),
    "FAILED_TO_GET_USER_INFO": ErrorCode(404, "Failed to get user info"),
    "FAILED_TO_UNLINK_LAST_ACCOUNT": ErrorCode(
        400, "You can't unlink your last account"
    ),
    "FAILED_TO_UPDATE_USER": ErrorCode(400, "Failed to update user"),
    "INVALID_CALLBACK_URL": ErrorCode(403, "Invalid callbackURL"),
    "INVALID_EMAIL": ErrorCode(400, "Invalid email"),
    "INVALID_EMAIL_OR_PASSWORD": ErrorCode(401, "Invalid email or password"),
    "INVALID_ORIGIN": ErrorCode(403, "Invalid origin"),
    "INVALID_PASSWORD": ErrorCode(400, "Invalid password"),
    "INVALID_REDIRECT_URL": ErrorCode(403, "Invalid redirectURL"),
    "INVALID_TOKEN": ErrorCode(400, "Invalid token"),
    "INVALID_USER": ErrorCode(400, "Invalid user"),
    "METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED": ErrorCode(
        405, "POST method requires deferSessionRefresh to be enabled in session config"
    ),
    "MISSING_OR_NULL_ORIGIN": ErrorCode(403, "Missing or null Origin"),
    "NOT_FOUND": ErrorCode(404, "Not found"),
    "PAYLOAD_TOO_LARGE": ErrorCode(413, "Request body is too large"),
    "PASSWORD_TOO_LONG": ErrorCode(400, "Password too long"),
    "PASSWORD_TOO_SHORT": ErrorCode(400, "Password too short"),
    # rowgate's own: the rate-limit store (Redis, Postgres) cannot be reached, so
    # no request can be counted; Better Auth has no code for it.
    "RATE_LIMIT_UNAVAILABLE": ErrorCode(
        503, "Rate limiting is unavailable. Please try again later."
    ),
    "RESET_PASSWORD_DISABLED": ErrorCode(400, "Reset password isn't enabled"),
    "SESSION_EXPIRED": ErrorCode(
        400, "Session expired. Re-authenticate to perform this action."
    ),
    "SESSION_NOT_FRESH": ErrorCode(403, "Session is not fresh"),
    "TOKEN_EXPIRED": ErrorCode(401, "Token expired"),
    "UNAUTHORIZED": ErrorCode(401, "Unauthorized"),
    "UNSUPPORTED_MEDIA_TYPE": ErrorCode(415, "Unsupported media type"),
    "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL": ErrorCode(
        422, "User already exists. Use another email."
    ),
    "USER_ALREADY_EXISTS": ErrorCode(422, "User already exists."),
    "USER_NOT_FOUND": ErrorCode(400, "User not found"),
    "VALIDATION_ERROR": ErrorCode(400, "Validation Error"),
    "VERIFICATION_EMAIL_NOT_ENABLED": ErrorCode(
        400, "Verification email isn't enabled"
    ),
}


class APIError(AuthError):
    """A request the endpoint refuses; rendered as ``{"message", "code"}``.

    ``message`` and ``status`` default to the table's; a few Better Auth
    answers carry their own message (validation details, media types) or no
    code at all (``code=None``).
    """

    def __init__(
        self,
        code: str | None,
        *,
        message: str | None = None,
        status: int | None = None,
    ) -> None:
        known = ERROR_CODES.get(code or "")
        if known is not None:
            message = known.message if message is None else message
            status = known.status if status is None else status
        if message is None or status is None:
            raise ValueError(f"unknown auth error code {code!r} needs both fields")
        self.code = code
        self.message = message
        self.status = status
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        """The JSON body Better Auth sends for this error."""
        if self.code is None:
            return {"message": self.message}
        return {"message": self.message, "code": self.code}
