"""The auth core as a plain ASGI app, mounted by the user's app at ``/api/auth``.

Per request: match the path (relative to the mount) and method, read the body
as the endpoint allows (JSON, or also form-encoded on sign-in and sign-up;
other media types 415, broken JSON 400), refuse cookie-bearing requests from
untrusted origins and untrusted callback URLs, run the handler, and render its
reply as JSON with its cookies (plus the ``session_data`` copy when the
cookie cache is on). Before any of that, a request over its rate limit (when
rate limits are on) gets a 429. Unknown paths and methods get Better Auth's
bare 404. A request that loses its database connection gets a 503
(``DATABASE_UNAVAILABLE``) and the pool checks its other connections.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote

import psycopg
from psycopg_pool import AsyncConnectionPool
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from rowgate.auth import endpoints, origin, ratelimit, routes, sessions
from rowgate.auth.cookie_cache import CookieCache
from rowgate.auth.errors import APIError
from rowgate.auth.options import AuthOptions
from rowgate.auth.store import SessionWithUser, Store
from rowgate.auth.validation import MISSING
from rowgate.db.pools import PoolRecovery, connection_lost

logger = logging.getLogger("rowgate.auth")

MAX_BODY_BYTES = 1024 * 1024
_URL_SAFE = "/:?#[]@!$&'()*+,;=%-._~ "


class Auth:
    """The Better Auth-compatible endpoints over one connection pool.

    The pool's lifecycle belongs to the caller (open it in the app's lifespan).
    ``rate_limit_store`` replaces the store ``options.rate_limit.storage``
    names; ``aclose`` releases the rate-limit store's connections.
    """

    def __init__(
        self,
        options: AuthOptions,
        pool: AsyncConnectionPool,
        *,
        rate_limit_store: ratelimit.RateLimitStore | None = None,
    ) -> None:
        self.options = options
        self.store = Store(pool)
        self._recovery = PoolRecovery(pool)
        self._proxies = ratelimit.proxy_networks(options.trusted_proxies)
        self.rate_limiter = (
            ratelimit.RateLimiter(
                options.rate_limit,
                rate_limit_store or ratelimit.build_store(options, pool),
            )
            if options.rate_limit.enabled
            else None
        )
        self.cookie_cache = (
            CookieCache(options, self.store) if options.cookie_cache.enabled else None
        )
        self._context = routes.AuthContext(
            options=options,
            store=self.store,
            trusted=origin.TrustedOrigins.of(options.origin, options.trusted_origins),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await self._respond(request)
        await response(scope, receive, send)

    async def aclose(self) -> None:
        """Close the rate-limit store's connections (Redis), if any."""
        if self.rate_limiter is not None:
            await self.rate_limiter.store.aclose()

    def client_ip(self, request: Request) -> str | None:
        """The client's address: the peer's, or the forwarded one when the
        peer is a trusted proxy."""
        peer = request.client.host if request.client else None
        forwarded = ratelimit.forwarded_header(
            request.headers, self.options.ip_address_header
        )
        return ratelimit.client_ip(peer, forwarded, self._proxies)

    async def get_session(
        self, request: HTTPConnection, *, disable_cookie_cache: bool = False
    ) -> SessionWithUser | None:
        """The live session (and user) the request's cookie names, or None.

        The cookie's signature and the session row are both checked; an expired
        row is deleted. The session is not refreshed. With the cookie cache on,
        a fresh ``session_data`` copy answers without a database read unless
        ``disable_cookie_cache`` asks for the row.
        """
        if self.cookie_cache is not None and not disable_cookie_cache:
            cached = self.cookie_cache.read(request.headers.get("cookie"))
            if cached is not None:
                return cached.to_session_with_user()
        state = sessions.read_cookie_session(
            request.headers.get("cookie"), self.options
        )
        if not state.token:
            return None
        return await sessions.find_valid_session(self.store, state.token)

    async def _respond(self, request: Request) -> Response:
        path = _route_path(request.scope)
        matched = endpoints.match(request.method, path)
        if matched is None:
            return Response(status_code=404)
        endpoint, params = matched
        ip = self.client_ip(request)
        try:
            limited = await self._rate_limited(ip, path)
            reply = limited or await self._run(endpoint, request, path, ip, params)
        except APIError as error:
            reply = routes.Reply(error.body(), status=error.status)
        except psycopg.DataError as exc:
            # Input Postgres cannot store (a NUL character, a number out of
            # range) is the client's error, and says nothing about the data.
            logger.info(
                "auth endpoint %s %s refused input: %s", request.method, path, exc
            )
            invalid = APIError(
                "VALIDATION_ERROR",
                message="Invalid input: text cannot contain NUL characters"
                if "NUL" in str(exc)
                else "Invalid input",
            )
            reply = routes.Reply(invalid.body(), status=invalid.status)
        except Exception as exc:
            if not connection_lost(exc):
                logger.exception("auth endpoint %s %s failed", request.method, path)
                return Response(status_code=500)
            logger.warning(
                "auth endpoint %s %s lost the database: %s", request.method, path, exc
            )
            self._recovery.connection_lost()
            unavailable = APIError("DATABASE_UNAVAILABLE")
            reply = routes.Reply(
                unavailable.body(),
                status=unavailable.status,
                headers=[("retry-after", "1")],
            )
        return _render(reply)

    async def _rate_limited(self, ip: str | None, path: str) -> routes.Reply | None:
        """Better Auth's 429 (no ``code``) when the request is over its limit; a
        503 when the limit cannot be checked."""
        if self.rate_limiter is None:
            return None
        try:
            decision = await self.rate_limiter.check(ip, path)
        except APIError as unavailable:
            return routes.Reply(
                unavailable.body(),
                status=unavailable.status,
                headers=[("retry-after", str(ratelimit.STORE_RETRY_SECONDS))],
            )
        if decision.allowed:
            return None
        return routes.Reply(
            {"message": ratelimit.TOO_MANY_REQUESTS},
            status=429,
            headers=[(ratelimit.RETRY_AFTER_HEADER, str(decision.retry_after))],
        )

    async def _run(
        self,
        endpoint: routes.Endpoint,
        request: Request,
        path: str,
        ip: str | None,
        params: Mapping[str, str],
    ) -> routes.Reply:
        body = await _read_body(request, endpoint.media_types)
        query = dict(request.query_params)
        origin.check_cookie_request(
            request.method, request.headers, self._context.trusted
        )
        if request.method not in origin.SAFE_METHODS:
            origin.check_callback_urls(body, query, self._context.trusted)
        auth_request = routes.AuthRequest(
            method=request.method,
            path=path,
            headers=request.headers,
            query=query,
            body=body,
            client_host=ip,
            params=params,
        )
        if self.cookie_cache is None:
            return await endpoint.handler(self._context, auth_request)
        cached = self._cached_session(auth_request)
        if cached is not None:
            return cached
        reply = await endpoint.handler(self._context, auth_request)
        await self.cookie_cache.write(reply, path, request.headers.get("cookie"))
        return reply

    def _cached_session(self, request: routes.AuthRequest) -> routes.Reply | None:
        """get-session's answer from a valid ``session_data`` copy, unless
        ``disableCookieCache`` asks for the database."""
        if self.cookie_cache is None or (request.method, request.path) != (
            "GET",
            "/get-session",
        ):
            return None
        if request.query.get("disableCookieCache"):
            return None
        cached = self.cookie_cache.read(request.headers.get("cookie"))
        if cached is None:
            return None
        return routes.Reply(
            {"session": cached.session, "user": cached.user},
            headers=[("cache-control", "no-store"), ("pragma", "no-cache")],
        )


