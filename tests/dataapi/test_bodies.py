"""Request bodies by Content-Type: JSON, CSV and forms; anything else is refused."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from tests.dataapi.conftest import bearer, new_user

REPRESENTATION = "return=representation"


def csv_body(key: str, other: str) -> str:
    return f'key,value,note\n{key},1,"one, with comma"\n{other},2,NULL\n'


async def test_csv_insert(
    client: httpx.AsyncClient, owner: psycopg.Connection[Any]
) -> None:
    key, other = new_user(), new_user()

    response = await client.post(
        "/upserts?select=key,value,note",
        content=csv_body(key, other),
        headers={
            **bearer(new_user()),
            "Content-Type": "text/csv",
            "Prefer": REPRESENTATION,
        },
    )

    assert response.status_code == 201, response.text
    assert response.json() == [
        {"key": key, "value": 1, "note": "one, with comma"},
        {"key": other, "value": 2, "note": None},
    ]
    rows = owner.execute(
        "SELECT value, note FROM upserts WHERE key IN (%s, %s) ORDER BY value",
        [key, other],
    ).fetchall()
    assert rows == [(1, "one, with comma"), (2, None)]


async def test_form_insert_and_patch(client: httpx.AsyncClient) -> None:
    key = new_user()
    headers = {**bearer(new_user()), "Prefer": REPRESENTATION}

    created = await client.post(
        "/upserts?select=key,value,note",
        data={"key": key, "value": "7", "note": "a b&c"},
        headers=headers,
    )
    patched = await client.patch(
        f"/upserts?key=eq.{key}&select=value",
        data={"value": "8"},
        headers=headers,
    )

    assert created.status_code == 201
    assert created.json() == [{"key": key, "value": 7, "note": "a b&c"}]
    assert (patched.status_code, patched.json()) == (200, [{"value": 8}])


async def test_csv_response_round_trips(client: httpx.AsyncClient) -> None:
    key = new_user()
    headers = {**bearer(new_user()), "Content-Type": "text/csv"}
    await client.post("/upserts", content=f"key,value\n{key},5", headers=headers)

    response = await client.get(
        f"/upserts?key=eq.{key}&select=key,value,note",
        headers={**bearer(new_user()), "Accept": "text/csv"},
    )

    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    # Rows are Postgres' record text, as PostgREST writes them: quoted when a
    # value holds a space, a comma or a quote.
    assert response.text == f'key,value,note\n{key},5,"default note"'


# (Content-Type, body, status, error code)
REFUSED = [
    ("text/plain", b"key=x", 400, "PGRST102"),
    ("application/xml", b"<row/>", 400, "PGRST102"),
    ("application/octet-stream", b"\x00", 400, "PGRST102"),
    ("text/csv", b"key,value\nx,1,extra", 400, "PGRST102"),
    ("text/csv", b"key,nope\nx,1", 400, "PGRST204"),
    ("text/csv", b"key,value\nx,many", 400, "22P02"),
    ("text/csv", b"\xff\xfe", 400, "PGRST102"),
    ("application/x-www-form-urlencoded", b"key=x&nope=1", 400, "PGRST204"),
    ("application/json", b"key=x", 400, "PGRST102"),
    ("application/json; charset=utf-8", b"[1]", 400, "PGRST102"),
]


@pytest.mark.parametrize(("content_type", "body", "status", "code"), REFUSED)
async def test_refused_bodies(
    client: httpx.AsyncClient,
    content_type: str,
    body: bytes,
    status: int,
    code: str,
) -> None:
    response = await client.post(
        "/upserts",
        content=body,
        headers={**bearer(new_user()), "Content-Type": content_type},
    )

    assert (response.status_code, response.json()["code"]) == (status, code)


async def test_refused_content_type_message(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/upserts",
        content=b"x",
        headers={**bearer(new_user()), "Content-Type": "text/plain; charset=utf-8"},
    )

    assert response.json()["message"] == "Content-Type not acceptable: text/plain"


async def test_empty_csv_inserts_nothing(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/upserts",
        content=b"",
        headers={
            **bearer(new_user()),
            "Content-Type": "text/csv",
            "Prefer": REPRESENTATION,
        },
    )

    assert (response.status_code, response.json()) == (201, [])


async def test_form_rpc_arguments(client: httpx.AsyncClient) -> None:
    response = await client.post("/rpc/add_them", data={"a": "2", "b": "5"})

    assert (response.status_code, response.json()) == (200, 7)


# (function, Content-Type, body, status, result or error code)
RAW_BODIES = [
    ("shout", "text/plain", "hello, world", 200, "HELLO, WORLD"),
    ("shout", "text/plain; charset=utf-8", "größe", 200, "GRÖßE"),
    ("byte_count", "application/octet-stream", b"\x00\x01\xff", 200, 3),
    ("xml_root", "text/xml", "<note><to>x</to></note>", 200, "note"),
    ("xml_root", "text/xml", "<unclosed>", 400, "2200N"),
    ("add_them", "text/plain", "1", 404, "PGRST202"),
    ("shout", "application/octet-stream", b"x", 404, "PGRST202"),
]


@pytest.mark.parametrize(
    ("function", "content_type", "body", "status", "expected"), RAW_BODIES
)
async def test_raw_body_functions(
    client: httpx.AsyncClient,
    function: str,
    content_type: str,
    body: str | bytes,
    status: int,
    expected: Any,
) -> None:
    content = body.encode() if isinstance(body, str) else body

    response = await client.post(
        f"/rpc/{function}", content=content, headers={"Content-Type": content_type}
    )

    assert response.status_code == status, response.text
    if status == 200:
        assert response.json() == expected
    else:
        assert response.json()["code"] == expected
