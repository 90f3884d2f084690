"""The data API harness: fixture tables, a 2-connection pool and an ASGI client.

The API is mounted at ``/api/database`` inside a Starlette app, as the backend
does, and driven in-process through httpx. Tokens are signed here with PyJWT so
the tests do not share code with the verifier under test.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.routing import Mount

from rowgate.dataapi.app import DataApi
from rowgate.dataapi.config import DataApiConfig

SECRET = "s" * 40
ANON_KEY = "anon_" + "ab" * 32
BASE = "http://testserver/api/database/records"
# Clients may choose the transaction's end here, so that tx=rollback is testable.
CONFIG = DataApiConfig(
    jwt_secret=SECRET, anon_key=ANON_KEY, tx_end="commit-allow-override"
)


def token(sub: str | None = None, *, secret: str = SECRET, **claims: Any) -> str:
    """A signed token; ``role`` defaults to authenticated and ``exp`` to +1h."""
    payload: dict[str, Any] = {"role": "authenticated", "exp": int(time.time()) + 3600}
    if sub is not None:
        payload["sub"] = sub
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, secret, algorithm="HS256")


def bearer(sub: str | None = None, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(sub, **claims)}"}


def new_user() -> str:
    """A Better Auth-style id: 32 alphanumerics, not a UUID."""
    return uuid.uuid4().hex


@pytest.fixture(scope="session")
def dataapi_database(database_url: str) -> str:
    sql_text = (Path(__file__).parent / "fixtures.sql").read_text()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql_text.encode())
    return database_url


@pytest.fixture(scope="session")
async def pool(
    authenticator_url: str, dataapi_database: str
) -> AsyncIterator[AsyncConnectionPool[Any]]:
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        authenticator_url, min_size=2, max_size=2, open=False
    )
    await pool.open()
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def api(pool: AsyncConnectionPool[Any]) -> AsyncIterator[DataApi]:
    data_api = DataApi(CONFIG, pool)
    await data_api.startup()
    yield data_api
    await data_api.shutdown()


@pytest.fixture(scope="session")
async def client(api: DataApi) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=[Mount("/api/database", app=api)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        yield http


@pytest.fixture
def owner(dataapi_database: str) -> psycopg.Connection[Any]:
    """A connection as the database owner, to look behind RLS."""
    with psycopg.connect(dataapi_database, autocommit=True) as conn:
        yield conn  # type: ignore[misc]


@asynccontextmanager
async def client_with(
    pool: AsyncConnectionPool[Any], config: DataApiConfig
) -> AsyncIterator[httpx.AsyncClient]:
    """A client for a second data API over the same pool, configured otherwise."""
    data_api = DataApi(config, pool)
    await data_api.startup()
    app = Starlette(routes=[Mount("/api/database", app=data_api)])
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            yield http
    finally:
        await data_api.shutdown()
