"""list-sessions, revoke-session(s), revoke-other-sessions, list-accounts."""

from __future__ import annotations

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from tests.auth.support import client_for, set_cookies, sign_in, sign_up, unique_email

UNAUTHORIZED = {"message": "Unauthorized", "code": "UNAUTHORIZED"}


async def _tokens(pool: AsyncConnectionPool, user_id: str) -> set[str]:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            'SELECT token FROM better_auth.session WHERE "userId" = %s', (user_id,)
        )
        return {row[0] for row in await cursor.fetchall()}


async def _two_sessions(client: httpx.AsyncClient) -> tuple[str, str, str]:
    """(user id, first token, current token) after sign-up and a sign-in."""
    email = unique_email()
    first = (await sign_up(client, email)).json()
    current = (await sign_in(client, email)).json()["token"]
    return first["user"]["id"], first["token"], current


async def test_list_sessions_returns_all_live_sessions(
    client: httpx.AsyncClient,
) -> None:
    _, first, current = await _two_sessions(client)
    response = await client.get("/api/auth/list-sessions")
    assert response.status_code == 200
    assert {s["token"] for s in response.json()} == {first, current}


async def test_list_sessions_needs_a_fresh_session(
    client: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    token = (await sign_up(client, unique_email())).json()["token"]
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE better_auth.session SET \"createdAt\" = now() - interval '2 days'"
            " WHERE token = %s",
            (token,),
        )
    response = await client.get("/api/auth/list-sessions")
    assert (response.status_code, response.json()["code"]) == (403, "SESSION_NOT_FRESH")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/auth/list-sessions"),
        ("POST", "/api/auth/revoke-sessions"),
        ("POST", "/api/auth/revoke-other-sessions"),
        ("GET", "/api/auth/list-accounts"),
    ],
)
async def test_protected_endpoints_need_a_session(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path, json={} if method == "POST" else None)
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


async def test_revoke_session_deletes_only_own_tokens(
    client: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    user_id, first, current = await _two_sessions(client)
    async with client_for(pool) as other:
        stranger = (await sign_up(other, unique_email())).json()
    response = await client.post("/api/auth/revoke-session", json={"token": first})
    foreign = await client.post(
        "/api/auth/revoke-session", json={"token": stranger["token"]}
    )
    assert response.json() == foreign.json() == {"status": True}
    assert await _tokens(pool, user_id) == {current}
    assert await _tokens(pool, stranger["user"]["id"]) == {stranger["token"]}
    assert set_cookies(response) == []


async def test_revoke_session_without_token_is_validation_error(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client, unique_email())
    response = await client.post("/api/auth/revoke-session", json={})
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


async def test_revoke_other_sessions_keeps_the_current_one(
    client: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    user_id, _, current = await _two_sessions(client)
    response = await client.post("/api/auth/revoke-other-sessions", json={})
    assert response.json() == {"status": True}
    assert await _tokens(pool, user_id) == {current}


async def test_revoke_sessions_ends_everything(
    client: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    user_id, _, _ = await _two_sessions(client)
    response = await client.post("/api/auth/revoke-sessions", json={})
    assert response.json() == {"status": True}
    assert len(set_cookies(response)) == 3
    assert await _tokens(pool, user_id) == set()


async def test_list_accounts_hides_the_password(client: httpx.AsyncClient) -> None:
    user = (await sign_up(client, unique_email())).json()["user"]
    response = await client.get("/api/auth/list-accounts")
    (account,) = response.json()
    assert list(account) == [
        "accountId", "providerId", "userId", "createdAt", "updatedAt", "id", "scopes"
    ]  # fmt: skip
    assert (account["accountId"], account["providerId"]) == (user["id"], "credential")
    assert account["scopes"] == []
