"""Telling a lost database connection from an error in SQL, and recovering.

When Postgres restarts (or fails over), every idle connection in a pool is dead,
and psycopg's pool only finds out when one is used: each of the next requests
would fail in turn. ``connection_lost`` says whether an exception means the
connection, not the statement, failed; ``PoolRecovery`` then has the pool test
its idle connections once in the background, so one request pays instead of a
whole pool's worth.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

logger = logging.getLogger("rowgate.db")

# Seconds a request waits for a pooled connection before it gives up with a 503
# (PostgREST's db-pool-acquisition-timeout): a database that is down, or a pool
# that is exhausted, answers quickly instead of after psycopg's 30 s.
POOL_TIMEOUT_SECONDS = 10.0

# SQLSTATEs of a connection going away: the 08 class, and the server shutting
# down or still starting (57P01-57P03).
_LOST_CLASSES = ("08",)
_LOST_STATES = frozenset({"57P01", "57P02", "57P03"})


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` means the database could not be reached or dropped us."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    if state is None:
        return True  # raised by the client: the socket closed or never opened
    return state.startswith(_LOST_CLASSES) or state in _LOST_STATES


class PoolRecovery:
    """Checks ``pool``'s idle connections after a lost one, one check at a time."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool
        self._task: asyncio.Task[None] | None = None

    def connection_lost(self) -> None:
        if self._task is not None and not self._task.done():
            return
        self._task = asyncio.get_running_loop().create_task(self._check())

    async def _check(self) -> None:
        try:
            await self.pool.check()
        except Exception as exc:  # the check is best effort; requests go on
            logger.warning("checking the %s pool failed: %s", self.pool.name, exc)
        else:
            logger.info("checked the %s pool after a lost connection", self.pool.name)
