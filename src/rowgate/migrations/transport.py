"""Where migrations are applied: directly over a database connection, or through a
backend's admin HTTP API when the database is not reachable from here.

Both implement ``engine.Transport``; the engine decides what to apply, a transport
only applies it. The HTTP shapes are InsForge's (``GET``/``POST
/api/database/migrations``), with the checksum added so drift is detected remotely
too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import httpx
import psycopg
from psycopg import sql

from rowgate.migrations.engine import (
    ADVISORY_LOCK_KEY,
    TRACKING_SCHEMA,
    TRACKING_TABLE,
    AppliedMigration,
    MigrationError,
)
from rowgate.migrations.files import (
    MigrationFile,
    split_statements,
    transaction_control,
)

logger = logging.getLogger("rowgate.migrations")

# client_connection_check_interval exists from PostgreSQL 14 on.
CLIENT_CHECK_SINCE = 140000
CLIENT_CHECK_INTERVAL = "1s"


class DirectTransport:
    """Applies migrations over a direct connection to the database."""

    def __init__(self, conninfo: str, *, connect_timeout: int = 10) -> None:
        self._conninfo = conninfo
        self._connect_timeout = connect_timeout
        self._conn: psycopg.Connection[Any] | None = None

    def __enter__(self) -> DirectTransport:
        self._conn = psycopg.connect(
            self._conninfo, autocommit=True, connect_timeout=self._connect_timeout
        )
        self._watch_client()
        self._ensure_tracking_table()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None:
            raise MigrationError("the transport is not open")
        return self._conn

    def _watch_client(self) -> None:
        # A runner killed mid-statement leaves its server process running that
        # statement, holding the advisory lock, until the statement ends (hours for
        # a big index); its work is rolled back anyway. Have the server check the
        # socket so the next runner gets the lock within seconds.
        if self.conn.info.server_version >= CLIENT_CHECK_SINCE:
            self.conn.execute(
                "SELECT set_config('client_connection_check_interval', %s, false)",
                (CLIENT_CHECK_INTERVAL,),
            )

    def _ensure_tracking_table(self) -> None:
        with self.conn.transaction():
            # IF NOT EXISTS still races between two first runners: serialise them.
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
            self.conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                    sql.Identifier(TRACKING_SCHEMA)
                )
            )
            self.conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    " version text PRIMARY KEY CHECK (version ~ '^[0-9]{{1,64}}$'),"
                    " name text NOT NULL,"
                    " checksum text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now(),"
                    " duration_ms integer NOT NULL,"
                    " statements text[] NOT NULL DEFAULT '{{}}')"
                ).format(_tracking_table())
            )

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        try:
            yield
        finally:
            self.conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))

    def history(self) -> list[dict[str, Any]]:
        """The history in the admin API's shape, newest first."""
        rows = self.conn.execute(
            sql.SQL(
                "SELECT version, name, statements, applied_at, checksum FROM {}"
                " ORDER BY version::numeric DESC"
            ).format(_tracking_table())
        ).fetchall()
        return [
            {
                "version": r[0],
                "name": r[1],
                "statements": r[2],
                "createdAt": r[3].isoformat(),
                "checksum": r[4],
            }
            for r in rows
        ]

    def applied(self) -> list[AppliedMigration]:
        rows = self.conn.execute(
            sql.SQL(
                "SELECT version, name, checksum, applied_at, duration_ms FROM {}"
                " ORDER BY version::numeric"
            ).format(_tracking_table())
        ).fetchall()
        return [AppliedMigration(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows]

    def apply(self, migration: MigrationFile) -> AppliedMigration:
        control = (
            transaction_control(migration.sql) if migration.transactional else None
        )
        if control is not None:
            statement = control.splitlines()[0][:60]
            raise MigrationError(
                f"Migration {migration.filename} was not applied: it runs in one "
                f"transaction, which its statement {statement!r} would begin or end "
                "early; remove that statement, or mark the file "
                "`-- rowgate: no-transaction`"
            )
        logger.info("applying migration %s", migration.filename)
        started = time.monotonic()
        try:
            if migration.transactional:
                with self.conn.transaction():
                    self._run(migration)
                    return self._record(migration, started)
            self._run(migration)
            return self._record(migration, started)
        except psycopg.Error as exc:
            raise MigrationError(
                f"Migration {migration.filename} failed and was not applied: "
                f"{_describe(exc)}"
            ) from exc
        finally:
            self.conn.execute("RESET ROLE")

    def accept(self, migration: MigrationFile) -> None:
        self.conn.execute(
            sql.SQL("UPDATE {} SET checksum = %s WHERE version = %s").format(
                _tracking_table()
            ),
            (migration.checksum, migration.canonical_version),
        )
        logger.warning("accepted the edited migration %s", migration.filename)

    def _run(self, migration: MigrationFile) -> None:
        if not migration.as_owner:
            self.conn.execute("SET ROLE project_admin")
        if migration.transactional:
            # One simple-protocol query: it may hold many statements and
            # dollar-quoted bodies, and takes no parameters.
            self.conn.execute(migration.sql.encode("utf-8"))
        else:
            # Postgres wraps a multi-statement query in an implicit transaction,
            # which CREATE INDEX CONCURRENTLY refuses: send statements one by one.
            for statement in split_statements(migration.sql):
                self.conn.execute(statement.encode("utf-8"))
        self.conn.execute("RESET ROLE")

    def _record(self, migration: MigrationFile, started: float) -> AppliedMigration:
        duration = int((time.monotonic() - started) * 1000)
        row = self.conn.execute(
            sql.SQL(
                "INSERT INTO {} (version, name, checksum, duration_ms, statements)"
                " VALUES (%s, %s, %s, %s, %s) RETURNING applied_at"
            ).format(_tracking_table()),
            (
                migration.canonical_version,
                migration.name,
                migration.checksum,
                duration,
                split_statements(migration.sql),
            ),
        ).fetchone()
        self.conn.execute("NOTIFY pgrst, 'reload schema'")
        applied_at = row[0] if row else None
        return AppliedMigration(
            migration.version, migration.name, migration.checksum, applied_at, duration
        )


def _tracking_table() -> sql.Identifier:
    return sql.Identifier(TRACKING_SCHEMA, TRACKING_TABLE)


def _describe(exc: psycopg.Error) -> str:
    diag = exc.diag
    text = diag.message_primary or str(exc).strip()
    if diag.sqlstate:
        text = f"{text} (SQLSTATE {diag.sqlstate})"
    return text


class HttpTransport:
    """Applies migrations through a backend's admin API with the admin key."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 120,
    ) -> None:
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"},
            transport=transport,
            timeout=timeout,
        )

    def __enter__(self) -> HttpTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    @contextmanager
    def locked(self) -> Iterator[None]:
        # The backend takes the advisory lock around each apply itself.
        yield

    def applied(self) -> list[AppliedMigration]:
        body = self._request("GET", "/api/database/migrations")
        return [
            AppliedMigration(
                version=int(item["version"]),
                name=str(item["name"]),
                checksum=item.get("checksum"),
                applied_at=_parse_time(item.get("createdAt")),
                duration_ms=None,
            )
            for item in body.get("migrations", [])
        ]

    def apply(self, migration: MigrationFile) -> AppliedMigration:
        started = time.monotonic()
        body = self._request(
            "POST",
            "/api/database/migrations",
            json={
                "version": migration.canonical_version,
                "name": migration.name,
                "sql": migration.sql,
            },
        )
        if str(body.get("version")) != migration.canonical_version:
            raise MigrationError(
                f"the backend answered for version {body.get('version')!r} while "
                f"applying {migration.filename}"
            )
        return AppliedMigration(
            migration.version,
            migration.name,
            body.get("checksum", migration.checksum),
            _parse_time(body.get("createdAt")),
            int((time.monotonic() - started) * 1000),
        )

    def accept(self, migration: MigrationFile) -> None:
        raise MigrationError(
            f"cannot accept the edited {migration.filename} through the admin API; "
            "run the command with DATABASE_URL set instead"
        )

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise MigrationError(
                f"cannot reach the backend at {self._client.base_url}: {exc}"
            ) from exc
        if response.status_code == 404:
            raise MigrationError(
                "database migrations are not available on this backend "
                f"({self._client.base_url})"
            )
        body = _json_object(response)
        if response.is_error:
            message = body.get("message") or body.get("error")
            raise MigrationError(
                str(message or f"the backend answered {response.status_code}")
            )
        return body


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
