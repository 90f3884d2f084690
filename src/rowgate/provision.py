"""Bringing a database to the state an app needs: the ``setup`` chain.

``setup`` is ``migrations up --to 0001`` (the bootstrap: schema, roles, grants),
then the auth tables, then ``migrations up --all``. Every step is idempotent, so it
is safe to re-run at any point, including after new migrations were added.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from rowgate.auth.schema import migrate as migrate_auth_tables
from rowgate.errors import RowgateError
from rowgate.migrations import files as migration_files
from rowgate.migrations.engine import AppliedMigration, up
from rowgate.migrations.files import MigrationFile
from rowgate.migrations.transport import DirectTransport

logger = logging.getLogger("rowgate.provision")

Progress = Callable[[str], None]


class DatabaseUnreachable(RowgateError):
    """The database named by the settings did not accept a connection."""


@dataclass
class SetupReport:
    applied: list[AppliedMigration] = field(default_factory=list)
    auth_created: list[str] = field(default_factory=list)


def project_migrations(project_dir: Path) -> list[MigrationFile]:
    """The migrations of a project: its ``migrations/`` folder when it has one,
    otherwise the built-in bootstrap and the demo's own migrations."""
    local = project_dir / "migrations"
    if local.is_dir():
        found = migration_files.discover(local)
        if any(f.version == 1 for f in found):
            return found
        return migration_files.sort_and_check([migration_files.bootstrap(), *found])
    demo = Path(str(resources.files("rowgate.demo") / "migrations"))
    return migration_files.sort_and_check(
        [migration_files.bootstrap(), *migration_files.discover(demo)]
    )


def check_reachable(conninfo: str) -> None:
    """Raise ``DatabaseUnreachable`` with the host tried when no connection opens."""
    try:
        with psycopg.connect(conninfo, connect_timeout=5):
            return
    except psycopg.OperationalError as exc:
        raise DatabaseUnreachable(_unreachable_message(conninfo, exc)) from exc


def _unreachable_message(conninfo: str, exc: psycopg.OperationalError) -> str:
    params = psycopg.conninfo.conninfo_to_dict(conninfo)
    host = params.get("host") or params.get("hostaddr") or "the default socket"
    port = params.get("port") or "5432"
    # libpq's text is "connection to server at ..., port N failed: <why>" and a
    # hint line; the why is what the user needs.
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    reason = lines[0].rsplit("failed: ", 1)[-1].rstrip(".") if lines else "no answer"
    return (
        f"cannot reach the database at DATABASE_URL (host {host}, port {port}): "
        f"{reason}"
    )


def migrate_auth(conninfo: str) -> list[str]:
    """Create Better Auth's tables in ``better_auth``; nothing when they exist."""
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
        return _migrate_auth(conn)


def _migrate_auth(conn: psycopg.Connection[Any]) -> list[str]:
    created = migrate_auth_tables(conn)
    # Tables another role created (a Node Better Auth app sharing the database) are
    # not covered by the bootstrap's default privileges: grant explicitly, so that
    # migrations running as project_admin can reference users.
    conn.execute(
        "GRANT REFERENCES ON ALL TABLES IN SCHEMA better_auth TO project_admin"
    )
    return created


def set_authenticator_password(conninfo: str, password: str) -> None:
    """Give the data API's login role the configured password."""
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
        conn.execute(
            sql.SQL("ALTER ROLE authenticator WITH PASSWORD {}").format(
                sql.Literal(password)
            )
        )


def setup(
    conninfo: str,
    files: list[MigrationFile],
    *,
    authenticator_password: str | None = None,
    progress: Progress | None = None,
) -> SetupReport:
    """Run the whole chain; see the module docstring."""
    say = progress or (lambda _message: None)
    check_reachable(conninfo)
    report = SetupReport()

    with DirectTransport(conninfo) as transport:
        say("applying the bootstrap migration (0001)")
        report.applied += up(transport, files, to=1)
        say("creating the auth tables")
        report.auth_created = _migrate_auth(transport.conn)
        say("applying the remaining migrations")
        report.applied += up(transport, files)

    if authenticator_password:
        set_authenticator_password(conninfo, authenticator_password)
    logger.info(
        "setup applied %d migration(s), created %d auth object(s)",
        len(report.applied),
        len(report.auth_created),
    )
    return report
