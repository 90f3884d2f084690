"""The auth core as a plain ASGI app, mounted by the user's app at ``/api/auth``.

Per request: match the path (relative to the mount) and method, read the body
as the endpoint allows (JSON, or also form-encoded on sign-in and sign-up;
other media types 415, broken JSON 400), refuse cookie-bearing requests from
untrusted origins and untrusted callback URLs, run the handler, and render its
reply as JSON with its cookies. Unknown paths and methods get Better Auth's
bare 404.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qsl, quote

from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from rowgate.auth import origin, routes, sessions
from rowgate.auth.errors import APIError
from rowgate.auth.options import AuthOptions
from rowgate.auth.store import SessionWithUser, Store
from rowgate.auth.validation import MISSING

logger = logging.getLogger("rowgate.auth")

MAX_BODY_BYTES = 1024 * 1024
_URL_SAFE = "/:?#[]@!$&'()*+,;=%-._~ "


class Auth:
    """The Better Auth-compatible endpoints over one connection pool.

    The pool's lifecycle belongs to the caller (open it in the app's lifespan).
    """

    def __init__(self, options: AuthOptions, pool: AsyncConnectionPool) -> None:
        self.options = options
        self.store = Store(pool)
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

    async def get_session(self, request: Request) -> SessionWithUser | None:
        """The live session (and user) the request's cookie names, or None.

        The cookie's signature and the session row are both checked; an expired
        row is deleted. The session is not refreshed.
        """
        state = sessions.read_cookie_session(
            request.headers.get("cookie"), self.options
        )
        if not state.token:
            return None
        return await sessions.find_valid_session(self.store, state.token)

    async def _respond(self, request: Request) -> Response:
        path = _route_path(request.scope)
        endpoint = routes.ROUTES.get((request.method, path))
        if endpoint is None:
            return Response(status_code=404)
        try:
            reply = await self._run(endpoint, request, path)
        except APIError as error:
            reply = routes.Reply(error.body(), status=error.status)
        except Exception:
            logger.exception("auth endpoint %s %s failed", request.method, path)
            return Response(status_code=500)
        return _render(reply)

    async def _run(
        self, endpoint: routes.Endpoint, request: Request, path: str
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
            client_host=request.client.host if request.client else None,
        )
        return await endpoint.handler(self._context, auth_request)


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
    content = json.dumps(reply.body, ensure_ascii=False, separators=(",", ":"))
    response = Response(
        content=content.encode("utf-8"),
        status_code=reply.status,
        media_type="application/json",
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
