"""Counts, ranges, singular objects, CSV, embedding, functions and the root."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.routing import Mount

from rowgate.dataapi.app import DataApi
from tests.dataapi.conftest import BASE, CONFIG, bearer, client_with, new_user

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


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/items", "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"),
        ("/keyless", "OPTIONS,GET,HEAD,POST,PATCH,DELETE"),
        ("/rpc/touch", "OPTIONS,POST"),
        ("/rpc/add_them", "OPTIONS,GET,HEAD,POST"),
        ("/", "OPTIONS,GET,HEAD"),
    ],
)
async def test_options(client: httpx.AsyncClient, path: str, allow: str) -> None:
    response = await client.options(path)

    assert (response.status_code, response.headers["allow"]) == (200, allow)
    assert response.content == b""


async def test_options_on_unknown_table(client: httpx.AsyncClient) -> None:
    response = await client.options("/nope")

    assert (response.status_code, response.json()["code"]) == (404, "PGRST205")


async def test_root_operations_and_notes(client: httpx.AsyncClient) -> None:
    document = (await client.get("/", headers={"Accept": "application/json"})).json()
    paths = document["paths"]
    notes = document["definitions"]["notes"]

    assert set(paths["/notes"]) == {"get", "post", "put", "patch", "delete"}
    assert set(paths["/keyless"]) == {"get", "post", "patch", "delete"}
    assert set(paths["/rpc/touch"]) == {"post"}
    assert set(paths["/rpc/add_them"]) == {"get", "post"}
    add_them = paths["/rpc/add_them"]["post"]["parameters"][0]["schema"]
    assert add_them["required"] == ["a", "b"]
    assert add_them["properties"]["a"] == {"type": "integer", "format": "integer"}
    assert notes["properties"]["category_id"]["description"] == (
        "Note:\nThis is a Foreign Key to `categories.id`."
        "<fk table='categories' column='id'/>"
    )
    assert notes["properties"]["id"]["description"] == (
        "Note:\nThis is a Primary Key.<pk/>"
    )
    assert notes["required"] == ["title"]
    for operation in paths["/notes"].values():
        for parameter in operation["parameters"]:
            name = parameter["$ref"].removeprefix("#/parameters/")
            assert name in document["parameters"]
    assert document["parameters"]["rowFilter.notes.score"]["format"] == "integer"


async def test_root_refuses_other_media(client: httpx.AsyncClient) -> None:
    response = await client.get("/", headers={"Accept": "text/csv"})

    assert (response.status_code, response.json()["code"]) == (406, "PGRST107")


# (Prefer, JSON body, status, response body or error code)
SINGLE_OBJECT = [
    ("params=single-object", {"a": 1, "b": [2]}, 200, {"a": 1, "b": [2]}),
    (None, {"doc": {"a": 1}}, 200, {"a": 1}),
    (None, {"a": 1}, 404, "PGRST202"),
]


@pytest.mark.parametrize(("prefer", "body", "status", "expected"), SINGLE_OBJECT)
async def test_single_object_parameter(
    client: httpx.AsyncClient,
    prefer: str | None,
    body: Any,
    status: int,
    expected: Any,
) -> None:
    headers = {"Prefer": prefer} if prefer else {}

    response = await client.post("/rpc/echo_json", json=body, headers=headers)

    assert response.status_code == status
    if status == 200:
        assert response.json() == expected
    else:
        assert response.json()["code"] == expected


async def test_single_object_needs_one_json_parameter(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/rpc/add_them",
        json={"a": 1, "b": 2},
        headers={"Prefer": "params=single-object"},
    )

    assert (response.status_code, response.json()["code"]) == (404, "PGRST202")


# (response.status, response.headers, HTTP status, header checked, error code)
RESPONSE_SETTINGS = [
    ("201", '[{"X-One": "1"}, {"X-Two": "2"}]', 201, ("x-two", "2"), None),
    ("", '[{"Content-Type": "text/plain"}]', 200, ("content-type", "text/plain"), None),
    ("", "[]", 200, ("content-type", "application/json; charset=utf-8"), None),
    ("abc", "[]", 500, None, "PGRST112"),
    ("99", "[]", 500, None, "PGRST112"),
    ("", '{"X-One": "1"}', 500, None, "PGRST111"),
    ("", '[{"X-One": 1}]', 500, None, "PGRST111"),
    ("", '[{"X-One": "1", "X-Two": "2"}]', 500, None, "PGRST111"),
    ("", "not json", 500, None, "PGRST111"),
]


@pytest.mark.parametrize(
    ("status", "headers", "code", "header", "error"), RESPONSE_SETTINGS
)
async def test_response_settings(
    client: httpx.AsyncClient,
    status: str,
    headers: str,
    code: int,
    header: tuple[str, str] | None,
    error: str | None,
) -> None:
    response = await client.post(
        "/rpc/respond_with", json={"status": status, "headers": headers}
    )

    assert response.status_code == code
    if header is not None:
        assert response.headers[header[0]] == header[1]
    if error is not None:
        assert response.json()["code"] == error


async def test_empty_csv_result(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/items?select=id&id=gt.100", headers={"Accept": "text/csv"}
    )

    assert (response.status_code, response.text) == (200, "\n")


ORANGE = {"id": 3, "kind": "vegetable", "attrs": {"color": "orange"}}
# (Accept, response body, Content-Type)
STRIPPED = [
    (
        "application/vnd.pgrst.array+json;nulls=stripped",
        [ORANGE, {"id": 4}],
        "application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8",
    ),
    (
        "application/vnd.pgrst.array+json; nulls=stripped, */*;q=0.5",
        [ORANGE, {"id": 4}],
        "application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8",
    ),
    (
        "application/vnd.pgrst.array+json",
        [ORANGE, {"id": 4, "kind": None, "attrs": None}],
        "application/json; charset=utf-8",
    ),
]


@pytest.mark.parametrize(("accept", "body", "content_type"), STRIPPED)
async def test_nulls_stripped(
    client: httpx.AsyncClient, accept: str, body: Any, content_type: str
) -> None:
    response = await client.get(
        "/items?select=id,kind,attrs&id=in.(3,4)&order=id", headers={"Accept": accept}
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == content_type
    assert response.json() == body


async def test_nulls_stripped_singular(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/items?select=id,kind,price&id=eq.4",
        headers={"Accept": "application/vnd.pgrst.object+json;nulls=stripped"},
    )
    many = await client.get(
        "/items?select=id",
        headers={"Accept": "application/vnd.pgrst.object+json;nulls=stripped"},
    )

    assert response.json() == {"id": 4}
    assert (many.status_code, many.json()["code"]) == (406, "PGRST116")


# (method, path, JSON body, status, result)
ARRAY_ARGUMENTS: list[tuple[str, str, Any, int, Any]] = [
    ("GET", "/rpc/sum_all?vals=1&vals=2&vals=3", None, 200, 6),
    ("GET", "/rpc/sum_all?vals={4,5}", None, 200, 9),
    ("POST", "/rpc/sum_all", {"vals": [1, 2, 3, 4]}, 200, 10),
    ("GET", "/rpc/count_tags?tags=a&tags=b,c", None, 200, 2),
    ("GET", "/rpc/count_tags?tags={a,b,c}", None, 200, 3),
    ("POST", "/rpc/count_tags", {"tags": ["x"]}, 200, 1),
    ("GET", "/rpc/sum_all?vals=1&vals=x", None, 400, "22P02"),
    ("POST", "/rpc/sum_all", "vals=1&vals=2&vals=30", 200, 33),
    ("POST", "/rpc/count_tags", "tags=a+b&tags=c", 200, 2),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "result"), ARRAY_ARGUMENTS
)
async def test_array_and_variadic_arguments(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    body: Any,
    status: int,
    result: Any,
) -> None:
    if isinstance(body, str):
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        response = await client.request(method, path, content=body, headers=form)
    else:
        response = await client.request(method, path, json=body)

    assert response.status_code == status, response.text
    if status == 200:
        assert response.json() == result
    else:
        assert response.json()["code"] == result


def planner_rows(owner: psycopg.Connection[Any], where: str) -> int:
    """What Postgres itself estimates for ``items`` rows matching ``where``."""
    query = sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM items WHERE {}").format(
        sql.SQL(where)
    )
    row = owner.execute(query).fetchone()
    assert row is not None
    return int(row[0][0]["Plan"]["Plan Rows"])


# (query, Prefer count, max_rows, SQL of the same filter)
ESTIMATES = [
    ("name=like.*a*", "planned", None, "name LIKE '%a%'"),
    ("id=gt.0", "planned", None, "id > 0"),
    ("name=like.*a*", "estimated", 2, "name LIKE '%a%'"),
    ("name=like.*a*", "estimated", None, None),
    ("id=eq.1", "estimated", 2, None),
]


@pytest.mark.parametrize(("query", "count", "max_rows", "where"), ESTIMATES)
async def test_planned_and_estimated_counts(
    pool: AsyncConnectionPool[Any],
    owner: psycopg.Connection[Any],
    query: str,
    count: str,
    max_rows: int | None,
    where: str | None,
) -> None:
    owner.execute("ANALYZE items")
    config = replace(CONFIG, max_rows=max_rows)

    async with client_with(pool, config) as http:
        response = await http.get(
            f"/items?select=id&{query}", headers={"Prefer": f"count={count}"}
        )
        counted = await http.get(
            f"/items?select=id&{query}", headers={"Prefer": "count=exact"}
        )

    total = int(response.headers["content-range"].rpartition("/")[2])
    page = len(response.json())
    if where is None:
        # Within max_rows (or without one) an estimated count is the exact one.
        assert total == int(counted.headers["content-range"].rpartition("/")[2])
    elif count == "planned":
        assert total == planner_rows(owner, where)
    else:
        assert total == max(page, planner_rows(owner, where))
    assert response.headers["preference-applied"] == f"count={count}"
