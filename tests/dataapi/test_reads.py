"""Counts, ranges, singular objects, CSV, embedding, functions and the root."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.routing import Mount

from rowgate.dataapi.app import DataApi
from tests.dataapi.conftest import BASE, CONFIG, bearer, new_user

EXACT = {"Prefer": "count=exact"}
OBJECT = {"Accept": "application/vnd.pgrst.object+json"}


@pytest.mark.parametrize(
    ("query", "headers", "status", "content_range"),
    [
        ("order=id", {}, 200, "0-4/*"),
        ("order=id", EXACT, 200, "0-4/5"),
        ("order=id&limit=2", EXACT, 206, "0-1/5"),
        ("order=id&limit=2&offset=3", EXACT, 206, "3-4/5"),
        ("order=id&offset=5", EXACT, 206, "*/5"),
        ("id=gt.100", EXACT, 200, "*/0"),
        ("id=gt.100", {}, 200, "*/*"),
        ("order=id", {"Range": "1-2"}, 200, "1-2/*"),
        ("order=id&limit=1", {"Range": "1-2"}, 200, "1-1/*"),
    ],
)
async def test_content_range(
    client: httpx.AsyncClient,
    query: str,
    headers: dict[str, str],
    status: int,
    content_range: str,
) -> None:
    response = await client.get(f"/items?select=id&{query}", headers=headers)

    assert response.status_code == status
    assert response.headers["content-range"] == content_range


async def test_range_errors(client: httpx.AsyncClient) -> None:
    past_end = await client.get("/items?offset=9", headers=EXACT)
    inverted = await client.get("/items", headers={"Range": "3-1"})

    assert (past_end.status_code, past_end.json()["code"]) == (416, "PGRST103")
    assert (
        past_end.json()["details"]
        == "An offset of 9 was requested, but there are only 5 rows."
    )
    assert (inverted.status_code, inverted.json()["code"]) == (416, "PGRST103")


async def test_head_counts_without_body(client: httpx.AsyncClient) -> None:
    response = await client.head("/items?select=*", headers=EXACT)

    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-range"] == "0-4/5"


async def test_singular_object(client: httpx.AsyncClient) -> None:
    one = await client.get("/items?select=id,name&id=eq.1", headers=OBJECT)
    none = await client.get("/items?id=eq.100", headers=OBJECT)
    many = await client.get("/items?id=lt.3", headers=OBJECT)

    assert one.json() == {"id": 1, "name": "apple"}
    assert (
        one.headers["content-type"]
        == "application/vnd.pgrst.object+json; charset=utf-8"
    )
    assert (none.status_code, none.json()["code"]) == (406, "PGRST116")
    assert none.json()["details"] == "The result contains 0 rows"
    assert many.json()["details"] == "The result contains 2 rows"


async def test_csv(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/items?select=id,name&id=in.(1,4,5)&order=id", headers={"Accept": "text/csv"}
    )

    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.text == 'id,name\n1,apple\n4,"dill, fresh"\n5,"egg ""large"""'


async def test_embedding(client: httpx.AsyncClient) -> None:
    user = new_user()
    headers = {**bearer(user), "Prefer": "return=representation"}
    note = (
        await client.post(
            "/notes", json={"title": "n", "category_id": 1}, headers=headers
        )
    ).json()[0]
    await client.post("/notes", json={"title": "bare"}, headers=headers)
    for body in ("first", "second"):
        await client.post(
            "/comments", json={"note_id": note["id"], "body": body}, headers=headers
        )

    embedded = await client.get(
        "/notes?select=title,category:categories(name),comments(body)"
        "&comments.order=body.desc&comments.limit=1&order=id",
        headers=bearer(user),
    )
    inner = await client.get(
        "/notes?select=title,comments!inner(id)", headers=bearer(user)
    )
    spread = await client.get(
        "/notes?select=title,...categories(category:name)&title=eq.n",
        headers=bearer(user),
    )
    reverse = await client.get(
        "/categories?select=name,notes(title)&order=id", headers=bearer(user)
    )

    assert embedded.json() == [
        {"title": "n", "category": {"name": "work"}, "comments": [{"body": "second"}]},
        {"title": "bare", "category": None, "comments": []},
    ]
    assert [row["title"] for row in inner.json()] == ["n"]
    assert spread.json() == [{"title": "n", "category": "work"}]
    assert reverse.json()[0] == {"name": "work", "notes": [{"title": "n"}]}
    assert reverse.json()[1] == {"name": "home", "notes": []}


async def test_rpc(client: httpx.AsyncClient) -> None:
    post = await client.post("/rpc/add_them", json={"a": 1, "b": 2})
    get = await client.get("/rpc/add_them?a=40&b=2")
    on_records = await client.get("/rpc/add_them?a=1&b=1".replace("/rpc", "/rpc"))
    rows = await client.get(
        "/rpc/items_of_kind?kind=fruit&select=name&name=like.b*", headers=EXACT
    )
    void = await client.post("/rpc/touch", json={})
    missing = await client.post("/rpc/add_them", json={"a": 1})
    wrong_method = await client.delete("/rpc/add_them")

    assert (post.status_code, post.json()) == (200, 3)
    assert get.json() == 42
    assert on_records.json() == 2
    assert rows.json() == [{"name": "banana"}]
    assert rows.headers["content-range"] == "0-0/1"
    assert void.status_code == 204
    assert (missing.status_code, missing.json()["code"]) == (404, "PGRST202")
    assert (wrong_method.status_code, wrong_method.json()["code"]) == (405, "PGRST101")


async def test_rpc_paths(api: DataApi) -> None:
    app = Starlette(routes=[Mount("/api/database", app=api)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        direct = await http.post("/api/database/rpc/add_them", json={"a": 2, "b": 2})
        nested = await http.post(
            "/api/database/records/rpc/add_them", json={"a": 3, "b": 3}
        )

    assert (direct.json(), nested.json()) == (4, 6)


async def test_response_settings_and_custom_status(client: httpx.AsyncClient) -> None:
    teapot = await client.get("/rpc/teapot")
    payment = await client.get("/rpc/payment_required")

    assert teapot.status_code == 418
    assert teapot.headers["x-brew"] == "tea"
    assert payment.status_code == 402
    assert payment.json() == {
        "code": "PT402",
        "message": "pay up",
        "details": "quota",
        "hint": "upgrade",
    }


async def test_root_describes_exposed_tables(client: httpx.AsyncClient) -> None:
    response = await client.get("/")

    document = response.json()
    assert document["swagger"] == "2.0"
    assert "/items" in document["paths"]
    assert "/rpc/add_them" in document["paths"]
    assert "secrets" not in document["definitions"]


async def test_schema_reload_on_notify(
    pool: AsyncConnectionPool[Any], authenticator_url: str, dataapi_database: str
) -> None:
    listening = DataApi(CONFIG, pool, listen_conninfo=authenticator_url)
    await listening.startup()
    app = Starlette(routes=[Mount("/api/database", app=listening)])
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            await asyncio.sleep(0.3)
            before = await http.get("/late_table")
            with psycopg.connect(dataapi_database, autocommit=True) as owner:
                owner.execute("CREATE TABLE public.late_table (id int)")
                owner.execute("NOTIFY pgrst, 'reload schema'")
            after = before
            for _ in range(50):
                after = await http.get("/late_table")
                if after.status_code == 200:
                    break
                await asyncio.sleep(0.05)
    finally:
        await listening.shutdown()

    assert before.status_code == 404
    assert (after.status_code, after.json()) == (200, [])
