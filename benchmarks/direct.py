"""The physical limit for a data API read: the same transaction, straight from a
psycopg pool, in its own process.

``python -m benchmarks.direct`` reads a JSON spec on stdin (``url`` of the
authenticator login, ``claims`` — one JSON claim set per user —, ``concurrency``,
``duration``, ``warmup``, ``pool_size``, and ``pipeline`` to send the statements
in psycopg's pipeline mode) and prints a ``loadgen.Summary``. Each
transaction is read-only and does what the data API does for ``GET
/records/posts``, minus HTTP: switch role and set ``request.jwt.claims`` in one
statement, then render the visible rows as one JSON text.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import asdict
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from benchmarks.loadgen import Summary, cpu_seconds, per_request_ms, percentile

SETTINGS = (
    "SELECT pg_catalog.set_config('role', 'authenticated', true), "
    "pg_catalog.set_config('request.jwt.claims', %s, true)"
)
READ = "SELECT coalesce(json_agg(t), '[]')::text FROM (SELECT * FROM public.posts) AS t"


async def _read_only(conn: AsyncConnection[Any]) -> None:
    await conn.set_read_only(True)


async def _plain(conn: AsyncConnection[Any], claim: str) -> Any:
    """Four round trips: BEGIN, the settings, the read, COMMIT."""
    async with conn.transaction():
        cur = conn.cursor()
        await cur.execute(SETTINGS, (claim,))
        await cur.execute(READ)
        return await cur.fetchone()


async def _pipelined(conn: AsyncConnection[Any], claim: str) -> Any:
    """Two round trips: BEGIN, settings and read in one flush, then COMMIT."""
    async with conn.pipeline(), conn.transaction():
        cur = conn.cursor()
        await cur.execute(SETTINGS, (claim,))
        await cur.execute(READ)
        return await cur.fetchone()


async def _worker(
    pool: AsyncConnectionPool[Any],
    pipeline: bool,
    claims: list[str],
    index: int,
    latencies: list[float],
    window: tuple[float, float],
    sent: list[int],
) -> int:
    measure_from, deadline = window
    rows_seen = 0
    while (started := time.perf_counter()) < deadline:
        claim = claims[index % len(claims)]
        index += 1
        async with pool.connection() as conn:
            row = await (_pipelined if pipeline else _plain)(conn, claim)
        rows_seen = len(json.loads(row[0])) if row else 0
        sent[0] += 1
        if started >= measure_from:
            latencies.append((time.perf_counter() - started) * 1000.0)
    return rows_seen


async def run(spec: dict[str, Any]) -> Summary:
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        spec["url"],
        min_size=spec["pool_size"],
        max_size=spec["pool_size"],
        configure=_read_only,
        open=False,
    )
    await pool.open(wait=True, timeout=15)
    cpu_before = cpu_seconds()
    latencies: list[float] = []
    sent = [0]
    measure_from = time.perf_counter() + spec["warmup"]
    window = (measure_from, measure_from + spec["duration"])
    try:
        seen = await asyncio.gather(
            *(
                _worker(
                    pool,
                    spec.get("pipeline", False),
                    spec["claims"],
                    i,
                    latencies,
                    window,
                    sent,
                )
                for i in range(spec["concurrency"])
            )
        )
    finally:
        await pool.close()
    elapsed = max(time.perf_counter() - measure_from, 1e-9)
    latencies.sort()
    wrong = sum(1 for count in seen if count != spec["rows"])
    return Summary(
        requests=len(latencies),
        sent=sent[0],
        client_cpu_ms=per_request_ms(cpu_seconds() - cpu_before, sent[0]),
        errors=wrong,
        statuses={"ok": len(latencies)},
        seconds=round(elapsed, 3),
        rps=round(len(latencies) / elapsed, 1),
        p50_ms=round(percentile(latencies, 0.50), 3),
        p90_ms=round(percentile(latencies, 0.90), 3),
        p99_ms=round(percentile(latencies, 0.99), 3),
        max_ms=round(latencies[-1] if latencies else 0.0, 3),
        first_error=f"{wrong} workers saw a wrong row count" if wrong else None,
    )


def main() -> None:
    summary = asyncio.run(run(json.load(sys.stdin)))
    json.dump(asdict(summary), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
