"""Fixtures for the auth tests: one pool on the session's database, and a
client per test (each with its own cookie jar)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from tests.auth.outbox import Outbox, mail_client
from tests.auth.support import client_for


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    pool = AsyncConnectionPool(database_url, min_size=1, max_size=12, open=False)
    await pool.open(wait=True, timeout=15)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def client(pool: AsyncConnectionPool) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(pool) as client:
        yield client


@pytest.fixture
def outbox() -> Outbox:
    """The reset and verification mails an app under test sent."""
    return Outbox()


@pytest.fixture
async def mailer(
    pool: AsyncConnectionPool, outbox: Outbox
) -> AsyncIterator[httpx.AsyncClient]:
    """A client for an app that mails into ``outbox``."""
    async with mail_client(pool, outbox) as client:
        yield client
