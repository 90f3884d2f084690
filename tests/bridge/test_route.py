"""GET /api/insforge-token: 401 without a live session, a token with one."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest
from psycopg_pool import AsyncConnectionPool

from rowgate.auth import cookies
from rowgate.auth.options import CookieCacheOptions, CookieCacheStrategy
from tests.auth.support import (
    JWT_SECRET,
    SECRET,
    client_for,
    make_options,
    sign_up,
    unique_email,
)
from tests.conftest import url_for


async def test_no_session_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/insforge-token")
    assert (response.status_code, response.json()) == (401, {"error": "not signed in"})
    assert response.headers["cache-control"] == "no-store"


async def test_session_gets_a_token_for_its_user(client: httpx.AsyncClient) -> None:
    user = (await sign_up(client, unique_email())).json()["user"]
    before = int(time.time())
    response = await client.get("/api/insforge-token")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert list(response.json()) == ["token"]
    claims = jwt.decode(
        response.json()["token"],
        JWT_SECRET,
        algorithms=["HS256"],
        audience="insforge-api",
    )
    assert set(claims) == {"sub", "role", "aud", "iat", "exp"}
    assert claims["sub"] == user["id"]
    assert claims["role"] == "authenticated"
    assert before <= claims["iat"] <= before + 5
    assert claims["exp"] == claims["iat"] + 3600


async def test_signed_out_session_gets_401(client: httpx.AsyncClient) -> None:
    await sign_up(client, unique_email())
    cookie = client.cookies["better-auth.session_token"]
    await client.post("/api/auth/sign-out", json={})
    client.cookies.set("better-auth.session_token", cookie)
    response = await client.get("/api/insforge-token")
    assert response.status_code == 401


async def test_expired_session_gets_401_and_is_deleted(
    client: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    token = (await sign_up(client, unique_email())).json()["token"]
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE better_auth.session SET \"expiresAt\" = now() - interval '1 second'"
            " WHERE token = %s",
            (token,),
        )
    assert (await client.get("/api/insforge-token")).status_code == 401
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT count(*) FROM better_auth.session WHERE token = %s", (token,)
        )
        assert await cursor.fetchone() == (0,)


async def test_forged_cookie_gets_401(client: httpx.AsyncClient) -> None:
    token = (await sign_up(client, unique_email())).json()["token"]
    client.cookies.clear()
    client.cookies.set("better-auth.session_token", f"{token}.{'B' * 43}=")
    assert (await client.get("/api/insforge-token")).status_code == 401


@pytest.mark.parametrize("strategy", ["compact", "jwt", "jwe"])
async def test_a_cached_copy_never_outlives_sign_out_for_tokens(
    pool: AsyncConnectionPool, strategy: CookieCacheStrategy
) -> None:
    # get-session may answer from the cookie cache's copy for its max_age; the
    # bridge must not, or an old cookie pair would mint hour-long tokens.
    cache = CookieCacheOptions(enabled=True, strategy=strategy)
    async with client_for(pool, make_options(cookie_cache=cache)) as client:
        await sign_up(client, unique_email())
        saved = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        before = await client.get("/api/insforge-token")
        await client.post("/api/auth/sign-out", json={})
        client.cookies.clear()
        replayed = await client.get("/api/insforge-token", headers={"Cookie": saved})

    assert before.status_code == 200
    assert (replayed.status_code, replayed.json()) == (401, {"error": "not signed in"})


async def test_an_unreachable_database_is_a_quick_503(database_url: str) -> None:
    # A pool whose server refuses every connection: no session can be checked.
    closed = AsyncConnectionPool(
        url_for(database_url, port="1"), min_size=0, max_size=1, open=False, timeout=1
    )
    await closed.open()
    try:
        async with client_for(closed, make_options()) as client:
            signed = cookies.sign("a-session-token", SECRET)
            client.cookies.set("better-auth.session_token", signed)
            response = await client.get("/api/insforge-token")
    finally:
        await closed.close()

    assert (response.status_code, response.json()) == (
        503,
        {"error": "database unavailable"},
    )
    assert response.headers["retry-after"] == "1"
