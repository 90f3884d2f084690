"""One transaction per request: settings are local and never reach the next one."""

from __future__ import annotations

import json
from typing import Any

import httpx
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.routing import Mount

from rowgate.dataapi.app import DataApi
from tests.dataapi.conftest import BASE, CONFIG, bearer, new_user


async def test_request_settings(client: httpx.AsyncClient) -> None:
    user = new_user()

    response = await client.get(
        "/rpc/request_settings",
        headers={**bearer(user), "Cookie": "theme=dark; sid=abc", "X-Custom": "Yes"},
    )

    settings = response.json()
    headers = json.loads(settings["headers"])
    assert settings["method"] == "GET"
    assert settings["path"] == "/rpc/request_settings"
    assert headers["x-custom"] == "Yes"
    assert "cookie" not in headers
    assert json.loads(settings["cookies"]) == {"theme": "dark", "sid": "abc"}


async def test_anonymous_claims(client: httpx.AsyncClient) -> None:
    response = await client.get("/rpc/request_settings")

    settings = response.json()
    assert json.loads(settings["claims"]) == {"role": "anon"}
    assert settings["role"] == "anon"
    assert settings["user_id"] is None


async def test_no_leak_between_requests(
    client: httpx.AsyncClient, api: DataApi, pool: AsyncConnectionPool[Any]
) -> None:
    assert pool.max_size == 2
    alice, bob = new_user(), new_user()
    for user in (alice, bob):
        await client.post("/notes", json={"title": user}, headers=bearer(user))

    for _ in range(150):
        seen_a = await client.get("/notes?select=title", headers=bearer(alice))
        seen_b = await client.get("/notes?select=title", headers=bearer(bob))
        anon = await client.get("/rpc/request_settings")
        assert seen_a.json() == [{"title": alice}]
        assert seen_b.json() == [{"title": bob}]
        assert anon.json()["user_id"] is None

    for _ in range(2):
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT current_setting('request.jwt.claims', true), "
                "public.requesting_user_id(), current_user"
            )
            row = await cur.fetchone()
            assert row is not None
            assert row[0] in (None, "")
            assert row[1] is None
            assert row[2] == "authenticator"
            await conn.rollback()


async def test_failed_request_leaves_no_state(
    client: httpx.AsyncClient, pool: AsyncConnectionPool[Any]
) -> None:
    await client.get("/items?id=eq.not-a-number", headers=bearer(new_user()))

    async with pool.connection() as conn:
        cur = await conn.execute("SELECT current_user, current_setting('role')")
        assert await cur.fetchone() == ("authenticator", "none")
        await conn.rollback()


class BrokenPool:
    """A pool with a fault of the API's own kind: not a database error."""

    def connection(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug, not a database failure")


async def test_an_internal_fault_still_answers_json(api: DataApi, caplog: Any) -> None:
    broken = DataApi(CONFIG, BrokenPool())  # type: ignore[arg-type]
    broken.cache = api.cache
    app = Starlette(routes=[Mount("/api/database", app=broken)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        response = await http.get("/items?select=id")

    assert response.status_code == 500
    assert response.json()["code"] == "PGRSTX00"
    assert "a bug" not in response.text  # the cause is logged, not sent
    assert "a bug, not a database failure" in caplog.text
