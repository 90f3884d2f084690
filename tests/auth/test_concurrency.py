"""Races and the event loop: one user per email, hashing off the loop."""

from __future__ import annotations

import asyncio
import time

import httpx
from psycopg_pool import AsyncConnectionPool

from tests.auth.support import client_for, sign_in, sign_up, unique_email


async def test_ten_parallel_sign_ups_make_one_user(pool: AsyncConnectionPool) -> None:
    email = unique_email("race")
    async with client_for(pool) as client:
        responses = await asyncio.gather(*(sign_up(client, email) for _ in range(10)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [422] * 9
    codes = {r.json()["code"] for r in responses if r.status_code == 422}
    assert codes <= {"USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", "FAILED_TO_CREATE_USER"}
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT count(*) FROM better_auth.user u"
            ' JOIN better_auth.account a ON a."userId" = u.id'
            ' JOIN better_auth.session s ON s."userId" = u.id WHERE u.email = %s',
            (email,),
        )
        assert await cursor.fetchone() == (1,)


async def test_get_session_answers_while_sign_ins_hash(
    client: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    email = unique_email()
    await sign_up(client, email)
    async with client_for(pool) as others:
        started = time.perf_counter()
        hashing = [asyncio.create_task(sign_in(others, email)) for _ in range(8)]
        await asyncio.sleep(0.01)
        response = await client.get("/api/auth/get-session")
        answered = time.perf_counter() - started
        still_hashing = sum(not task.done() for task in hashing)
        await asyncio.gather(*hashing)
        all_done = time.perf_counter() - started
    assert response.json() is not None
    assert still_hashing > 0
    assert answered < all_done / 2
