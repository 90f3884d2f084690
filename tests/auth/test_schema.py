"""The auth tables: Better Auth's exact DDL, idempotent creation."""

from __future__ import annotations

import psycopg
import pytest

from rowgate.auth.errors import AuthSchemaError
from rowgate.auth.schema import migrate
from rowgate.errors import RowgateError


def _columns(conn: psycopg.Connection, table: str) -> list[tuple[str, str, str]]:
    rows = conn.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
        " WHERE table_schema = 'better_auth' AND table_name = %s"
        " ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return [(name, kind, nullable) for name, kind, nullable in rows]


def test_second_migrate_creates_nothing(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert migrate(conn) == []


def test_user_table_has_better_auth_columns(database_url: str) -> None:
    tz = "timestamp with time zone"
    with psycopg.connect(database_url) as conn:
        assert _columns(conn, "user") == [
            ("id", "text", "NO"),
            ("name", "text", "NO"),
            ("email", "text", "NO"),
            ("emailVerified", "boolean", "NO"),
            ("image", "text", "YES"),
            ("createdAt", tz, "NO"),
            ("updatedAt", tz, "NO"),
        ]
        session = _columns(conn, "session")
    assert [c[0] for c in session] == [
        "id", "expiresAt", "token", "createdAt", "updatedAt",
        "ipAddress", "userAgent", "userId",
    ]  # fmt: skip


def test_constraints_and_indexes_carry_better_auth_names(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        constraints = {
            (row[0], row[1])
            for row in conn.execute(
                "SELECT conname, contype FROM pg_constraint c"
                " JOIN pg_namespace n ON n.oid = c.connamespace"
                " WHERE n.nspname = 'better_auth'"
            )
        }
        indexes = {
            row[0]
            for row in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = 'better_auth'"
            )
        }
    assert {
        ("user_pkey", "p"), ("user_email_key", "u"), ("session_pkey", "p"),
        ("session_token_key", "u"), ("session_userId_fkey", "f"),
        ("account_pkey", "p"), ("account_userId_fkey", "f"),
        ("verification_pkey", "p"), ("rateLimit_pkey", "p"),
        ("rateLimit_key_key", "u"),
    } == constraints  # fmt: skip
    assert {
        "session_userId_idx", "account_userId_idx", "verification_identifier_idx"
    } <= indexes  # fmt: skip


def test_fresh_schema_gets_every_table_and_index(empty_database_url: str) -> None:
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA better_auth")
        created = migrate(conn)
        again = migrate(conn)
    assert created == [
        "user", "session", "account", "verification", "rateLimit",
        "session_userId_idx", "account_userId_idx", "verification_identifier_idx",
    ]  # fmt: skip
    assert again == []


def test_missing_schema_is_a_clear_rowgate_error(empty_database_url: str) -> None:
    with (
        psycopg.connect(empty_database_url, autocommit=True) as conn,
        pytest.raises(AuthSchemaError, match="bootstrap") as raised,
    ):
        migrate(conn)
    assert isinstance(raised.value, RowgateError)
