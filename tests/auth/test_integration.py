"""The current user and session in a real FastAPI app and a Starlette app, over
httpx: the dependencies, the middleware, 401 when signed out.

No ``from __future__ import annotations`` here: FastAPI reads the handlers'
annotations, which name dependencies defined inside ``fastapi_app``.
"""

from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from rowgate.auth.app import Auth
from rowgate.auth.integration import (
    SessionMiddleware,
    optional_session,
    require_session,
    require_user,
    session_of,
)
from rowgate.auth.options import CookieCacheOptions
from rowgate.auth.store import SessionWithUser, User
from tests.auth.support import ORIGIN, make_options, sign_up, unique_email


def fastapi_app(auth: Auth, *, middleware: bool) -> FastAPI:
    app = FastAPI(
        middleware=[Middleware(SessionMiddleware, auth=auth)] if middleware else []
    )
    app.mount("/api/auth", auth)
    Session = Annotated[SessionWithUser, Depends(require_session(auth))]
    MaybeSession = Annotated[SessionWithUser | None, Depends(optional_session(auth))]
    CurrentUser = Annotated[User, Depends(require_user(auth))]
    RowChecked = Annotated[
        SessionWithUser, Depends(require_session(auth, disable_cookie_cache=True))
    ]

    @app.get("/me")
    async def me(found: Session) -> dict[str, Any]:
        return {"user": found.user.email, "session": found.session.id}

    @app.get("/whoami")
    async def whoami(found: MaybeSession) -> dict[str, Any]:
        return {"user": found.user.email if found else None}

    @app.get("/account")
    async def account(found: RowChecked) -> dict[str, Any]:
        return {"user": found.user.email}

    @app.get("/name")
    async def name(user: CurrentUser) -> dict[str, Any]:
        return {"name": user.name, "verified": user.email_verified}

    return app


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=ORIGIN,
        headers={"Origin": ORIGIN},
    )


@pytest.mark.parametrize("middleware", [False, True])
async def test_fastapi_handlers_get_the_typed_user_and_session(
    pool: AsyncConnectionPool, middleware: bool
) -> None:
    auth = Auth(make_options(), pool)
    email = unique_email("fastapi")
    async with client(fastapi_app(auth, middleware=middleware)) as http:
        signed_up = await sign_up(http, email)
        me = await http.get("/me")
        whoami = await http.get("/whoami")
        name = await http.get("/name")
        session_id = (await http.get("/api/auth/get-session")).json()["session"]["id"]
    assert signed_up.status_code == 200
    assert me.json() == {"user": email, "session": session_id}
    assert whoami.json() == {"user": email}
    assert name.json() == {"name": "Test User", "verified": False}


@pytest.mark.parametrize("middleware", [False, True])
async def test_signed_out_is_401_or_none(
    pool: AsyncConnectionPool, middleware: bool
) -> None:
    auth = Auth(make_options(), pool)
    async with client(fastapi_app(auth, middleware=middleware)) as http:
        me = await http.get("/me")
        name = await http.get("/name")
        whoami = await http.get("/whoami")
        http.cookies["better-auth.session_token"] = "forged.signature"
        forged = await http.get("/me")
    assert (me.status_code, name.status_code, forged.status_code) == (401, 401, 401)
    assert me.json() == {"detail": "Unauthorized"}
    assert whoami.json() == {"user": None}


async def test_revoked_session_is_signed_out_for_the_dependency(
    pool: AsyncConnectionPool,
) -> None:
    auth = Auth(make_options(), pool)
    async with client(fastapi_app(auth, middleware=False)) as http:
        await sign_up(http, unique_email("revoked"))
        await http.post("/api/auth/revoke-sessions", json={})
        # The cookie is re-added: the row is gone, so the cookie alone is not enough.
        me = await http.get("/me")
    assert me.status_code == 401


@pytest.mark.parametrize("middleware", [False, True])
async def test_with_the_cookie_cache_the_dependency_trusts_the_copy(
    pool: AsyncConnectionPool, middleware: bool
) -> None:
    options = make_options(cookie_cache=CookieCacheOptions(enabled=True))
    auth = Auth(options, pool)
    email = unique_email("cached-dep")
    async with client(fastapi_app(auth, middleware=middleware)) as http:
        token = (await sign_up(http, email)).json()["token"]
        async with pool.connection() as conn:
            await conn.execute(
                'DELETE FROM better_auth."session" WHERE token = %s', (token,)
            )
        me = await http.get("/me")
        account = await http.get("/account")
    assert me.json()["user"] == email
    assert account.status_code == 401


def starlette_app(auth: Auth) -> Starlette:
    async def page(request: Request) -> JSONResponse:
        found = session_of(request)
        return JSONResponse({"user": found.user.email if found else None})

    return Starlette(
        routes=[Route("/page", page), Mount("/api/auth", app=auth)],
        middleware=[Middleware(SessionMiddleware, auth=auth)],
    )


async def test_starlette_middleware_puts_the_session_in_the_request(
    pool: AsyncConnectionPool,
) -> None:
    auth = Auth(make_options(), pool)
    email = unique_email("starlette")
    async with client(starlette_app(auth)) as http:
        before = await http.get("/page")
        await sign_up(http, email)
        after = await http.get("/page")
    assert before.json() == {"user": None}
    assert after.json() == {"user": email}


async def test_session_of_without_the_middleware_is_an_error(
    pool: AsyncConnectionPool,
) -> None:
    async def page(request: Request) -> JSONResponse:
        session_of(request)
        return JSONResponse({})

    app = Starlette(routes=[Route("/page", page)])
    async with client(app) as http:
        with pytest.raises(RuntimeError, match="SessionMiddleware"):
            await http.get("/page")
