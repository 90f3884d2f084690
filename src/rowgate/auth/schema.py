"""Better Auth's core tables (and its rate-limit table), created the way Better
Auth creates them.

Columns are camelCase (quoted), timestamps ``timestamptz``, ids ``text``;
constraint and index names are the ones Postgres gives Better Auth's own
migration (``user_email_key``, ``session_userId_fkey``, ``session_userId_idx``
...), so a Node app and rowgate can share the schema and either may create it.
``migrate`` creates only what is missing and reports what it created. The
``rateLimit`` table is Better Auth's, in the shape its own migration gives it
with ``rateLimit.storage: "database"``; the Postgres rate-limit store uses it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from rowgate.auth.errors import AuthSchemaError

logger = logging.getLogger("rowgate.auth")

DEFAULT_SCHEMA = "better_auth"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    not_null: bool = True
    default_now: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    unique: tuple[tuple[str, str], ...] = ()  # (constraint name, column)
    user_fk: bool = False  # "userId" references "user"("id") on delete cascade


_CREATED = Column("createdAt", "timestamptz", default_now=True)

TABLES: tuple[Table, ...] = (
    Table(
        "user",
        (
            Column("id", "text"),
            Column("name", "text"),
            Column("email", "text"),
            Column("emailVerified", "boolean"),
            Column("image", "text", not_null=False),
            _CREATED,
            Column("updatedAt", "timestamptz", default_now=True),
        ),
        unique=(("user_email_key", "email"),),
    ),
    Table(
        "session",
        (
            Column("id", "text"),
            Column("expiresAt", "timestamptz"),
            Column("token", "text"),
            _CREATED,
            Column("updatedAt", "timestamptz"),
            Column("ipAddress", "text", not_null=False),
            Column("userAgent", "text", not_null=False),
            Column("userId", "text"),
        ),
        unique=(("session_token_key", "token"),),
        user_fk=True,
    ),
    Table(
        "account",
        (
            Column("id", "text"),
            Column("accountId", "text"),
            Column("providerId", "text"),
            Column("userId", "text"),
            Column("accessToken", "text", not_null=False),
            Column("refreshToken", "text", not_null=False),
            Column("idToken", "text", not_null=False),
            Column("accessTokenExpiresAt", "timestamptz", not_null=False),
            Column("refreshTokenExpiresAt", "timestamptz", not_null=False),
            Column("scope", "text", not_null=False),
            Column("password", "text", not_null=False),
            _CREATED,
            Column("updatedAt", "timestamptz"),
        ),
        user_fk=True,
    ),
    Table(
        "verification",
        (
            Column("id", "text"),
            Column("identifier", "text"),
            Column("value", "text"),
            Column("expiresAt", "timestamptz"),
            _CREATED,
            Column("updatedAt", "timestamptz", default_now=True),
        ),
    ),
    Table(
        "rateLimit",
        (
            Column("id", "text"),
            Column("key", "text"),
            Column("count", "integer"),
            Column("lastRequest", "bigint"),  # Unix milliseconds
        ),
        unique=(("rateLimit_key_key", "key"),),
    ),
)

# (index name, table, column), as Better Auth's migration names them.
INDEXES: tuple[tuple[str, str, str], ...] = (
    ("session_userId_idx", "session", "userId"),
    ("account_userId_idx", "account", "userId"),
    ("verification_identifier_idx", "verification", "identifier"),
)

_TYPES = {
    "text": sql.SQL("text"),
    "boolean": sql.SQL("boolean"),
    "timestamptz": sql.SQL("timestamptz"),
    "integer": sql.SQL("integer"),
    "bigint": sql.SQL("bigint"),
}


def _column_sql(column: Column) -> sql.Composed:
    parts: list[sql.Composable] = [sql.Identifier(column.name), _TYPES[column.type]]
    if column.default_now:
        parts.append(sql.SQL("DEFAULT CURRENT_TIMESTAMP"))
    if column.not_null:
        parts.append(sql.SQL("NOT NULL"))
    return sql.SQL(" ").join(parts)


def create_table_sql(table: Table, schema: str) -> sql.Composed:
    """The ``CREATE TABLE`` statement for ``table`` in ``schema``."""
    items: list[sql.Composable] = [_column_sql(c) for c in table.columns]
    items.append(
        sql.SQL("CONSTRAINT {} PRIMARY KEY ({})").format(
            sql.Identifier(f"{table.name}_pkey"), sql.Identifier("id")
        )
    )
    for constraint, column in table.unique:
        items.append(
            sql.SQL("CONSTRAINT {} UNIQUE ({})").format(
                sql.Identifier(constraint), sql.Identifier(column)
            )
        )
    if table.user_fk:
        items.append(
            sql.SQL(
                "CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {}.{} ({}) ON DELETE CASCADE"
            ).format(
                sql.Identifier(f"{table.name}_userId_fkey"),
                sql.Identifier("userId"),
                sql.Identifier(schema),
                sql.Identifier("user"),
                sql.Identifier("id"),
            )
        )
    return sql.SQL("CREATE TABLE {}.{} ({})").format(
        sql.Identifier(schema), sql.Identifier(table.name), sql.SQL(", ").join(items)
    )


def create_index_sql(index: str, table: str, column: str, schema: str) -> sql.Composed:
    """The ``CREATE INDEX`` statement for one of ``INDEXES``."""
    return sql.SQL("CREATE INDEX {} ON {}.{} ({})").format(
        sql.Identifier(index),
        sql.Identifier(schema),
        sql.Identifier(table),
        sql.Identifier(column),
    )


def _exists(conn: psycopg.Connection[Any], schema: str, name: str) -> bool:
    row = conn.execute(
        sql.SQL(
            "SELECT 1 FROM pg_catalog.pg_class c"
            " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = {} AND c.relname = {}"
        ).format(sql.Literal(schema), sql.Literal(name))
    ).fetchone()
    return row is not None


def _schema_exists(conn: psycopg.Connection[Any], schema: str) -> bool:
    row = conn.execute(
        sql.SQL("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = {}").format(
            sql.Literal(schema)
        )
    ).fetchone()
    return row is not None


def migrate(conn: psycopg.Connection[Any], schema: str = DEFAULT_SCHEMA) -> list[str]:
    """Create whichever of the auth tables and indexes are missing in ``schema``.

    Runs in one transaction under an advisory lock, so two processes migrating
    at once do not race. Returns the names of the tables and indexes created
    (``[]`` when everything was already there). Raises ``AuthSchemaError`` when
    ``schema`` does not exist: the bootstrap migration creates it.
    """
    created: list[str] = []
    with conn.transaction():
        conn.execute(
            sql.SQL("SELECT pg_advisory_xact_lock(hashtext({}))").format(
                sql.Literal(f"rowgate.auth.schema:{schema}")
            )
        )
        if not _schema_exists(conn, schema):
            raise AuthSchemaError(
                f"schema {schema!r} does not exist; apply the bootstrap migration "
                "(rowgate db migrations up --to 0001) first"
            )
        for table in TABLES:
            if not _exists(conn, schema, table.name):
                conn.execute(create_table_sql(table, schema))
                created.append(table.name)
        for index, table_name, column in INDEXES:
            if not _exists(conn, schema, index):
                conn.execute(create_index_sql(index, table_name, column, schema))
                created.append(index)
    if created:
        logger.info("created auth tables in %s: %s", schema, ", ".join(created))
    return created
