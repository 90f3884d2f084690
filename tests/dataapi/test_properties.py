"""Random query strings: never a 500, never a row outside RLS."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.dataapi.conftest import bearer, new_user

ALICE = new_user()
SPECIAL = "(),.:!*\"'\\{}[]-> ;=&%$"
TOKENS = ["eq.", "not.", "in.(", "or=(", "is.", "->>", "::"]
GRAMMAR = st.sampled_from([*SPECIAL, *TOKENS])
FRAGMENT = st.lists(st.one_of(GRAMMAR, st.text(max_size=4)), max_size=12).map("".join)
KEYS = st.one_of(
    st.sampled_from(["id", "title", "user_id", "select", "order", "or"]), FRAGMENT
)


@pytest.fixture(scope="module", autouse=True)
async def someone_elses_note(client: httpx.AsyncClient) -> None:
    """A row Alice must never see, whatever the query."""
    response = await client.post(
        "/notes", json={"title": "x"}, headers=bearer(new_user())
    )
    assert response.status_code == 201


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(key=KEYS, value=FRAGMENT)
async def test_random_parameters(
    client: httpx.AsyncClient, key: str, value: str
) -> None:
    query = f"{quote(key, safe='')}={quote(value, safe='')}"

    response = await client.get(f"/notes?{query}", headers=bearer(ALICE))

    assert response.status_code < 500, (query, response.text)
    if response.status_code == 200 and isinstance(response.json(), list):
        for row in response.json():
            assert row.get("user_id", ALICE) == ALICE


# Header values the HTTP client can send: printable ASCII.
HEADER_TEXT = FRAGMENT.filter(lambda s: s.isascii() and s.isprintable())
BODY_TYPES = st.sampled_from(
    ["text/csv", "application/x-www-form-urlencoded", "application/json"]
)
PREFER = st.lists(
    st.sampled_from(
        [
            "tx=rollback",
            "timezone=",
            "timezone=Asia/Tokyo",
            "handling=strict",
            "return=representation",
            "resolution=merge-duplicates",
            "missing=default",
            "max-affected=",
        ]
    ).flatmap(lambda token: st.just(token) | HEADER_TEXT.map(lambda s: token + s)),
    max_size=4,
).map(", ".join)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    method=st.sampled_from(["POST", "PUT", "PATCH"]),
    content_type=BODY_TYPES,
    body=FRAGMENT,
    prefer=PREFER,
)
async def test_random_bodies_and_preferences(
    client: httpx.AsyncClient, method: str, content_type: str, body: str, prefer: str
) -> None:
    response = await client.request(
        method,
        "/notes?id=eq.1",
        content=body.encode(),
        headers={**bearer(ALICE), "Content-Type": content_type, "Prefer": prefer},
    )

    assert response.status_code < 500, (method, body, prefer, response.text)
    if response.status_code < 300 and response.content:
        for row in response.json():
            assert row.get("user_id", ALICE) == ALICE
