"""The migration engine: which files to apply, and applying them exactly once.

Planning is pure: given the local files and the applied history it says what is
applied, pending, drifted (applied but edited since) or older than the applied head,
and which files an ``up`` would run. Applying goes through a transport; the direct
one below talks to Postgres over ``DATABASE_URL``. Under a session advisory lock it
re-reads the history, then runs each file in its own transaction as
``project_admin`` (unless the file says otherwise), records it in
``rowgate.schema_migrations`` in that same transaction and asks the data API to
reload its schema cache. A failing file leaves neither schema nor history behind.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from rowgate.errors import RowgateError
from rowgate.migrations.files import MigrationFile

logger = logging.getLogger("rowgate.migrations")

TRACKING_SCHEMA = "rowgate"
TRACKING_TABLE = "schema_migrations"
# An arbitrary constant that names "the migration runner" for pg_advisory_lock.
ADVISORY_LOCK_KEY = 0x726F7767617465


class MigrationError(RowgateError):
    """A migration cannot be planned or applied."""


class Status(enum.Enum):
    APPLIED = "applied"
    PENDING = "pending"
    DRIFTED = "drifted"
    OLDER_THAN_HEAD = "older-than-head"
    MISSING = "missing"  # applied in the database, no longer on disk


@dataclass(frozen=True)
class AppliedMigration:
    version: int
    name: str
    checksum: str | None  # None when the history comes from a backend without one
    applied_at: datetime | None
    duration_ms: int | None


@dataclass(frozen=True)
class Entry:
    version: int
    name: str
    status: Status
    filename: str | None = None


@dataclass(frozen=True)
class Plan:
    entries: list[Entry]
    to_apply: list[MigrationFile] = field(default_factory=list)


def status(
    files: Sequence[MigrationFile], applied: Sequence[AppliedMigration]
) -> list[Entry]:
    """Each local file's state against the history, plus history rows with no file."""
    by_version = {a.version: a for a in applied}
    head = max(by_version, default=0)
    entries: list[Entry] = []
    for migration in files:
        record = by_version.get(migration.version)
        if record is None:
            state = (
                Status.OLDER_THAN_HEAD if migration.version < head else Status.PENDING
            )
        elif record.checksum not in (None, migration.checksum):
            state = Status.DRIFTED
        else:
            state = Status.APPLIED
        entries.append(
            Entry(migration.version, migration.name, state, migration.filename)
        )
    local = {f.version for f in files}
    for record in applied:
        if record.version not in local:
            entries.append(Entry(record.version, record.name, Status.MISSING))
    return sorted(entries, key=lambda e: e.version)


def plan_up(
    files: Sequence[MigrationFile],
    applied: Sequence[AppliedMigration],
    *,
    to: int | None = None,
    accept_drift: bool = False,
) -> Plan:
    """What ``up`` (``--all`` when ``to`` is None, else ``--to``) would apply.

    Refuses drifted and older-than-head files up to the target, and a target that
    names no migration at all. A target that is already applied plans nothing, so
    re-running ``setup`` is always safe.
    """
    entries = status(files, applied)
    limit = to if to is not None else max((f.version for f in files), default=0)
    if to is not None and to not in {f.version for f in files} | {
        a.version for a in applied
    }:
        raise MigrationError(f"No local migration has version {to}")
    for entry in entries:
        if entry.version > limit:
            continue
        if entry.status is Status.DRIFTED and not accept_drift:
            raise MigrationError(
                f"Migration {entry.filename} was edited after it was applied "
                "(checksum differs); restore it, or re-run with --accept-drift to "
                "record the new checksum without running it"
            )
        if entry.status is Status.OLDER_THAN_HEAD:
            raise MigrationError(
                f"Migration {entry.filename} is older than the applied head and is "
                "not applied; rename it with a newer version, or delete it if stale"
            )
    pending = {e.version for e in entries if e.status is Status.PENDING}
    chosen = [f for f in files if f.version in pending and f.version <= limit]
    return Plan(entries=entries, to_apply=chosen)


class Transport(Protocol):
    """Where migrations are applied: a database connection or a backend's API."""

    def applied(self) -> list[AppliedMigration]: ...

    def apply(self, migration: MigrationFile) -> AppliedMigration: ...

    def accept(self, migration: MigrationFile) -> None: ...

    @contextmanager
    def locked(self) -> Iterator[None]: ...


Progress = Callable[[MigrationFile], None]


def up(
    transport: Transport,
    files: Sequence[MigrationFile],
    *,
    to: int | None = None,
    accept_drift: bool = False,
    on_apply: Progress | None = None,
) -> list[AppliedMigration]:
    """Apply what ``plan_up`` chooses, each file exactly once across runners."""
    with transport.locked():
        # Planned only once the lock is held, so a runner that waited sees what
        # the one before it applied and does not apply it again.
        plan = plan_up(files, transport.applied(), to=to, accept_drift=accept_drift)
        if accept_drift:
            drifted = {e.version for e in plan.entries if e.status is Status.DRIFTED}
            for migration in files:
                if migration.version in drifted:
                    transport.accept(migration)
        done: list[AppliedMigration] = []
        for migration in plan.to_apply:
            if on_apply is not None:
                on_apply(migration)
            done.append(transport.apply(migration))
    return done
