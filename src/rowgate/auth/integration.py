"""The current user and session for the app's own handlers, in Starlette and
FastAPI.

``SessionMiddleware`` is plain ASGI: for each HTTP or WebSocket connection it
looks up the session the request's cookie names (signature, row and expiry
checked, as ``Auth.get_session`` does) and puts the result, a
``SessionWithUser`` or None, in the scope's state, where ``session_of``
reads it. The FastAPI dependencies ``require_session``, ``optional_session``
and ``require_user`` reuse that result when the middleware ran and look the
session up themselves when it did not, so either works alone. A required
session that is missing is a 401 (``{"detail": "Unauthorized"}`` in
FastAPI). With the cookie cache on, a revoked session still reads as signed
in until its copy expires; a dependency made with ``disable_cookie_cache``
always reads the session row, for handlers that act on the account. Nothing
here refreshes a session; ``get-session`` does that.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from rowgate.auth.app import Auth
from rowgate.auth.errors import ERROR_CODES
from rowgate.auth.store import SessionWithUser, User

logger = logging.getLogger("rowgate.auth")

STATE_KEY = "rowgate_session"
_UNSET = object()


class SessionMiddleware:
    """Puts the request's session (or None) in ``scope["state"]``."""

    def __init__(self, app: ASGIApp, auth: Auth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            connection = HTTPConnection(scope)
            found = await self.auth.get_session(connection)
            scope.setdefault("state", {})[STATE_KEY] = found
        await self.app(scope, receive, send)


def session_of(connection: HTTPConnection) -> SessionWithUser | None:
    """The session ``SessionMiddleware`` found for this request (None when
    there is none). Raises ``RuntimeError`` when the middleware is not
    installed, since None would then wrongly mean "signed out"."""
    state: dict[str, Any] = connection.scope.get("state", {})
    found = state.get(STATE_KEY, _UNSET)
    if found is _UNSET:
        raise RuntimeError("SessionMiddleware is not installed on this app")
    assert found is None or isinstance(found, SessionWithUser)
    return found


async def _lookup(
    auth: Auth, connection: HTTPConnection, disable_cookie_cache: bool
) -> SessionWithUser | None:
    state: dict[str, Any] = connection.scope.get("state", {})
    found = state.get(STATE_KEY, _UNSET)
    if found is _UNSET or disable_cookie_cache:
        return await auth.get_session(
            connection, disable_cookie_cache=disable_cookie_cache
        )
    assert found is None or isinstance(found, SessionWithUser)
    return found


def _unauthorized() -> HTTPException:
    return HTTPException(status_code=401, detail=ERROR_CODES["UNAUTHORIZED"].message)


def optional_session(
    auth: Auth, *, disable_cookie_cache: bool = False
) -> Callable[[HTTPConnection], Awaitable[SessionWithUser | None]]:
    """A dependency giving the session and user, or None when signed out."""

    async def dependency(connection: HTTPConnection) -> SessionWithUser | None:
        return await _lookup(auth, connection, disable_cookie_cache)

    return dependency


def require_session(
    auth: Auth, *, disable_cookie_cache: bool = False
) -> Callable[[HTTPConnection], Awaitable[SessionWithUser]]:
    """A dependency giving the session and user; 401 when signed out."""

    async def dependency(connection: HTTPConnection) -> SessionWithUser:
        found = await _lookup(auth, connection, disable_cookie_cache)
        if found is None:
            raise _unauthorized()
        return found

    return dependency


def require_user(
    auth: Auth, *, disable_cookie_cache: bool = False
) -> Callable[[HTTPConnection], Awaitable[User]]:
    """A dependency giving the signed-in user; 401 when signed out."""

    async def dependency(connection: HTTPConnection) -> User:
        found = await _lookup(auth, connection, disable_cookie_cache)
        if found is None:
            raise _unauthorized()
        return found.user

    return dependency
