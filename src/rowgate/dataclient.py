"""A small async client for the backend's data API, for server-side code.

It is the Python twin of the browser helper ``rowgate-data.js``: every call goes to
``<base_url>/api/database/records/<table>`` with PostgREST query parameters and a
bearer token that comes from a ``token_provider`` (typically one that mints a
bridge token for the current user). The token is cached until a few minutes before
the ``exp`` in its payload, fetched once however many calls wait for it, dropped
when the data API answers 401, and each call is retried once with a fresh token.
Failures raise ``DataApiError`` carrying the status and PostgREST's
``{code, message, details, hint}`` body.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal, overload
from urllib.parse import quote

import httpx

from rowgate.errors import RowgateError

logger = logging.getLogger("rowgate.dataclient")

TokenProvider = Callable[[], Awaitable[str | None]]
Row = dict[str, Any]
Params = Mapping[str, str]
NewRows = Mapping[str, Any] | Sequence[Mapping[str, Any]]

RECORDS_PATH = "/api/database/records/"
# Refresh this long before the token's exp, so a call never leaves with a token
# that expires on the way.
REFRESH_MARGIN_SECONDS = 300.0
# A token whose payload names no exp is reused for this long at most.
UNKNOWN_EXPIRY_SECONDS = 60.0


class DataApiError(RowgateError):
    """The data API refused a call, or could not be reached (``status`` None).

    ``body`` is the PostgREST error object when the answer had one; ``code``,
    ``message``, ``details`` and ``hint`` are read from it.
    """

    def __init__(self, status: int | None, body: Mapping[str, Any]) -> None:
        self.status = status
        self.body = dict(body)
        self.code: str | None = _text_or_none(body.get("code"))
        self.message: str = _text_or_none(body.get("message")) or _fallback(status)
        self.details: str | None = _text_or_none(body.get("details"))
        self.hint: str | None = _text_or_none(body.get("hint"))
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"DataApiError(status={self.status!r}, code={self.code!r})"


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _fallback(status: int | None) -> str:
    if status is None:
        return "the data API could not be reached"
    return f"the data API answered {status}"


def token_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT, read without checking the signature.

    The client only uses it to decide when to ask for a new token; the data API
    is what verifies it. None when the token is not a JWT or has no numeric exp.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    segment = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        payload = json.loads(base64.urlsafe_b64decode(segment))
    except (binascii.Error, ValueError):
        return None
    exp = payload.get("exp") if isinstance(payload, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    return float(exp)


class DataClient:
    """Calls the data API as whoever ``token_provider`` speaks for.

    ``anon_key`` is sent when the provider has no token (signed out); without it
    such calls go out with no ``Authorization`` header and the API treats them as
    anon. Pass ``client`` to share an ``httpx.AsyncClient`` (it is then not closed
    here); ``clock`` exists for tests.
    """

    def __init__(
        self,
        base_url: str,
        token_provider: TokenProvider,
        *,
        anon_key: str | None = None,
        client: httpx.AsyncClient | None = None,
        refresh_margin: float = REFRESH_MARGIN_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._records_url = base_url.rstrip("/") + RECORDS_PATH
        self._token_provider = token_provider
        self._anon_key = anon_key
        self._http = client or httpx.AsyncClient(timeout=30)
        self._owns_http = client is None
        self._refresh_margin = refresh_margin
        self._clock = clock
        self._token: str | None = None
        self._refresh_at = 0.0
        self._token_lock = asyncio.Lock()

    async def __aenter__(self) -> DataClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def select(self, table: str, params: Params | None = None) -> list[Row]:
        """``GET`` rows; ``params`` are PostgREST's (``select``, ``order``, filters)."""
        return await self._rows("GET", table, dict(params or {}))

    @overload
    async def insert(
        self, table: str, rows: NewRows, *, returning: Literal[True] = True
    ) -> list[Row]: ...

    @overload
    async def insert(
        self, table: str, rows: NewRows, *, returning: Literal[False]
    ) -> None: ...

    async def insert(
        self, table: str, rows: NewRows, *, returning: bool = True
    ) -> list[Row] | None:
        """``POST`` one row or several; the stored rows when ``returning``."""
        body = dict(rows) if isinstance(rows, Mapping) else [dict(r) for r in rows]
        if not returning:
            await self._call("POST", table, {}, body, prefer="return=minimal")
            return None
        return await self._rows("POST", table, {}, body)

    async def update(
        self, table: str, filters: Params, values: Mapping[str, Any]
    ) -> list[Row]:
        """``PATCH`` the rows matching ``filters`` (e.g. ``{"id": "eq.5"}``)."""
        return await self._rows("PATCH", table, _required(filters), dict(values))

    async def delete(self, table: str, filters: Params) -> list[Row]:
        """``DELETE`` the rows matching ``filters``; the deleted rows come back."""
        return await self._rows("DELETE", table, _required(filters))

    def clear_token(self) -> None:
        """Forget the cached token; the next call asks the provider again."""
        self._token = None
        self._refresh_at = 0.0

    async def token(self) -> str | None:
        """The cached token, or a fresh one when it is missing or due for refresh."""
        if self._token is not None and self._clock() < self._refresh_at:
            return self._token
        async with self._token_lock:
            # Whoever held the lock before may have fetched one already.
            if self._token is not None and self._clock() < self._refresh_at:
                return self._token
            return await self._fetch_token()

    async def _fetch_token(self) -> str | None:
        token = await self._token_provider()
        if not token:
            self.clear_token()
            return None

        now = self._clock()
        exp = token_expiry(token)
        if exp is None:
            self._refresh_at = now + UNKNOWN_EXPIRY_SECONDS
        else:
            margin = min(self._refresh_margin, max(exp - now, 0.0) / 2)
            self._refresh_at = exp - margin
        self._token = token
        logger.debug("new data API token; refresh due in %.0fs", self._refresh_at - now)
        return token

    async def _rows(
        self, method: str, table: str, params: dict[str, str], body: Any = None
    ) -> list[Row]:
        prefer = None if method == "GET" else "return=representation"
        payload = await self._call(method, table, params, body, prefer=prefer)
        if payload is None:
            return []
        if not isinstance(payload, list):
            raise DataApiError(200, {"message": "the data API did not return rows"})
        return payload

    async def _call(
        self,
        method: str,
        table: str,
        params: dict[str, str],
        body: Any,
        *,
        prefer: str | None,
    ) -> Any:
        token = await self.token()
        response = await self._send(method, table, params, body, prefer, token)
        if response.status_code == 401 and token is not None:
            logger.info("data API refused the token (401); retrying with a new one")
            if self._token == token:
                self.clear_token()
            token = await self.token()
            response = await self._send(method, table, params, body, prefer, token)
            if response.status_code == 401 and self._token == token:
                self.clear_token()
        return _payload(response)

    async def _send(
        self,
        method: str,
        table: str,
        params: dict[str, str],
        body: Any,
        prefer: str | None,
        token: str | None,
    ) -> httpx.Response:
        headers = {"Accept": "application/json"}
        bearer = token or self._anon_key
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        if prefer:
            headers["Prefer"] = prefer
        url = self._records_url + quote(table, safe="")

        try:
            return await self._http.request(
                method, url, params=params, json=body, headers=headers
            )
        except httpx.TransportError as exc:
            raise DataApiError(None, {"message": f"{_fallback(None)}: {exc}"}) from exc


def _required(filters: Params) -> dict[str, str]:
    # PostgREST would apply an unfiltered PATCH or DELETE to every visible row;
    # in a helper that is almost always a bug, so it is refused here.
    if not filters:
        raise ValueError("update and delete need at least one filter")
    return dict(filters)


def _payload(response: httpx.Response) -> Any:
    content = response.content
    try:
        parsed = json.loads(content) if content.strip() else None
    except ValueError:
        parsed = None

    if response.is_success:
        return parsed
    body = parsed if isinstance(parsed, dict) else {}
    raise DataApiError(response.status_code, body)
