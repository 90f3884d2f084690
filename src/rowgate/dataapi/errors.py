"""Every error the data API answers with, and the one table of their HTTP statuses.

The bodies are PostgREST's ``{code, message, details, hint}``. Codes are PostgREST's
PGRST codes (12.2 wording, newer codes only where 12.2 has none) or the SQLSTATE
Postgres raised, whose status is chosen by SQLSTATE class as PostgREST does::

    RowgateError
    ├── DataApiConfigError       misconfiguration, raised at start-up only
    └── ApiError                 any request that ends in an error response
        ├── RequestError         PGRST1xx: the request cannot be understood
        ├── SchemaCacheError     PGRST2xx: it names something the cache lacks
        ├── AuthError            PGRST3xx: token or role refused (WWW-Authenticate)
        ├── UnavailableError     PGRST000-003: Postgres cannot be reached
        └── DatabaseError        Postgres raised a SQLSTATE
"""

from __future__ import annotations

import json
from typing import Any

from rowgate.errors import RowgateError

PGRST_STATUS: dict[str, int] = {
    "PGRST000": 503,
    "PGRST001": 503,
    "PGRST002": 503,
    "PGRST003": 504,
    "PGRST100": 400,
    "PGRST101": 405,
    "PGRST102": 400,
    "PGRST103": 416,
    "PGRST105": 405,
    "PGRST106": 406,
    "PGRST107": 406,
    "PGRST108": 400,
    "PGRST109": 400,
    "PGRST111": 500,
    "PGRST112": 500,
    "PGRST114": 400,
    "PGRST115": 400,
    "PGRST116": 406,
    "PGRST117": 405,
    "PGRST118": 400,
    "PGRST119": 400,
    "PGRST120": 400,
    "PGRST122": 400,
    "PGRST123": 400,
    "PGRST124": 400,
    "PGRST125": 404,
    "PGRST126": 404,
    "PGRST127": 400,
    "PGRST128": 400,
    "PGRST200": 400,
    "PGRST201": 300,
    "PGRST202": 404,
    "PGRST203": 300,
    "PGRST204": 400,
    "PGRST205": 404,
    "PGRST300": 500,
    "PGRST301": 401,
    "PGRST302": 401,
    "PGRSTX00": 500,
}

# SQLSTATEs whose status is not decided by their class alone.
_SQLSTATE_STATUS: dict[str, int] = {
    "23503": 409,
    "23505": 409,
    "25006": 405,
    "42883": 404,
    "42P01": 404,
    "42P17": 500,
    "53400": 500,
    "57P01": 503,
    "P0001": 400,
}
_CLASS_STATUS: dict[str, int] = {
    "08": 503,
    "09": 500,
    "0L": 403,
    "0P": 403,
    "25": 500,
    "28": 403,
    "2D": 500,
    "38": 500,
    "39": 500,
    "3B": 500,
    "40": 500,
    "53": 503,
    "54": 500,
    "55": 500,
    "57": 500,
    "58": 500,
    "F0": 500,
    "HV": 500,
    "P0": 500,
    "XX": 500,
}


class DataApiConfigError(RowgateError):
    """The data API's settings cannot be served; raised before any request."""


class ApiError(RowgateError):
    """A request that ends in a PostgREST-shaped error response."""

    def __init__(
        self,
        code: str,
        message: str,
        details: Any = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.hint = hint

    @property
    def status(self) -> int:
        return PGRST_STATUS.get(self.code, 500)

    def headers(self) -> list[tuple[str, str]]:
        """Extra response headers this error demands."""
        return []

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "details": self.details,
            "hint": self.hint,
            "message": self.message,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


class RequestError(ApiError):
    """The request's path, parameters, headers or body cannot be understood."""


class SchemaCacheError(ApiError):
    """The request names a table, column, relation or function the cache lacks."""


class AuthError(ApiError):
    """The credentials were refused; no statement was sent to Postgres."""

    def headers(self) -> list[tuple[str, str]]:
        # RFC 6750 quoted-string: a quote or backslash in the text would end it early.
        text = self.message.replace("\\", "").replace('"', "'")
        value = f'Bearer error="invalid_token", error_description="{text}"'
        return [("WWW-Authenticate", value)]


class UnavailableError(ApiError):
    """Postgres could not be reached, or no connection was free in time."""


class DatabaseError(ApiError):
    """Postgres refused the statement; ``code`` is its SQLSTATE."""

    def __init__(
        self,
        code: str,
        message: str,
        details: str | None = None,
        hint: str | None = None,
        *,
        anonymous: bool,
    ) -> None:
        super().__init__(code, message, details, hint)
        self.anonymous = anonymous

    @property
    def status(self) -> int:
        return sqlstate_status(self.code, self.message, anonymous=self.anonymous)

    def headers(self) -> list[tuple[str, str]]:
        return [("WWW-Authenticate", "Bearer")] if self.status == 401 else []


def sqlstate_status(sqlstate: str, message: str, *, anonymous: bool) -> int:
    """The HTTP status PostgREST answers a SQLSTATE with.

    Only two cases look at the message, both as PostgREST documents them: 21000
    from pg-safeupdate and 22023 for a role that does not exist.
    """
    if sqlstate == "42501":
        return 401 if anonymous else 403
    if sqlstate == "21000":
        return 400 if message.endswith("requires a WHERE clause") else 500
    if sqlstate == "22023":
        missing_role = message.startswith('role "') and message.endswith("not exist")
        return 401 if missing_role else 400
    if sqlstate.startswith("PT"):
        # PTnnn raises pick their status; anything else after PT is a server error.
        code = sqlstate[2:]
        return int(code) if code.isdigit() and 100 <= int(code) <= 599 else 500
    if sqlstate in _SQLSTATE_STATUS:
        return _SQLSTATE_STATUS[sqlstate]
    return _CLASS_STATUS.get(sqlstate[:2], 400)


def nul_in_text(*, anonymous: bool = False) -> DatabaseError:
    """What Postgres answers text holding a NUL character, which psycopg refuses
    to send: ``22021``, a 400."""
    return DatabaseError(
        "22021",
        'invalid byte sequence for encoding "UTF8": 0x00',
        anonymous=anonymous,
    )


def error_json(error: ApiError) -> bytes:
    """The response body for ``error``."""
    return json.dumps(error.body(), ensure_ascii=False).encode()
