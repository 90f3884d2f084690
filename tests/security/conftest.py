"""The security harness: one database set up as ``rowgate setup`` does, plus
``fixtures.sql``; the data API over a pool of exactly 2 authenticator connections;
the auth core and the bridge over a pool of their own.

Every pool names itself with ``application_name`` so a test can watch, in
``pg_stat_activity``, whether a request made any of its connections run a
statement. Tokens are signed here with PyJWT, independently of the code under test.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
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
from rowgate.provision import project_migrations, setup
from tests.auth.support import JWT_SECRET, client_for, sign_up, unique_email
from tests.conftest import throwaway_database, url_for

ANON_KEY = "anon_" + "5e" * 32
AUDIENCE = "insforge-api"
RECORDS = "http://testserver/api/database/records"
DATA_API_APP = "rowgate-security-dataapi"
AUTH_APP = "rowgate-security-auth"


def sign(claims: dict[str, Any], *, secret: str = JWT_SECRET, **header: Any) -> str:
    """An HS256 token over exactly ``claims``."""
    return jwt.encode(claims, secret, algorithm="HS256", headers=header or None)


def user_token(sub: str, **claims: Any) -> str:
    """What the bridge would give ``sub``; ``claims`` add to or replace its claims."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": sub,
        "role": "authenticated",
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 3600,
    }
    payload.update(claims)
    return sign(payload)


def bearer(sub: str, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {user_token(sub, **claims)}"}


@dataclass(frozen=True)
class Backend:
    """One server process's view in ``pg_stat_activity``."""

    pid: int
    state: str | None
    state_change: datetime | None
    query_start: datetime | None


def activity(owner: psycopg.Connection[Any], application: str) -> list[Backend]:
    """The backends of one pool, read in a fresh transaction (autocommit)."""
    rows = owner.execute(
        "SELECT pid, state, state_change, query_start FROM pg_stat_activity"
        " WHERE datname = current_database() AND application_name = %s"
        " ORDER BY pid",
        (application,),
    ).fetchall()
    return [Backend(*row) for row in rows]


@pytest.fixture(scope="session")
def security_database(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """A database brought up by the real ``setup`` chain, then ``fixtures.sql``."""
    project = tmp_path_factory.mktemp("security-project")
    with throwaway_database(bootstrap=False) as url:
        setup(url, project_migrations(project))
        fixtures = (Path(__file__).parent / "fixtures.sql").read_text()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(fixtures.encode())
        yield url


@pytest.fixture
def owner(security_database: str) -> Iterator[psycopg.Connection[Any]]:
    """The database owner, to look behind row level security."""
    with psycopg.connect(security_database, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
async def api_pool(security_database: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    conninfo = url_for(
        security_database, user="authenticator", application_name=DATA_API_APP
    )
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        conninfo, min_size=2, max_size=2, open=False
    )
    await pool.open(wait=True, timeout=15)
    yield pool
    await pool.close()


def _client(api: DataApi) -> httpx.AsyncClient:
    app = Starlette(routes=[Mount("/api/database", app=api)])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=RECORDS)


@pytest.fixture(scope="session")
async def data(api_pool: AsyncConnectionPool[Any]) -> AsyncIterator[httpx.AsyncClient]:
    """The data API configured as the backend configures it (no audience)."""
    api = DataApi(DataApiConfig(jwt_secret=JWT_SECRET, anon_key=ANON_KEY), api_pool)
    await api.startup()
    async with _client(api) as client:
        yield client
    await api.shutdown()


@pytest.fixture(scope="session")
async def data_aud(
    api_pool: AsyncConnectionPool[Any],
) -> AsyncIterator[httpx.AsyncClient]:
    """The data API with the bridge's audience required."""
    config = DataApiConfig(jwt_secret=JWT_SECRET, anon_key=ANON_KEY, jwt_aud=AUDIENCE)
    api = DataApi(config, api_pool)
    await api.startup()
    async with _client(api) as client:
        yield client
    await api.shutdown()


@pytest.fixture(scope="session")
async def auth_pool(security_database: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    conninfo = url_for(security_database, application_name=AUTH_APP)
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        conninfo, min_size=2, max_size=4, open=False
    )
    await pool.open(wait=True, timeout=15)
    yield pool
    await pool.close()


@pytest.fixture
async def web(auth_pool: AsyncConnectionPool[Any]) -> AsyncIterator[httpx.AsyncClient]:
    """A browser on the app: the auth core and the bridge, with a cookie jar."""
    async with client_for(auth_pool) as client:
        yield client


@dataclass(frozen=True)
class User:
    """A signed-up user and the token the bridge gave them."""

    id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def signed_up(auth_pool: AsyncConnectionPool[Any]) -> User:
    """Sign up through the auth core and fetch a token from the bridge."""
    async with client_for(auth_pool) as browser:
        created = await sign_up(browser, unique_email("security"))
        minted = await browser.get("/api/insforge-token")
    assert created.status_code == 200, created.text
    assert minted.status_code == 200, minted.text
    return User(created.json()["user"]["id"], minted.json()["token"])
