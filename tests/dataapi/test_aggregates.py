"""Aggregates in ``select=``, on only when configured (PostgREST's
``db-aggregates-enabled``): grouping by the rest of the level, inside embeds, and
always within what RLS lets the caller see."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from tests.dataapi.conftest import CONFIG, bearer, client_with, new_user


@pytest.fixture(scope="module")
async def agg(pool: AsyncConnectionPool[Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with client_with(pool, dataclasses.replace(CONFIG, aggregates=True)) as http:
        yield http


async def read(client: httpx.AsyncClient, url: str, **headers: str) -> Any:
    response = await client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/items?select=count()", [{"count": 5}]),
        ("/items?select=price.sum()", [{"sum": 5.15}]),
        ("/items?select=total:price.sum()::int,n:count()", [{"total": 5, "n": 5}]),
        ("/items?select=price::int.max()", [{"max": 3}]),
        ("/items?select=price.min(),price.avg()::numeric(4,2)", None),
        ("/items?select=count()&kind=eq.fruit", [{"count": 2}]),
        (
            "/items?select=kind,count()&order=kind.asc.nullsfirst",
            [
                {"kind": None, "count": 1},
                {"kind": "dairy", "count": 1},
                {"kind": "fruit", "count": 2},
                {"kind": "vegetable", "count": 1},
            ],
        ),
    ],
)
async def test_aggregates_over_a_table(
    agg: httpx.AsyncClient, url: str, expected: Any
) -> None:
    response = await agg.get(url)

    if expected is None:
        # A cast with a modifier is not in the grammar: a clean 400, not a 500.
        assert (response.status_code, response.json()["code"]) == (400, "PGRST100")
    else:
        assert (response.status_code, response.json()) == (200, expected)


async def test_an_exact_count_counts_groups(agg: httpx.AsyncClient) -> None:
    whole = await agg.get(
        "/items?select=kind,count()", headers={"Prefer": "count=exact"}
    )
    paged = await agg.get(
        "/items?select=kind,count()&order=kind&limit=2",
        headers={"Prefer": "count=exact"},
    )

    assert (whole.status_code, whole.headers["content-range"]) == (200, "0-3/4")
    assert (paged.status_code, paged.headers["content-range"]) == (206, "0-1/4")


async def test_aggregates_inside_an_embed(agg: httpx.AsyncClient) -> None:
    rows = await read(agg, "/shops?select=name,item_shops(count())&order=id")

    assert rows == [
        {"name": "market", "item_shops": [{"count": 3}]},
        {"name": "corner", "item_shops": [{"count": 2}]},
        {"name": "closed", "item_shops": [{"count": 0}]},
    ]


async def test_grouping_by_a_to_one_embed(agg: httpx.AsyncClient) -> None:
    rows = await read(agg, "/item_shops?select=items(kind),count()")

    counted = sorted((row["items"]["kind"], row["count"]) for row in rows)
    assert counted == [("dairy", 1), ("fruit", 3), ("vegetable", 1)]


async def test_aggregates_see_only_what_rls_lets_through(
    agg: httpx.AsyncClient,
) -> None:
    writer, other = new_user(), new_user()
    for title in ("one", "two"):
        created = await agg.post(
            "/notes", json={"title": title}, headers=bearer(writer)
        )
        assert created.status_code == 201

    mine = await read(agg, "/notes?select=count()", **bearer(writer))
    theirs = await read(agg, "/notes?select=count()", **bearer(other))

    assert (mine, theirs) == ([{"count": 2}], [{"count": 0}])


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("/items?select=price.median()", "PGRST100"),
        ("/items?select=price.sum", "PGRST100"),
        ("/notes?select=count(),...categories(name)", "PGRST123"),
    ],
)
async def test_refused_aggregates(agg: httpx.AsyncClient, url: str, code: str) -> None:
    response = await agg.get(url)

    assert (response.status_code, response.json()["code"]) == (400, code)


async def test_aggregates_are_off_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/shops?select=name,item_shops(count())")

    assert (response.status_code, response.json()["code"]) == (400, "PGRST123")
