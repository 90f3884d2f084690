"""The project's anon keys: one current key, and retired keys in their grace period.

The anon key ships to browsers, so it is not a secret, but it is the credential
that turns an anonymous request into the ``anon`` role, and a project must be able
to replace it without breaking clients that still hold the old one. Rotation
makes a fresh key current and lets the previous ones work until their grace period
ends.

Keys live in ``rowgate.anon_keys``, written through the owner's pool (the data
API's ``authenticator`` cannot read that schema). Each backend process holds the
accepted keys in memory, so checking a request costs no query; it reloads them
after its own rotations and every ``refresh_interval`` seconds, so the other
processes of a deployment follow within that interval.

The key in the environment (``INSFORGE_ANON_KEY``) seeds the table on first start
and is honoured while it has not been retired; once rotated out, it stops working
when its grace period ends even if the environment still names it, and the
backend says so in its log.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from rowgate.config import new_anon_key

logger = logging.getLogger("rowgate.admin")

SCHEMA = "rowgate"
TABLE = "anon_keys"
DEFAULT_GRACE = timedelta(hours=24)
MAX_GRACE = timedelta(days=30)

_TARGET = sql.Identifier(SCHEMA, TABLE)


@dataclass(frozen=True)
class AnonKey:
    """One stored key; ``expires_at`` is None for the current key."""

    key: str
    created_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True)
class Rotation:
    """The outcome of a rotation: the new key and when the old ones stop working."""

    anon_key: str
    previous_expire_at: datetime | None


class AnonKeyRing:
    """The accepted anon keys of one project, backed by ``rowgate.anon_keys``."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        configured_key: str,
        *,
        refresh_interval: float = 30.0,
    ) -> None:
        self._pool = pool
        self._configured = configured_key
        self._refresh_interval = refresh_interval
        self._keys: list[AnonKey] = []
        self._refresher: asyncio.Task[None] | None = None

    @property
    def current(self) -> str:
        """The key clients should use now."""
        for key in self._keys:
            if key.expires_at is None:
                return key.key
        return self._configured

    def accepts(self, presented: str) -> bool:
        """Whether ``presented`` is a key that works now, compared in constant time.

        Synchronous and query-free: it runs on every anonymous request.
        """
        now = datetime.now().astimezone()
        found = False
        for key in self._keys:
            alive = key.expires_at is None or key.expires_at > now
            same = hmac.compare_digest(presented.encode(), key.key.encode())
            found = found or (alive and same)
        return found

    async def start(self) -> None:
        """Create the table if needed, seed it, load it, and keep it fresh."""
        async with self._pool.connection() as conn:
            await conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA))
            )
            await conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    " key text PRIMARY KEY CHECK (key ~ '^anon_[0-9a-f]{{64}}$'),"
                    " created_at timestamptz NOT NULL DEFAULT now(),"
                    " expires_at timestamptz)"
                ).format(_TARGET)
            )
            if self._configured:
                # Only a key never seen before is added: a retired key stays
                # retired whatever the environment still says.
                await conn.execute(
                    sql.SQL(
                        "INSERT INTO {} (key) VALUES (%s) ON CONFLICT (key) DO NOTHING"
                    ).format(_TARGET),
                    (self._configured,),
                )
        await self.reload()
        if self._configured and not self.accepts(self._configured):
            logger.warning(
                "INSFORGE_ANON_KEY was rotated out and no longer works; "
                "fetch the current key with GET /api/metadata/anon-key"
            )
        self._refresher = asyncio.create_task(self._refresh_forever())

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None

    async def reload(self) -> None:
        """Read the keys that still work (or may, for the current one)."""
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                sql.SQL(
                    "SELECT key, created_at, expires_at FROM {}"
                    " WHERE expires_at IS NULL OR expires_at > now()"
                    " ORDER BY created_at DESC"
                ).format(_TARGET)
            )
            rows = await cur.fetchall()
        self._keys = [AnonKey(**row) for row in rows]

    async def rotate(self, grace: timedelta = DEFAULT_GRACE) -> Rotation:
        """Make a fresh key current; the current ones work for ``grace`` more."""
        if grace < timedelta(0) or grace > MAX_GRACE:
            raise ValueError(f"the grace period must be between 0 and {MAX_GRACE}")
        fresh = new_anon_key()
        async with self._pool.connection() as conn, conn.transaction():
            # Serialise concurrent rotations so exactly one key ends up current.
            await conn.execute(
                sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(_TARGET)
            )
            cur = await conn.execute(
                sql.SQL(
                    "UPDATE {} SET expires_at = now() + %s"
                    " WHERE expires_at IS NULL OR expires_at > now() + %s"
                    " RETURNING expires_at"
                ).format(_TARGET),
                (grace, grace),
            )
            retired = [row[0] for row in await cur.fetchall()]
            await conn.execute(
                sql.SQL("INSERT INTO {} (key) VALUES (%s)").format(_TARGET), (fresh,)
            )
        await self.reload()
        logger.info("anon key rotated; previous keys work for %s", grace)
        return Rotation(fresh, max(retired) if retired else None)

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_interval)
            try:
                await self.reload()
            except Exception:
                # A database hiccup must not stop the loop: the keys already
                # loaded stay in force until the next attempt succeeds.
                logger.warning("could not reload the anon keys", exc_info=True)
