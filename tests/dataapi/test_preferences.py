"""Prefer: tx, timezone, handling and the Preference-Applied header."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from rowgate.dataapi.config import DataApiConfig
from tests.dataapi.conftest import CONFIG, SECRET, bearer, client_with, new_user


def upsert_count(owner: psycopg.Connection[Any], key: str) -> int:
    row = owner.execute("SELECT count(*) FROM upserts WHERE key = %s", [key]).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize(
    ("prefer", "status", "kept"),
    [
        ("tx=rollback, return=representation", 201, 0),
        ("tx=commit, return=representation", 201, 1),
        ("return=representation", 201, 1),
    ],
)
async def test_tx_preference(
    client: httpx.AsyncClient,
    owner: psycopg.Connection[Any],
    prefer: str,
    status: int,
    kept: int,
) -> None:
    key = new_user()

    response = await client.post(
        "/upserts?select=key,value",
        json={"key": key, "value": 1},
        headers={**bearer(new_user()), "Prefer": prefer},
    )

    assert response.status_code == status
    assert response.json() == [{"key": key, "value": 1}]
    assert upsert_count(owner, key) == kept
    applied = response.headers["preference-applied"]
    tx = [part for part in prefer.split(", ") if part.startswith("tx=")]
    assert applied == ", ".join(["return=representation", *tx])


async def test_rollback_of_a_patch_and_delete(
    client: httpx.AsyncClient, owner: psycopg.Connection[Any]
) -> None:
    key = new_user()
    headers = bearer(new_user())
    await client.post("/upserts", json={"key": key, "value": 1}, headers=headers)
    rollback = {**headers, "Prefer": "tx=rollback, return=representation"}

    patched = await client.patch(
        f"/upserts?key=eq.{key}&select=value", json={"value": 9}, headers=rollback
    )
    deleted = await client.delete(f"/upserts?key=eq.{key}", headers=rollback)

    assert (patched.status_code, patched.json()) == (200, [{"value": 9}])
    assert deleted.status_code == 200
    row = owner.execute("SELECT value FROM upserts WHERE key = %s", [key]).fetchone()
    assert row == (1,)


# (Prefer, status, Preference-Applied or error code, TimeZone seen)
TIMEZONES = [
    ("timezone=America/Los_Angeles", 200, "timezone=America/Los_Angeles", "LA"),
    ("timezone=Not/A_Zone", 200, None, "default"),
    ("handling=lenient, timezone=Not/A_Zone", 200, "handling=lenient", "default"),
    ("handling=strict, timezone=Not/A_Zone", 400, "PGRST122", None),
    (
        "timezone=Asia/Tokyo, handling=strict, count=exact",
        200,
        "count=exact, handling=strict, timezone=Asia/Tokyo",
        "Tokyo",
    ),
]


@pytest.mark.parametrize(("prefer", "status", "applied", "zone"), TIMEZONES)
async def test_timezone_preference(
    client: httpx.AsyncClient,
    owner: psycopg.Connection[Any],
    prefer: str,
    status: int,
    applied: str | None,
    zone: str | None,
) -> None:
    default = owner.execute("SELECT current_setting('TimeZone')").fetchone()
    assert default is not None

    response = await client.get("/rpc/current_tz", headers={"Prefer": prefer})

    assert response.status_code == status
    if status != 200:
        assert response.json()["code"] == applied
        assert response.json()["details"] == "Invalid preferences: timezone=Not/A_Zone"
        return
    assert response.headers.get("preference-applied") == applied
    expected = {"LA": "America/Los_Angeles", "Tokyo": "Asia/Tokyo"}.get(
        zone or "", default[0]
    )
    assert response.json() == expected


async def test_timezone_does_not_leak(client: httpx.AsyncClient) -> None:
    await client.get("/rpc/current_tz", headers={"Prefer": "timezone=Asia/Tokyo"})

    for _ in range(4):
        response = await client.get("/rpc/current_tz")
        assert response.json() != "Asia/Tokyo"


# (Prefer on GET /items, status, Preference-Applied or error code)
HANDLING = [
    ("handling=strict, return=minimal", 200, "handling=strict"),
    ("handling=strict, bogus=1", 400, "PGRST122"),
    ("handling=strict, count=sometimes", 400, "PGRST122"),
    ("handling=lenient, bogus=1", 200, "handling=lenient"),
    ("bogus=1", 200, None),
    ("count=exact, count=planned", 200, "count=exact"),
    ("handling=strict, max-affected=1", 200, "handling=strict"),
]


@pytest.mark.parametrize(("prefer", "status", "expected"), HANDLING)
async def test_handling(
    client: httpx.AsyncClient, prefer: str, status: int, expected: str | None
) -> None:
    response = await client.get("/items?select=id", headers={"Prefer": prefer})

    assert response.status_code == status
    if status == 200:
        assert response.headers.get("preference-applied") == expected
    else:
        assert response.json()["code"] == expected


async def test_strict_details_list_every_invalid_preference(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(
        "/items", headers={"Prefer": "handling=strict, bogus=1, count=sometimes"}
    )

    assert response.json()["details"] == "Invalid preferences: bogus=1, count=sometimes"


async def test_write_preferences_in_postgrest_order(client: httpx.AsyncClient) -> None:
    key = new_user()

    response = await client.post(
        "/upserts",
        json={"key": key, "value": 1},
        headers={
            **bearer(new_user()),
            "Prefer": "timezone=UTC, handling=strict, tx=commit, count=exact, "
            "return=representation, missing=default, resolution=merge-duplicates",
        },
    )

    assert response.status_code == 201
    assert response.headers["preference-applied"] == (
        "resolution=merge-duplicates, missing=default, return=representation, "
        "count=exact, tx=commit, handling=strict, timezone=UTC"
    )


async def test_max_affected_echoed_on_delete(client: httpx.AsyncClient) -> None:
    key = new_user()
    headers = bearer(new_user())
    await client.post("/upserts", json={"key": key, "value": 1}, headers=headers)

    response = await client.delete(
        f"/upserts?key=eq.{key}",
        headers={**headers, "Prefer": "handling=strict, max-affected=5"},
    )

    assert response.status_code == 204
    assert response.headers["preference-applied"] == "handling=strict, max-affected=5"


def test_tx_preference_is_ignored_by_default() -> None:
    assert DataApiConfig(jwt_secret=SECRET).tx_end == "commit"


async def test_tx_override_can_be_disabled(
    pool: AsyncConnectionPool[Any], owner: psycopg.Connection[Any]
) -> None:
    key = new_user()
    config = replace(CONFIG, tx_end="commit")

    async with client_with(pool, config) as http:
        ignored = await http.post(
            "/upserts",
            json={"key": key, "value": 1},
            headers={**bearer(new_user()), "Prefer": "tx=rollback"},
        )
        strict = await http.post(
            "/upserts",
            json={"key": new_user(), "value": 1},
            headers={**bearer(new_user()), "Prefer": "tx=rollback, handling=strict"},
        )

    assert ignored.status_code == 201
    assert "preference-applied" not in ignored.headers
    assert upsert_count(owner, key) == 1
    assert (strict.status_code, strict.json()["code"]) == (400, "PGRST122")


async def test_rollback_by_default(
    pool: AsyncConnectionPool[Any], owner: psycopg.Connection[Any]
) -> None:
    key, kept = new_user(), new_user()
    config = replace(CONFIG, tx_end="rollback-allow-override")

    async with client_with(pool, config) as http:
        rolled = await http.post(
            "/upserts", json={"key": key, "value": 1}, headers=bearer(new_user())
        )
        committed = await http.post(
            "/upserts",
            json={"key": kept, "value": 1},
            headers={**bearer(new_user()), "Prefer": "tx=commit"},
        )

    assert (rolled.status_code, committed.status_code) == (201, 201)
    assert (upsert_count(owner, key), upsert_count(owner, kept)) == (0, 1)


# (function path, Prefer, status, error code or None)
RPC_MAX_AFFECTED = [
    ("/rpc/items_of_kind?kind=fruit", "handling=strict, max-affected=2", 200, None),
    (
        "/rpc/items_of_kind?kind=fruit",
        "handling=strict, max-affected=1",
        400,
        "PGRST124",
    ),
    ("/rpc/items_of_kind?kind=fruit", "max-affected=1", 200, None),
    ("/rpc/add_them?a=1&b=2", "handling=strict, max-affected=1", 400, "PGRST128"),
]


@pytest.mark.parametrize(("path", "prefer", "status", "code"), RPC_MAX_AFFECTED)
async def test_max_affected_on_functions(
    client: httpx.AsyncClient, path: str, prefer: str, status: int, code: str | None
) -> None:
    response = await client.get(path, headers={"Prefer": prefer})

    assert response.status_code == status
    if code is not None:
        assert response.json()["code"] == code


@pytest.mark.parametrize("prefer", ["tx=rollback", "tx=commit", "return=minimal"])
async def test_deferred_constraints_are_checked(
    client: httpx.AsyncClient, owner: psycopg.Connection[Any], prefer: str
) -> None:
    response = await client.post(
        "/chain",
        json={"id": 7, "next_id": 999},
        headers={**bearer(new_user()), "Prefer": prefer},
    )

    assert (response.status_code, response.json()["code"]) == (409, "23503")
    assert owner.execute("SELECT count(*) FROM chain").fetchone() == (0,)
