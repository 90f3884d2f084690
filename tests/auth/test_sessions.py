"""GET /get-session and POST /sign-out: lookup, refresh, expiry, tampering."""

from __future__ import annotations

import httpx
from psycopg_pool import AsyncConnectionPool

from tests.auth.support import (
    ORIGIN,
    client_for,
    set_cookies,
    sign_in,
    sign_up,
    unique_email,
)

SESSION_KEYS = [
    "expiresAt", "token", "createdAt", "updatedAt",
    "ipAddress", "userAgent", "userId", "id",
]  # fmt: skip


async def _age_session(pool: AsyncConnectionPool, token: str, seconds: int) -> None:
    """Pretend the session's expiry was set ``seconds`` ago."""
    async with pool.connection() as conn:
        await conn.execute(
            'UPDATE better_auth.session SET "expiresAt" = "expiresAt" - make_interval('
            "secs => %s) WHERE token = %s",
            (seconds, token),
        )


async def _expires_at(pool: AsyncConnectionPool, token: str) -> object:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            'SELECT "expiresAt" FROM better_auth.session WHERE token = %s', (token,)
        )
        row = await cursor.fetchone()
    return None if row is None else row[0]


async def test_get_session_answers_session_and_user(client: httpx.AsyncClient) -> None:
    signed_up = (await sign_up(client, unique_email())).json()
    response = await client.get("/api/auth/get-session")
    body = response.json()
    assert response.status_code == 200
    assert list(body) == ["session", "user"]
    assert list(body["session"]) == SESSION_KEYS
    assert body["session"]["token"] == signed_up["token"]
    assert body["user"] == signed_up["user"]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    assert set_cookies(response) == []


async def test_no_cookie_is_null(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/auth/get-session")
    assert (response.status_code, response.text) == (200, "null")
    assert response.headers["cache-control"] == "no-store"


async def test_tampered_cookie_is_null(client: httpx.AsyncClient) -> None:
    token = (await sign_up(client, unique_email())).json()["token"]
    forged = f"{token}.{'A' * 43}="
    client.cookies.clear()
    client.cookies.set("better-auth.session_token", forged)
    assert (await client.get("/api/auth/get-session")).json() is None
    client.cookies.set("better-auth.session_token", token)
    assert (await client.get("/api/auth/get-session")).json() is None


async def test_secure_cookie_name_is_ignored_on_http(client: httpx.AsyncClient) -> None:
    await sign_up(client, unique_email())
    value = client.cookies["better-auth.session_token"]
    client.cookies.clear()
    client.cookies.set("__Secure-better-auth.session_token", value)
    assert (await client.get("/api/auth/get-session")).json() is None


async def test_refresh_after_update_age(
    client: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    token = (await sign_up(client, unique_email())).json()["token"]
    await _age_session(pool, token, 86400 + 60)
    before = await _expires_at(pool, token)

    response = await client.get("/api/auth/get-session")

    assert response.json()["session"]["token"] == token
    assert await _expires_at(pool, token) > before  # type: ignore[operator]
    (cookie,) = set_cookies(response)
    assert cookie.startswith(f"better-auth.session_token={token}.")
    assert "Max-Age=604800" in cookie


async def test_no_refresh_before_update_age_or_when_disabled(
    client: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    token = (await sign_up(client, unique_email())).json()["token"]
    await _age_session(pool, token, 3600)
    assert set_cookies(await client.get("/api/auth/get-session")) == []

    await _age_session(pool, token, 86400)
    before = await _expires_at(pool, token)
    response = await client.get("/api/auth/get-session?disableRefresh=true")
    assert response.json()["session"]["token"] == token
    assert set_cookies(response) == []
    assert await _expires_at(pool, token) == before


async def test_dont_remember_sessions_are_not_refreshed(
    client: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    email = unique_email()
    await sign_up(client, email)
    token = (await sign_in(client, email, rememberMe=False)).json()["token"]
    # A one-day session is always past updateAge by the 7-day reckoning, so
    # only the dont_remember cookie keeps it from being extended.
    before = await _expires_at(pool, token)
    response = await client.get("/api/auth/get-session")
    assert response.json()["session"]["token"] == token
    assert set_cookies(response) == []
    assert await _expires_at(pool, token) == before


async def test_expired_session_is_deleted_and_cookies_expired(
    client: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    token = (await sign_up(client, unique_email())).json()["token"]
    await _age_session(pool, token, 604800 + 1)
    response = await client.get("/api/auth/get-session")
    assert response.json() is None
    assert len(set_cookies(response)) == 3
    assert all("Max-Age=0" in c for c in set_cookies(response))
    assert await _expires_at(pool, token) is None


async def test_post_get_session_is_405(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/get-session")
    assert response.status_code == 405
    assert response.json()["code"] == "METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED"


async def test_sign_out_deletes_row_and_expires_cookies(
    client: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    token = (await sign_up(client, unique_email())).json()["token"]
    response = await client.post("/api/auth/sign-out", json={})
    assert (response.status_code, response.json()) == (200, {"success": True})
    names = [c.split("=", 1)[0] for c in set_cookies(response)]
    assert names == [
        "better-auth.session_token",
        "better-auth.session_data",
        "better-auth.dont_remember",
    ]
    assert await _expires_at(pool, token) is None
    assert (await client.get("/api/auth/get-session")).json() is None


async def test_sign_out_without_cookie_is_fine(pool: AsyncConnectionPool) -> None:
    async with client_for(pool) as client:
        response = await client.post("/api/auth/sign-out", json={})
    assert (response.status_code, response.json()) == (200, {"success": True})


async def test_secure_cookies_with_https_base_url(pool: AsyncConnectionPool) -> None:
    from tests.auth.support import make_options

    options = make_options(base_url="https://app.example.com")
    async with client_for(pool, options) as client:
        response = await client.post(
            "/api/auth/sign-up/email",
            json={"name": "S", "email": unique_email(), "password": "password123"},
            headers={"Origin": "https://app.example.com"},
        )
    (cookie,) = set_cookies(response)
    assert cookie.startswith("__Secure-better-auth.session_token=")
    assert "; HttpOnly; Secure; SameSite=Lax" in cookie
    assert ORIGIN != "https://app.example.com"