def _route_path(scope: Scope) -> str:
    """The path below the mount point (Starlette keeps the full path and puts
    the mount prefix in ``root_path``)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :]
    return path


async def _read_body(request: Request, allowed: tuple[str, ...]) -> Any:
    raw = await _read_limited(request)
    if not raw:
        return MISSING
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in allowed:
        raise _unsupported(content_type, allowed)
    if media == routes.FORM:
        return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError):
        raise APIError("BAD_REQUEST") from None


def _reject_constant(name: str) -> Any:
    # JSON.parse refuses NaN and Infinity; so does the auth core.
    raise ValueError(name)


async def _read_limited(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise APIError("PAYLOAD_TOO_LARGE")
        chunks.append(chunk)
    return b"".join(chunks)


def _unsupported(content_type: str, allowed: tuple[str, ...]) -> APIError:
    listed = ", ".join(allowed)
    if not content_type:
        message = f"Content-Type is required. Allowed types: {listed}"
    else:
        message = (
            f'Content-Type "{content_type}" is not allowed. Allowed types: {listed}'
        )
    return APIError("UNSUPPORTED_MEDIA_TYPE", message=message)


def _render(reply: routes.Reply) -> Response:
    media_type = "application/json"
    if isinstance(reply.body, routes.Html):
        content = reply.body.text
        media_type = "text/html; charset=utf-8"
    elif reply.body is MISSING:
        content = ""  # redirects and bare refusals go out with an empty body
    else:
        content = json.dumps(reply.body, ensure_ascii=False, separators=(",", ":"))
    response = Response(
        content=content.encode("utf-8"), status_code=reply.status, media_type=media_type
    )
    _add_headers(response, reply.headers)
    for cookie in reply.cookies:
        response.raw_headers.append((b"set-cookie", cookie.encode("latin-1")))
    return response


def _add_headers(response: Response, headers: list[tuple[str, str]]) -> None:
    for name, value in headers:
        # Header values are latin-1 on the wire; a Unicode callback URL in a
        # Location header goes percent-encoded, as a browser would send it.
        response.headers[name] = quote(value, safe=_URL_SAFE)
