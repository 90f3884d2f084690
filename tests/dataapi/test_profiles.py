"""Exposed schemas with Accept-/Content-Profile, and the pre-request function."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from rowgate.dataapi.config import DataApiConfig
from rowgate.dataapi.errors import DataApiConfigError
from tests.dataapi.conftest import CONFIG, bearer, client_with, new_user

TWO_SCHEMAS = replace(CONFIG, schemas=("public", "extra"))


@pytest.fixture
async def two_schemas(
    pool: AsyncConnectionPool[Any],
) -> AsyncIterator[httpx.AsyncClient]:
    async with client_with(pool, TWO_SCHEMAS) as http:
        yield http


# (method, path, profile headers, status, body or error code, Content-Profile)
PROFILES: list[tuple[str, str, dict[str, str], int, Any, str | None]] = [
    ("GET", "/items?select=id&id=eq.1", {}, 200, [{"id": 1}], "public"),
    (
        "GET",
        "/widgets?select=name",
        {"Accept-Profile": "extra"},
        200,
        [{"name": "sprocket"}],
        "extra",
    ),
    ("GET", "/widgets", {}, 404, "PGRST205", None),
    ("GET", "/items", {"Accept-Profile": "extra"}, 404, "PGRST205", None),
    ("GET", "/items", {"Accept-Profile": "better_auth"}, 406, "PGRST106", None),
    ("GET", "/items", {"Accept-Profile": "pg_catalog"}, 406, "PGRST106", None),
    # Reads look at Accept-Profile only, writes at Content-Profile only.
    (
        "GET",
        "/items?select=id&id=eq.1",
        {"Content-Profile": "extra"},
        200,
        [{"id": 1}],
        "public",
    ),
    ("POST", "/widgets", {"Accept-Profile": "extra"}, 404, "PGRST205", None),
    ("POST", "/widgets", {"Content-Profile": "nope"}, 406, "PGRST106", None),
]


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "expected", "profile"), PROFILES
)
async def test_profiles(
    two_schemas: httpx.AsyncClient,
    method: str,
    path: str,
    headers: dict[str, str],
    status: int,
    expected: Any,
    profile: str | None,
) -> None:
    body = {"id": 50, "name": "x"} if method == "POST" else None

    response = await two_schemas.request(
        method, path, json=body, headers={**bearer(new_user()), **headers}
    )

    assert response.status_code == status, response.text
    if status >= 400:
        assert response.json()["code"] == expected
    elif expected is not None:
        assert response.json() == expected
    assert response.headers.get("content-profile") == profile


async def test_write_to_a_second_schema(
    two_schemas: httpx.AsyncClient, owner: psycopg.Connection[Any]
) -> None:
    response = await two_schemas.post(
        "/widgets?select=id,name",
        json={"id": 2, "name": "gear"},
        headers={
            **bearer(new_user()),
            "Content-Profile": "extra",
            "Prefer": "return=representation",
        },
    )

    assert response.status_code == 201
    assert response.json() == [{"id": 2, "name": "gear"}]
    assert response.headers["content-profile"] == "extra"
    row = owner.execute("SELECT name FROM extra.widgets WHERE id = 2").fetchone()
    assert row == ("gear",)


async def test_schema_error_message(two_schemas: httpx.AsyncClient) -> None:
    response = await two_schemas.get("/items", headers={"Accept-Profile": "x"})

    assert response.json() == {
        "code": "PGRST106",
        "message": "The schema must be one of the following: public, extra",
        "details": None,
        "hint": None,
    }


async def test_root_per_profile(two_schemas: httpx.AsyncClient) -> None:
    public = (await two_schemas.get("/")).json()
    extra = (await two_schemas.get("/", headers={"Accept-Profile": "extra"})).json()

    assert "/widgets" in extra["paths"] and "/items" not in extra["paths"]
    assert "/items" in public["paths"] and "/widgets" not in public["paths"]


async def test_public_only_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/widgets", headers={"Accept-Profile": "extra"})

    assert (response.status_code, response.json()["code"]) == (406, "PGRST106")


# -- the pre-request function ------------------------------------------------------


@pytest.mark.parametrize("name", ["check_request", "public.check_request"])
async def test_pre_request_runs_first(
    pool: AsyncConnectionPool[Any], owner: psycopg.Connection[Any], name: str
) -> None:
    key = new_user()
    async with client_with(pool, replace(CONFIG, pre_request=name)) as http:
        allowed = await http.get("/items?select=id&id=eq.1")
        blocked = await http.post(
            "/upserts",
            json={"key": key, "value": 1},
            headers={**bearer(new_user()), "X-Block": "yes"},
        )

    assert allowed.status_code == 200
    assert allowed.headers["x-pre-request"] == "ran"
    assert (blocked.status_code, blocked.json()["message"]) == (
        403,
        "blocked by pre-request",
    )
    row = owner.execute("SELECT count(*) FROM upserts WHERE key = %s", [key])
    assert row.fetchone() == (0,)


async def test_missing_pre_request_function(pool: AsyncConnectionPool[Any]) -> None:
    config = replace(CONFIG, pre_request="public.no_such_function")
    async with client_with(pool, config) as http:
        response = await http.get("/items")

    assert (response.status_code, response.json()["code"]) == (404, "42883")


@pytest.mark.parametrize(
    "changes",
    [
        {"pre_request": ""},
        {"pre_request": "public."},
        {"tx_end": "sometimes"},
        {"schemas": ("public", "information_schema")},
    ],
)
def test_bad_settings_fail_at_start(changes: dict[str, Any]) -> None:
    config: DataApiConfig = replace(CONFIG, **changes)

    with pytest.raises(DataApiConfigError):
        config.validate()
