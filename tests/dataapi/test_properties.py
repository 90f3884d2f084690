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
