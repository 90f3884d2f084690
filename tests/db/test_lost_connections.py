"""A database that drops every pooled connection (a restart, a failover): one
request gets a clear 503, the pool checks its other connections, and the next
requests work. Connections are dropped with ``pg_terminate_backend`` on a pool
of the test's own, found by its application name."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import jwt
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from rowgate.dataapi.config import DataApiConfig
from rowgate.db.pools import connection_lost
from tests.auth.support import client_for, make_options, sign_up, unique_email
from tests.dataapi.conftest import client_with

SECRET = "s" * 40


@asynccontextmanager
async def own_pool(url: str) -> AsyncIterator[tuple[AsyncConnectionPool[Any], str]]:
    name = f"rowgate-lost-{secrets.token_hex(4)}"
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        url, min_size=2, max_size=2, kwargs={"application_name": name}, open=False
    )
    await pool.open(wait=True)
    try:
        yield pool, name
    finally:
        await pool.close()


def drop_connections(owner_url: str, name: str) -> int:
    with psycopg.connect(owner_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = %s",
            (name,),
        ).fetchall()
    return len(rows)


async def settle(pool: AsyncConnectionPool[Any]) -> None:
    """Wait until the pool again holds its two connections, idle and alive."""
    for _ in range(100):
        stats = pool.get_stats()
        if stats.get("pool_available", 0) == 2:
            return
        await asyncio.sleep(0.05)


async def test_the_auth_core_answers_503_then_recovers(database_url: str) -> None:
    async with (
        own_pool(database_url) as (pool, name),
        client_for(pool, make_options()) as client,
    ):
        assert (await sign_up(client, unique_email())).status_code == 200
        assert drop_connections(database_url, name) == 2

        lost = await sign_up(client, unique_email())
        await settle(pool)
        client.cookies.clear()
        after = await sign_up(client, unique_email())

    assert lost.status_code == 503
    assert lost.json() == {
        "message": "The database is unavailable. Please try again.",
        "code": "DATABASE_UNAVAILABLE",
    }
    assert lost.headers["retry-after"] == "1"
    # The other dead connection was replaced before anyone drew it.
    assert after.status_code == 200


async def test_the_data_api_answers_503_then_recovers(
    database_url: str, authenticator_url: str
) -> None:
    token = jwt.encode({"role": "anon"}, SECRET, "HS256")
    headers = {"Authorization": f"Bearer {token}"}
    config = DataApiConfig(jwt_secret=SECRET)
    async with (
        own_pool(authenticator_url) as (pool, name),
        client_with(pool, config) as http,
    ):
        # requesting_user_id() comes with the bootstrap: a cheap round trip.
        assert (await http.get("/rpc/requesting_user_id", headers=headers)).is_success
        assert drop_connections(database_url, name) == 2

        lost = await http.get("/rpc/requesting_user_id", headers=headers)
        await settle(pool)
        after = await http.get("/rpc/requesting_user_id", headers=headers)

    assert lost.status_code == 503
    assert lost.json()["code"] in ("PGRST000", "57P01")
    assert after.status_code == 200


@pytest.mark.parametrize(
    ("error", "lost"),
    [
        (psycopg.OperationalError("server closed the connection"), True),
        (PoolTimeout("no connection"), True),
        (psycopg.errors.AdminShutdown("terminating"), True),
        (psycopg.errors.ConnectionFailure("gone"), True),
        (psycopg.errors.QueryCanceled("statement timeout"), False),
        (psycopg.errors.UniqueViolation("taken"), False),
        (ValueError("a bug"), False),
    ],
)
def test_which_errors_mean_a_lost_connection(error: Exception, lost: bool) -> None:
    assert connection_lost(error) is lost
