"""PUT: a single-row upsert addressed by the whole primary key, PostgREST's rules."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from tests.dataapi.conftest import bearer, new_user

REPRESENTATION = "return=representation"

# (path, Prefer, body, status, response body or error code)
ERRORS = [
    ("/upserts", None, {"key": "k", "value": 1}, 405, "PGRST105"),
    ("/upserts?key=neq.k", None, {"key": "k", "value": 1}, 405, "PGRST105"),
    ("/upserts?key=not.eq.k", None, {"key": "k", "value": 1}, 405, "PGRST105"),
    ("/upserts?key=eq.k&value=eq.1", None, {"key": "k", "value": 1}, 405, "PGRST105"),
    ("/upserts?or=(key.eq.k)", None, {"key": "k", "value": 1}, 405, "PGRST105"),
    ("/upserts?key=in.(k)", None, {"key": "k", "value": 1}, 405, "PGRST105"),
    ("/pairs?a=eq.1", None, {"a": 1, "b": 1}, 405, "PGRST105"),
    ("/keyless?v=eq.x", None, {"v": "x"}, 405, "PGRST105"),
    ("/upserts?key=eq.k&limit=1", None, {"key": "k", "value": 1}, 400, "PGRST114"),
    ("/upserts?key=eq.k&offset=1", None, {"key": "k", "value": 1}, 400, "PGRST114"),
    ("/upserts?key=eq.k", None, {"key": "other", "value": 1}, 400, "PGRST115"),
    ("/upserts?key=eq.k", None, {"value": 1}, 400, "PGRST115"),
    ("/upserts?key=eq.k", None, {"key": "k", "nope": 1}, 400, "PGRST204"),
    ("/upserts?key=eq.k", None, [3], 400, "PGRST102"),
    ("/pairs?a=eq.1&b=eq.x", None, {"a": 1, "b": 1}, 400, "22P02"),
    ("/nope?id=eq.1", None, {"id": 1}, 404, "PGRST205"),
]


@pytest.mark.parametrize(("path", "prefer", "body", "status", "code"), ERRORS)
async def test_put_errors(
    client: httpx.AsyncClient,
    owner: psycopg.Connection[Any],
    path: str,
    prefer: str | None,
    body: Any,
    status: int,
    code: str,
) -> None:
    headers = bearer(new_user())
    if prefer:
        headers["Prefer"] = prefer

    response = await client.put(path, json=body, headers=headers)

    assert (response.status_code, response.json()["code"]) == (status, code)
    left = owner.execute("SELECT count(*) FROM upserts WHERE key = 'other'")
    assert left.fetchone() == (0,)


async def test_put_inserts_then_replaces(
    client: httpx.AsyncClient, owner: psycopg.Connection[Any]
) -> None:
    key = new_user()
    headers = {**bearer(new_user()), "Prefer": REPRESENTATION}

    created = await client.put(
        f"/upserts?key=eq.{key}&select=key,value",
        json={"key": key, "value": 1},
        headers=headers,
    )
    replaced = await client.put(
        f"/upserts?key=eq.{key}", json={"key": key, "value": 2}, headers=headers
    )
    minimal = await client.put(
        f"/upserts?key=eq.{key}",
        json={"key": key, "value": 3, "note": None},
        headers=bearer(new_user()),
    )

    assert (created.status_code, created.json()) == (201, [{"key": key, "value": 1}])
    assert replaced.status_code == 200
    assert replaced.json() == [{"key": key, "value": 2, "note": "default note"}]
    assert replaced.headers["preference-applied"] == REPRESENTATION
    assert (minimal.status_code, minimal.content) == (204, b"")
    row = owner.execute("SELECT value, note FROM upserts WHERE key = %s", [key])
    assert row.fetchone() == (3, None)


async def test_put_composite_key_and_singular(
    client: httpx.AsyncClient, owner: psycopg.Connection[Any]
) -> None:
    headers = {
        **bearer(new_user()),
        "Prefer": REPRESENTATION,
        "Accept": "application/vnd.pgrst.object+json",
    }

    response = await client.put(
        "/pairs?b=eq.20&a=eq.10", json={"a": 10, "b": "20", "v": "x"}, headers=headers
    )

    assert response.status_code == 201
    assert response.json() == {"a": 10, "b": 20, "v": "x"}
    row = owner.execute("SELECT v FROM pairs WHERE a = 10 AND b = 20").fetchone()
    assert row == ("x",)


async def test_put_mismatch_writes_nothing(
    client: httpx.AsyncClient, owner: psycopg.Connection[Any]
) -> None:
    response = await client.put(
        "/pairs?a=eq.30&b=eq.31", json={"a": 30, "b": 99}, headers=bearer(new_user())
    )

    assert response.json()["message"] == (
        "Payload values do not match URL in primary key column(s)"
    )
    rows = owner.execute("SELECT count(*) FROM pairs WHERE a = 30").fetchone()
    assert rows == (0,)


async def test_put_cannot_set_an_always_identity_key(
    client: httpx.AsyncClient, owner: psycopg.Connection[Any]
) -> None:
    response = await client.put(
        "/comments?id=eq.999999",
        json={"id": 999999, "note_id": 1, "body": "x"},
        headers=bearer(new_user()),
    )

    assert (response.status_code, response.json()["code"]) == (400, "428C9")
    assert owner.execute(
        "SELECT count(*) FROM comments WHERE id = 999999"
    ).fetchone() == (0,)
