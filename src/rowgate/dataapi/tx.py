"""Run one request as one transaction: the only module here that does I/O.

The transaction sets role, claims and request settings in one statement, calls
the pre-request function if one is configured, runs the main statement, lets the
caller inspect the result (raising rolls everything back, as for singular-object
and max-affected checks), and commits, or rolls back when ``Prefer: tx=rollback``
asked for it once deferred constraints have been checked. Postgres
failures become ``DatabaseError`` carrying the SQLSTATE and Postgres' own message,
detail and hint; connection failures become PGRST000/PGRST003.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from rowgate.dataapi.errors import (
    ApiError,
    DatabaseError,
    UnavailableError,
    nul_in_text,
)
from rowgate.dataapi.query import Statement
from rowgate.db.pools import connection_lost

logger = logging.getLogger("rowgate.dataapi")


@dataclass(frozen=True)
class Result:
    total: int | None
    page_total: int
    body: str
    location: str | None
    inserted: int | None
    response_headers: str | None
    response_status: str | None
    # The planner's row estimate, for ``count=planned|estimated``.
    planned: int | None = None


Check = Callable[[Result], None]

_ISOLATION_LEVELS = {
    "read uncommitted": psycopg.IsolationLevel.READ_UNCOMMITTED,
    "read committed": psycopg.IsolationLevel.READ_COMMITTED,
    "repeatable read": psycopg.IsolationLevel.REPEATABLE_READ,
    "serializable": psycopg.IsolationLevel.SERIALIZABLE,
}


async def run(
    pool: AsyncConnectionPool[Any],
    settings: Statement,
    main: Statement,
    *,
    read_only: bool,
    anonymous: bool,
    check: Check | None = None,
    before: Sequence[Statement] = (),
    rollback: bool = False,
    estimate: Statement | None = None,
    on_lost: Callable[[], None] | None = None,
    isolation: str | None = None,
) -> Result:
    """Run ``settings``, ``before`` and ``main`` in one transaction; return its row.

    ``isolation`` (a role's ``default_transaction_isolation``) is the level the
    transaction begins at; Postgres' default otherwise. ``on_lost`` is called when
    the failure was the connection's, not the SQL's.
    """
    level = _ISOLATION_LEVELS.get((isolation or "").strip().lower())
    try:
        async with pool.connection() as conn:
            await conn.set_read_only(read_only)
            if conn.isolation_level != level:
                await conn.set_isolation_level(level)
            async with conn.transaction():
                cur = conn.cursor()
                await cur.execute(settings.query, settings.params)
                for statement in before:
                    await cur.execute(statement.query, statement.params)
                await cur.execute(main.query, main.params)
                row = await cur.fetchone()
                assert row is not None  # the main statement aggregates to one row
                result = Result(*row)
                if estimate is not None:
                    await cur.execute(estimate.query, estimate.params)
                    explained = await cur.fetchone()
                    assert explained is not None  # EXPLAIN always answers
                    result = replace(result, planned=_plan_rows(explained[0]))
                if check is not None:
                    check(result)
                if rollback:
                    # A deferred constraint would fail at commit: let it fail now.
                    await cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
                    raise psycopg.Rollback()
            return result
    except ApiError:
        raise
    except PoolTimeout:
        raise UnavailableError(
            "PGRST003", "Timed out acquiring connection from connection pool."
        ) from None
    except psycopg.Error as exc:
        if on_lost is not None and connection_lost(exc):
            on_lost()
        raise _database_error(exc, anonymous=anonymous) from None


def _plan_rows(explained: Any) -> int:
    """The top node's row estimate from ``EXPLAIN (FORMAT JSON)`` output."""
    if isinstance(explained, str):
        explained = json.loads(explained)
    return int(explained[0]["Plan"]["Plan Rows"])


def _database_error(exc: psycopg.Error, *, anonymous: bool) -> ApiError:
    if exc.sqlstate is None and "NUL" in str(exc):
        # psycopg refuses a NUL in a text parameter (a CSV or form body, say)
        # before Postgres sees it; Postgres would have answered 22021.
        return nul_in_text(anonymous=anonymous)
    if exc.sqlstate is None:
        if isinstance(exc, psycopg.OperationalError):
            logger.warning("data API lost its database connection: %s", exc)
            return UnavailableError("PGRST000", "Database connection error.", str(exc))
        logger.error("data API database client error: %s", exc)
        return ApiError("PGRSTX00", "Database client error.")
    diag = exc.diag
    return DatabaseError(
        exc.sqlstate,
        diag.message_primary or str(exc),
        diag.message_detail,
        diag.message_hint,
        anonymous=anonymous,
    )
