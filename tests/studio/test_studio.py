"""Studio: only the admin key opens it; it browses better_auth with secrets masked."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette

from rowgate.studio.app import studio_routes
from rowgate.studio.browse import MASK

ADMIN_KEY = "ik_" + secrets.token_hex(32)
HASH = "a" * 32 + ":" + "b" * 128


@pytest.fixture(scope="module")
def user_email(database_url: str) -> str:
    email = f"studio-{secrets.token_hex(4)}@example.com"
    uid = secrets.token_hex(16)
    with psycopg.connect(database_url) as conn:
        conn.execute(
            'INSERT INTO better_auth."user" (id, name, email, "emailVerified")'
            " VALUES (%s, 'Studio User', %s, false)",
            (uid, email),
        )
        conn.execute(
            "INSERT INTO better_auth.account"
            ' (id, "accountId", "providerId", "userId", password, "updatedAt")'
            " VALUES (%s, %s, 'credential', %s, %s, now())",
            (secrets.token_hex(16), uid, uid, HASH),
        )
    return email


def _user_id_of(database_url: str, email: str) -> str:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            'SELECT id FROM better_auth."user" WHERE email = %s', (email,)
        ).fetchone()
    assert row is not None
    return str(row[0])


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    pool = AsyncConnectionPool(database_url, min_size=0, max_size=2, open=False)
    await pool.open()
    app = Starlette(routes=studio_routes(ADMIN_KEY, pool))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c
    await pool.close()


ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer anon_" + "0" * 64},
        {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"},
        {"x-api-key": "ik_" + "1" * 64},
    ],
    ids=["nothing", "anon-key", "user-token", "wrong-key"],
)
async def test_studio_refuses_everything_but_the_admin_key(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get(
        "/studio?schema=better_auth&table=user", headers=headers
    )
    assert response.status_code == 401
    assert "Sign in to Studio" in response.text
    assert "better_auth.user" not in response.text


async def test_the_schema_dropdown_lists_public_and_better_auth(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/studio", headers=ADMIN)
    assert response.status_code == 200
    assert '<option value="public" selected>' in response.text
    assert '<option value="better_auth"' in response.text
    assert '<option value="pg_catalog"' not in response.text


async def test_better_auth_tables_show_users_with_hashes_masked(
    client: httpx.AsyncClient, user_email: str, database_url: str
) -> None:
    # The session database holds other tests' accounts too: filter down to ours
    # so the row is on the first page whatever else is there.
    only_ours = f"fcol=userId&q={_user_id_of(database_url, user_email)}"
    tables = await client.get("/studio?schema=better_auth", headers=ADMIN)
    users = await client.get(
        f"/studio?schema=better_auth&table=user&fcol=email&q={user_email}",
        headers=ADMIN,
    )
    accounts = await client.get(
        f"/studio?schema=better_auth&table=account&{only_ours}", headers=ADMIN
    )
    revealed = await client.get(
        f"/studio?schema=better_auth&table=account&reveal=1&{only_ours}",
        headers=ADMIN,
    )

    for name in ("user", "session", "account", "verification"):
        assert f'data-table="{name}"' in tables.text
    assert user_email in users.text
    assert "1 row matching" in users.text
    assert HASH not in accounts.text
    assert MASK in accounts.text
    assert HASH in revealed.text


async def test_the_sign_in_form_starts_a_session(client: httpx.AsyncClient) -> None:
    wrong = await client.post("/studio/login", data={"key": "anon_nope"})
    right = await client.post("/studio/login", data={"key": ADMIN_KEY})
    cookie = right.cookies.get("rowgate_studio") or ""
    client.cookies.set("rowgate_studio", cookie, domain="t", path="/studio")
    page = await client.get("/studio")
    await client.post("/studio/logout")
    client.cookies.set("rowgate_studio", cookie, domain="t", path="/studio")
    after = await client.get("/studio")

    assert wrong.status_code == 401
    assert "not this project&#39;s admin key" in wrong.text
    assert right.status_code == 303
    assert "httponly" in right.headers["set-cookie"].lower()
    assert "samesite=strict" in right.headers["set-cookie"].lower()
    assert page.status_code == 200
    assert after.status_code == 401


async def test_sorting_and_paging_use_only_catalog_columns(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(
        '/studio?schema=better_auth&table=user&sort=email";drop table x;--&page=abc',
        headers=ADMIN,
    )
    assert response.status_code == 200
    assert "Page 1 of" in response.text
