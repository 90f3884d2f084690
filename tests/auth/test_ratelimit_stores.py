"""The shared rate-limit stores: Better Auth's ``rateLimit`` table and Redis,
each shared by two app instances (as by two workers)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from rowgate.auth.app import Auth
from rowgate.auth.options import RateLimitOptions, RateLimitRule
from rowgate.auth.ratelimit import Decision, PostgresStore, RedisStore
from tests.auth.support import ORIGIN, make_app, make_options
from tests.auth.test_ratelimit import OK_RULE, random_ip

REDIS_URL = "redis://127.0.0.1:6379/0"
RULE = RateLimitRule(window=10, max=3)


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (RedisConnectionError, OSError):
        pytest.skip("Redis is not running on 127.0.0.1:6379 (.ci/run starts it)")
    finally:
        await client.aclose()
    yield REDIS_URL


def worker(pool: AsyncConnectionPool, storage: str) -> Auth:
    rate_limit = RateLimitOptions(
        enabled=True,
        custom_rules=OK_RULE,
        storage=storage,  # type: ignore[arg-type]
        redis_url=REDIS_URL,
    )
    return Auth(make_options(rate_limit=rate_limit), pool)


async def two_workers_share_a_bucket(pool: AsyncConnectionPool, storage: str) -> None:
    first, second = worker(pool, storage), worker(pool, storage)
    peer = (random_ip(), 40000)
    try:
        async with (
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=make_app(first), client=peer),
                base_url=ORIGIN,
            ) as a,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=make_app(second), client=peer),
                base_url=ORIGIN,
            ) as b,
        ):
            codes = [
                (await a.get("/api/auth/ok")).status_code,
                (await b.get("/api/auth/ok")).status_code,
                (await b.get("/api/auth/ok")).status_code,
                (await a.get("/api/auth/ok")).status_code,
            ]
            refused = await a.get("/api/auth/ok")
    finally:
        await first.aclose()
        await second.aclose()
    assert codes == [200, 200, 429, 429]
    assert 1 <= int(refused.headers["x-retry-after"]) <= 60


def test_rate_limit_table_has_better_auths_shape(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
            " WHERE table_schema = 'better_auth' AND table_name = 'rateLimit'"
            " ORDER BY ordinal_position"
        ).fetchall()
    assert rows == [
        ("id", "text", "NO"),
        ("key", "text", "NO"),
        ("count", "integer", "NO"),
        ("lastRequest", "bigint", "NO"),
    ]


async def test_postgres_store_is_shared_by_two_workers(
    pool: AsyncConnectionPool,
) -> None:
    await two_workers_share_a_bucket(pool, "database")


async def test_postgres_store_counts_as_better_auth_does(
    pool: AsyncConnectionPool,
) -> None:
    store = PostgresStore(pool)
    key = f"{random_ip()}|/sign-in/email"
    base = 1_900_000_000_000
    allowed = [await store.consume(key, RULE, base + n * 1000) for n in range(3)]
    assert all(d.allowed for d in allowed)
    assert await store.consume(key, RULE, base + 3000) == Decision(False, 9)
    assert (await store.consume(key, RULE, base + 12_000)).allowed
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                'SELECT count, "lastRequest" FROM better_auth."rateLimit"'
                " WHERE key = %s",
                (key,),
            )
        ).fetchone()
    assert row == (1, base + 12_000)


async def test_postgres_store_admits_exactly_max_of_a_burst(
    pool: AsyncConnectionPool,
) -> None:
    store = PostgresStore(pool)
    key = f"{random_ip()}|/ok"
    now = 1_900_000_000_000
    decisions = await asyncio.gather(
        *(store.consume(key, RULE, now) for _ in range(10))
    )
    assert sum(d.allowed for d in decisions) == 3


async def test_redis_store_is_shared_by_two_workers(
    pool: AsyncConnectionPool, redis_url: str
) -> None:
    await two_workers_share_a_bucket(pool, "redis")


async def test_redis_store_counts_as_better_auth_does(redis_url: str) -> None:
    store = RedisStore.from_url(redis_url)
    key = f"{random_ip()}|{secrets.token_hex(4)}"
    now = 1_900_000_000_000
    try:
        allowed = [await store.consume(key, RULE, now + n * 1000) for n in range(3)]
        refused = await store.consume(key, RULE, now + 3000)
        reopened = await store.consume(key, RULE, now + 12_000)
        burst = await asyncio.gather(
            *(store.consume(key + ":burst", RULE, now) for _ in range(10))
        )
    finally:
        await store.aclose()
    assert all(d.allowed for d in allowed)
    assert refused == Decision(False, 9)
    assert reopened.allowed
    assert sum(d.allowed for d in burst) == 3


async def test_an_unreachable_store_refuses_with_503_not_500(
    pool: AsyncConnectionPool, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens on port 1: every consume fails to connect.
    rate_limit = RateLimitOptions(
        enabled=True,
        custom_rules=OK_RULE,
        storage="redis",
        redis_url="redis://127.0.0.1:1/0",
    )
    auth = Auth(make_options(rate_limit=rate_limit), pool)
    transport = httpx.ASGITransport(app=make_app(auth), client=(random_ip(), 40000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as http:
            response = await http.get("/api/auth/ok")
    finally:
        await auth.aclose()

    assert response.status_code == 503
    assert response.json()["code"] == "RATE_LIMIT_UNAVAILABLE"
    assert response.headers["retry-after"] == "5"
    assert "rate limit store unavailable" in caplog.text
