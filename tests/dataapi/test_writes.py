"""Inserts, updates, deletes and upserts under RLS, with PostgREST's statuses."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from tests.dataapi.conftest import bearer, new_user

REPRESENTATION = {"Prefer": "return=representation"}


def count_notes(owner: psycopg.Connection[Any], user: str) -> int:
    row = owner.execute(
        "SELECT count(*) FROM notes WHERE user_id = %s", [user]
    ).fetchone()
    assert row is not None
    return int(row[0])


async def create(client: httpx.AsyncClient, user: str, title: str) -> dict[str, Any]:
    response = await client.post(
        "/notes", json={"title": title}, headers={**bearer(user), **REPRESENTATION}
    )
    assert response.status_code == 201, response.text
    row: dict[str, Any] = response.json()[0]
    return row


async def test_insert_object_returns_representation(client: httpx.AsyncClient) -> None:
    user = new_user()

    response = await client.post(
        "/notes?select=title,user_id",
        json={"title": "hello"},
        headers={**bearer(user), **REPRESENTATION},
    )

    assert response.status_code == 201
    assert response.json() == [{"title": "hello", "user_id": user}]
    assert response.headers["content-range"] == "*/*"
    assert response.headers["preference-applied"] == "return=representation"


async def test_insert_array(
    client: httpx.AsyncClient, owner: psycopg.Connection[Any]
) -> None:
    user = new_user()

    response = await client.post(
        "/notes", json=[{"title": "a"}, {"title": "b"}], headers=bearer(user)
    )

    assert response.status_code == 201
    assert response.content == b""
    assert "content-type" not in response.headers
    assert count_notes(owner, user) == 2


async def test_insert_empty_array(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/notes", json=[], headers={**bearer(new_user()), **REPRESENTATION}
    )

    assert response.status_code == 201
    assert response.json() == []


async def test_insert_bad_payloads(client: httpx.AsyncClient) -> None:
    headers = {**bearer(new_user()), "Content-Type": "application/json"}
    cases = [
        (b"{not json", 400, "PGRST102"),
        (b"", 400, "PGRST102"),
        (b'[{"title": "a"}, {"body": "b"}]', 400, "PGRST102"),
        (b'[{"title": "a"}, 3]', 400, "PGRST102"),
        (b'{"title": "a", "nope": 1}', 400, "PGRST204"),
        (b'{"title": ""}', 400, "23514"),
        (b'{"title": null}', 400, "23502"),
        (b'{"title": "x", "score": "many"}', 400, "22P02"),
        (b'{"title": "x", "id": 5}', 400, "428C9"),
        (b'{"title": "x", "category_id": 99}', 409, "23503"),
    ]
    for body, status, code in cases:
        response = await client.post("/notes", content=body, headers=headers)
        assert (response.status_code, response.json()["code"]) == (status, code), body


async def test_insert_for_another_user_is_refused(
    client: httpx.AsyncClient, owner: psycopg.Connection[Any]
) -> None:
    victim = new_user()

    response = await client.post(
        "/notes", json={"title": "x", "user_id": victim}, headers=bearer(new_user())
    )

    assert response.status_code == 403
    assert response.json()["code"] == "42501"
    assert count_notes(owner, victim) == 0


async def test_insert_hidden_on_read_back_fails_whole(
    client: httpx.AsyncClient, owner: psycopg.Connection[Any]
) -> None:
    user = new_user()

    response = await client.post(
        "/notes",
        json=[{"title": "visible"}, {"title": "hidden one"}],
        headers={**bearer(user), **REPRESENTATION},
    )

    assert response.status_code == 403
    assert response.json()["code"] == "42501"
    assert count_notes(owner, user) == 0


async def test_minimal_insert_needs_no_read_right(
    client: httpx.AsyncClient, owner: psycopg.Connection[Any]
) -> None:
    response = await client.post("/inbox", json={"message": "anon says hi"})
    refused = await client.post(
        "/inbox", json={"message": "anon wants it back"}, headers=REPRESENTATION
    )

    assert response.status_code == 201
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    messages = [r[0] for r in owner.execute("SELECT message FROM inbox").fetchall()]
    assert "anon says hi" in messages
    assert "anon wants it back" not in messages


async def test_headers_only_sets_location(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/notes",
        json={"title": "located"},
        headers={**bearer(new_user()), "Prefer": "return=headers-only"},
    )

    assert response.status_code == 201
    assert response.headers["location"].startswith("/notes?id=eq.")
    assert response.content == b""


async def test_users_are_isolated(client: httpx.AsyncClient) -> None:
    alice, bob = new_user(), new_user()
    note = await create(client, alice, "alice's")

    listed = await client.get("/notes", headers=bearer(bob))
    patched = await client.patch(
        f"/notes?id=eq.{note['id']}",
        json={"title": "bob was here"},
        headers={**bearer(bob), **REPRESENTATION},
    )
    deleted = await client.delete(f"/notes?id=eq.{note['id']}", headers=bearer(bob))
    mine = await client.get(
        f"/notes?id=eq.{note['id']}&select=title", headers=bearer(alice)
    )

    assert listed.json() == []
    assert (patched.status_code, patched.json()) == (200, [])
    assert patched.headers["content-range"] == "*/*"
    assert deleted.status_code == 204
    assert mine.json() == [{"title": "alice's"}]


async def test_patch_and_delete_own_rows(client: httpx.AsyncClient) -> None:
    user = new_user()
    first = await create(client, user, "one")
    await create(client, user, "two")

    patched = await client.patch(
        f"/notes?id=eq.{first['id']}", json={"body": "edited"}, headers=bearer(user)
    )
    everything = await client.patch(
        "/notes?select=title",
        json={"score": 7},
        headers={**bearer(user), **REPRESENTATION},
    )
    deleted = await client.delete(
        "/notes?title=eq.two&select=title", headers={**bearer(user), **REPRESENTATION}
    )
    left = await client.get("/notes?select=title,body,score", headers=bearer(user))

    assert patched.status_code == 204
    assert everything.headers["content-range"] == "0-1/*"
    assert deleted.json() == [{"title": "two"}]
    assert left.json() == [{"title": "one", "body": "edited", "score": 7}]


async def test_patch_errors(client: httpx.AsyncClient) -> None:
    headers = bearer(new_user())
    cases = [
        ("/notes?id=eq.1", b"[1]", 400, "PGRST102"),
        ("/notes?id=eq.1", b"{bad", 400, "PGRST102"),
        ("/notes?id=eq.1", b'{"nope": 1}', 400, "PGRST204"),
        ("/notes?nope=eq.1", b'{"title": "x"}', 400, "42703"),
        ("/notes?id=eq.1&limit=1", b'{"title": "x"}', 400, "PGRST109"),
        ("/notes?offset=1", b'{"title": "x"}', 400, "PGRST109"),
        ("/notes?limit=1&order=categories(name)", b'{"title": "x"}', 400, "PGRST118"),
    ]
    for path, body, status, code in cases:
        response = await client.patch(path, content=body, headers=headers)
        assert (response.status_code, response.json()["code"]) == (status, code), path


async def test_empty_patch_changes_nothing(client: httpx.AsyncClient) -> None:
    user = new_user()
    await create(client, user, "same")

    response = await client.patch(
        "/notes", json={}, headers={**bearer(user), **REPRESENTATION}
    )

    assert (response.status_code, response.json()) == (200, [])


async def test_singular_write_rolls_back(
    client: httpx.AsyncClient, owner: psycopg.Connection[Any]
) -> None:
    user = new_user()
    await create(client, user, "a")
    await create(client, user, "b")

    response = await client.patch(
        "/notes",
        json={"body": "both"},
        headers={**bearer(user), "Accept": "application/vnd.pgrst.object+json"},
    )

    assert response.status_code == 406
    assert response.json()["details"] == "The result contains 2 rows"
    bodies = owner.execute(
        "SELECT body FROM notes WHERE user_id = %s", [user]
    ).fetchall()
    assert bodies == [("",), ("",)]


async def test_max_affected_strict(client: httpx.AsyncClient) -> None:
    user = new_user()
    await create(client, user, "a")
    await create(client, user, "b")

    response = await client.delete(
        "/notes", headers={**bearer(user), "Prefer": "handling=strict, max-affected=1"}
    )
    left = await client.get("/notes", headers=bearer(user))

    assert response.status_code == 400
    assert response.json()["code"] == "PGRST124"
    assert len(left.json()) == 2


async def test_upsert(client: httpx.AsyncClient) -> None:
    headers = bearer(new_user())
    merge = {**headers, "Prefer": "resolution=merge-duplicates,return=representation"}
    key = new_user()

    created = await client.post(
        "/upserts", json={"key": key, "value": 1}, headers=merge
    )
    merged = await client.post("/upserts", json={"key": key, "value": 2}, headers=merge)
    ignored = await client.post(
        "/upserts?on_conflict=key",
        json={"key": key, "value": 3},
        headers={**headers, "Prefer": "resolution=ignore-duplicates"},
    )
    plain = await client.post(
        "/upserts", json={"key": key, "value": 4}, headers=headers
    )
    final = await client.get(f"/upserts?key=eq.{key}&select=value", headers=headers)

    assert created.status_code == 201
    assert merged.status_code == 200
    assert merged.json()[0]["value"] == 2
    assert merged.headers["preference-applied"] == (
        "resolution=merge-duplicates, return=representation"
    )
    assert ignored.status_code == 201
    assert (plain.status_code, plain.json()["code"]) == (409, "23505")
    assert final.json() == [{"value": 2}]


async def test_missing_default(client: httpx.AsyncClient) -> None:
    headers = {
        **bearer(new_user()),
        "Prefer": "missing=default, return=representation",
    }
    first, second = new_user(), new_user()

    response = await client.post(
        '/upserts?columns="key","value","note"&select=key,note',
        json=[{"key": first, "value": 1}, {"key": second, "value": 2, "note": None}],
        headers=headers,
    )

    assert response.status_code == 201, response.text
    assert response.json() == [
        {"key": first, "note": "default note"},
        {"key": second, "note": None},
    ]


async def test_limited_update_and_delete(
    client: httpx.AsyncClient, owner: psycopg.Connection[Any]
) -> None:
    user = new_user()
    for title in ("a", "b", "c", "d"):
        await create(client, user, title)
    headers = {**bearer(user), **REPRESENTATION}

    patched = await client.patch(
        "/notes?order=title.desc&limit=2&select=title",
        json={"body": "top two"},
        headers=headers,
    )
    deleted = await client.delete(
        "/notes?order=title&limit=1&offset=1&select=title", headers=headers
    )
    anonymous_delete = await client.delete("/items?order=id&limit=1")

    assert sorted(row["title"] for row in patched.json()) == ["c", "d"]
    assert deleted.json() == [{"title": "b"}]
    assert anonymous_delete.status_code == 401
    rows = owner.execute(
        "SELECT title, body FROM notes WHERE user_id = %s ORDER BY title", [user]
    ).fetchall()
    assert rows == [("a", ""), ("c", "top two"), ("d", "top two")]


# (Prefer, columns=, body, the row afterwards)
PATCH_MISSING = [
    ("missing=default", "value,note", {"value": 5}, (5, "default note")),
    ("missing=null", "value,note", {"value": 6}, (6, None)),
    (None, "value,note", {"value": 7}, (7, None)),
    ("missing=default", None, {"value": 8}, (8, "kept")),
]


@pytest.mark.parametrize(("prefer", "columns", "body", "row"), PATCH_MISSING)
async def test_patch_missing_columns(
    client: httpx.AsyncClient,
    owner: psycopg.Connection[Any],
    prefer: str | None,
    columns: str | None,
    body: dict[str, Any],
    row: tuple[Any, ...],
) -> None:
    key = new_user()
    headers = bearer(new_user())
    await client.post(
        "/upserts", json={"key": key, "value": 1, "note": "kept"}, headers=headers
    )
    if prefer:
        headers["Prefer"] = prefer
    query = f"&columns={columns}" if columns else ""

    response = await client.patch(
        f"/upserts?key=eq.{key}{query}", json=body, headers=headers
    )

    assert response.status_code == 204
    found = owner.execute("SELECT value, note FROM upserts WHERE key = %s", [key])
    assert found.fetchone() == row
