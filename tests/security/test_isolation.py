"""No leakage between requests on shared connections (#7, area 2).

The data API's pool holds exactly 2 connections. User A, user B and an anonymous
visitor ask for the board at the same time, 1,000 rounds over, so the three
requests contend for the two connections and each connection serves every identity
in turn; every tenth round user A also sends a request that fails inside its
transaction. Each answer must hold only its own rows, and between rounds both
connections must carry nothing over: ``request.jwt.claims`` and the other request
settings (headers, cookies, method, path) read back empty, ``requesting_user_id()``
is NULL (not an error) and the role is the authenticator's own.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import psycopg
from psycopg_pool import AsyncConnectionPool

from tests.security.conftest import bearer

ROUNDS = 1000
# A connection that never ran a request has no claims setting at all (NULL); one
# that did reads back the empty string: both count as empty.
CLEAN = ("", None, "authenticator", "none", "")

LEFTOVERS = """
SELECT current_setting('request.jwt.claims', true),
       public.requesting_user_id(),
       current_user,
       current_setting('role'),
       concat(current_setting('request.headers', true),
              current_setting('request.cookies', true),
              current_setting('request.method', true),
              current_setting('request.path', true))
"""


async def leftovers(pool: AsyncConnectionPool[Any]) -> list[tuple[Any, ...]]:
    """What each of the pool's connections holds, both taken at once."""
    async with pool.connection() as first, pool.connection() as second:
        rows = []
        for conn in (first, second):
            cur = await conn.execute(LEFTOVERS)
            rows.append(await cur.fetchone())
            await conn.rollback()
        return rows


def seed(owner: psycopg.Connection[Any], who: str | None, count: int) -> set[str]:
    bodies = {f"{who or 'anon'} {secrets.token_hex(4)}" for _ in range(count)}
    for body in bodies:
        owner.execute("INSERT INTO board (owner, body) VALUES (%s, %s)", (who, body))
    return bodies


async def test_alternating_identities_never_see_each_other(
    data: httpx.AsyncClient,
    api_pool: AsyncConnectionPool[Any],
    owner: psycopg.Connection[Any],
) -> None:
    assert api_pool.max_size == 2
    alice, bob = f"alice-{secrets.token_hex(4)}", f"bob-{secrets.token_hex(4)}"
    owner.execute("DELETE FROM board WHERE owner IS NULL")
    expected = {
        "alice": seed(owner, alice, 2),
        "bob": seed(owner, bob, 3),
        "anon": seed(owner, None, 1),
    }
    headers = {
        "alice": {**bearer(alice), "Cookie": f"sid={alice}", "X-Who": alice},
        "bob": {**bearer(bob), "Cookie": f"sid={bob}", "X-Who": bob},
        "anon": {},
    }

    for round_ in range(ROUNDS):
        names = list(headers)
        requests = [data.get("/board?select=body", headers=headers[n]) for n in names]
        if round_ % 10 == 0:
            failing = data.get("/board?id=eq.not-a-number", headers=headers["alice"])
            requests.append(failing)
        answers = await asyncio.gather(*requests)

        for name, answer in zip(names, answers, strict=False):
            assert answer.status_code == 200, (round_, name, answer.text)
            assert {row["body"] for row in answer.json()} == expected[name], round_
        if round_ % 10 == 0:
            assert answers[-1].status_code == 400
        for claims, user_id, user, role, request in await leftovers(api_pool):
            assert (claims or "", user_id, user, role, request) == CLEAN, round_
