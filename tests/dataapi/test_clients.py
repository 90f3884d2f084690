"""The real ``postgrest`` Python client against the data API, in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from postgrest import AsyncPostgrestClient
from postgrest.exceptions import APIError
from starlette.applications import Starlette
from starlette.routing import Mount

from rowgate.dataapi.app import DataApi
from tests.dataapi.conftest import BASE, new_user, token


@pytest.fixture
async def postgrest_for(api: DataApi) -> AsyncIterator[AsyncPostgrestClient]:
    app = Starlette(routes=[Mount("/api/database", app=api)])
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
    user = new_user()
    client = AsyncPostgrestClient(
        BASE, headers={"Authorization": f"Bearer {token(user)}"}, http_client=http
    )
    client.user = user  # type: ignore[attr-defined]
    yield client
    await http.aclose()


async def test_postgrest_py_round_trip(postgrest_for: AsyncPostgrestClient) -> None:
    notes = postgrest_for.from_("notes")

    inserted = await notes.insert(
        [{"title": "a"}, {"title": "b", "body": "x"}], default_to_null=False
    ).execute()
    updated = await notes.update({"score": 5}).eq("title", "a").execute()
    listed = (
        await notes.select("title,score", count="exact")
        .order("title", desc=True)
        .range(0, 0)
        .execute()
    )
    single = await notes.select("title").eq("title", "b").single().execute()
    upserted = (
        await postgrest_for.from_("upserts")
        .upsert(
            {"key": postgrest_for.user, "value": 1}  # type: ignore[attr-defined]
        )
        .execute()
    )
    deleted = await notes.delete().eq("title", "b").execute()
    total = await postgrest_for.rpc("add_them", {"a": 2, "b": 3}).execute()
    items = (
        await postgrest_for.from_("items")
        .select("id")
        .in_("name", ["apple", "dill, fresh"])
        .execute()
    )

    assert [row["title"] for row in inserted.data] == ["a", "b"]
    assert updated.data[0]["score"] == 5
    assert (listed.data, listed.count) == ([{"title": "b", "score": None}], 2)
    assert single.data == {"title": "b"}
    assert upserted.data[0]["value"] == 1
    assert [row["title"] for row in deleted.data] == ["b"]
    assert total.data == 5
    assert sorted(row["id"] for row in items.data) == [1, 4]


async def test_postgrest_py_errors(postgrest_for: AsyncPostgrestClient) -> None:
    with pytest.raises(APIError) as missing:
        await postgrest_for.from_("nope").select("*").execute()
    with pytest.raises(APIError) as single:
        await postgrest_for.from_("items").select("id").single().execute()

    assert missing.value.code == "PGRST205"
    assert single.value.code == "PGRST116"
