"""Run one request as one transaction: the only module here that does I/O.

The transaction sets role, claims and request settings in one statement, runs the
main statement, lets the caller inspect the result (raising rolls everything
back, as for singular-object and max-affected checks), and commits. Postgres
failures become ``DatabaseError`` carrying the SQLSTATE and Postgres' own message,
detail and hint; connection failures become PGRST000/PGRST003.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from rowgate.dataapi.errors import ApiError, DatabaseError, UnavailableError
from rowgate.dataapi.query import Statement

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


Check = Callable[[Result], None]


async def run(
    pool: AsyncConnectionPool[Any],
    settings: Statement,
    main: Statement,
    *,
    read_only: bool,
    anonymous: bool,
    check: Check | None = None,
) -> Result:
    """Run ``settings`` then ``main`` in one transaction and return its one row."""
    try:
        async with pool.connection() as conn:
            await conn.set_read_only(read_only)
            async with conn.transaction():
                cur = conn.cursor()
                await cur.execute(settings.query, settings.params)
                await cur.execute(main.query, main.params)
                row = await cur.fetchone()
                assert row is not None  # the main statement aggregates to one row
                result = Result(*row)
                if check is not None:
                    check(result)
            return result
    except ApiError:
        raise
    except PoolTimeout:
        raise UnavailableError(
            "PGRST003", "Timed out acquiring connection from connection pool."
        ) from None
    except psycopg.Error as exc:
        raise _database_error(exc, anonymous=anonymous) from None


def _database_error(exc: psycopg.Error, *, anonymous: bool) -> ApiError:
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
