"""Read-only catalog and row queries behind Studio.

Every identifier comes from the catalog and is checked against it before it is put
into SQL with ``psycopg.sql.Identifier``; values are bound parameters. Queries run in
read-only transactions on Studio's own pool, which uses the owner's credentials and
is separate from the data API's ``authenticator`` pool.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

# Schemas that belong to Postgres itself or to rowgate's bookkeeping.
HIDDEN_SCHEMAS = ("information_schema", "pg_toast")
# Column names whose values are credentials: shown masked unless asked for.
SECRET_COLUMN = re.compile(
    r"(password|token|secret|hash|private_?key|backup_?codes|^key$|^value$)",
    re.IGNORECASE,
)
MASK = "••••••••"


@dataclass(frozen=True)
class TableInfo:
    name: str
    kind: str
    rows: int


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool
    secret: bool


@dataclass(frozen=True)
class Page:
    columns: list[Column]
    rows: list[dict[str, Any]]
    total: int


def is_secret(table: str, column: str) -> bool:
    """Whether a column holds credentials (``verification.value`` holds tokens)."""
    if column.lower() == "value" and table != "verification":
        return False
    return SECRET_COLUMN.search(column) is not None


class Browser:
    """Catalog and row reads over a pool with the owner's credentials."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def _fetch(
        self, query: sql.SQL | sql.Composed | str, params: tuple[Any, ...] = ()
    ) -> list[dict[str, Any]]:
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SET TRANSACTION READ ONLY")
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute(query, params)
            return await cursor.fetchall()

    async def schemas(self) -> list[str]:
        rows = await self._fetch(
            "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%%'"
            " AND nspname <> ALL(%s) ORDER BY nspname = 'public' DESC, nspname",
            (list(HIDDEN_SCHEMAS),),
        )
        return [r["nspname"] for r in rows]

    async def tables(self, schema: str) -> list[TableInfo]:
        rows = await self._fetch(
            "SELECT c.relname AS name, c.relkind AS kind FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm')"
            " ORDER BY c.relname",
            (schema,),
        )
        found = []
        for row in rows:
            count = await self._fetch(
                sql.SQL("SELECT count(*) AS n FROM {}").format(
                    sql.Identifier(schema, row["name"])
                )
            )
            kinds = {"r": "table", "p": "table", "v": "view", "m": "materialized view"}
            found.append(TableInfo(row["name"], kinds[row["kind"]], count[0]["n"]))
        return found

    async def columns(self, schema: str, table: str) -> list[Column]:
        rows = await self._fetch(
            "SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,"
            " NOT a.attnotnull AS nullable FROM pg_attribute a"
            " JOIN pg_class c ON c.oid = a.attrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0"
            " AND NOT a.attisdropped ORDER BY a.attnum",
            (schema, table),
        )
        return [
            Column(r["name"], r["type"], r["nullable"], is_secret(table, r["name"]))
            for r in rows
        ]

    async def page(
        self,
        schema: str,
        table: str,
        *,
        limit: int,
        offset: int,
        sort: str | None,
        descending: bool,
        filter_column: str | None,
        filter_text: str,
    ) -> Page:
        columns = await self.columns(schema, table)
        names = {c.name for c in columns}
        target = sql.Identifier(schema, table)
        where: sql.Composable = sql.SQL("")
        params: tuple[Any, ...] = ()
        if filter_column in names and filter_text:
            where = sql.SQL(" WHERE {}::text ILIKE %s").format(
                sql.Identifier(filter_column)
            )
            params = (f"%{_escape_like(filter_text)}%",)
        order: sql.Composable = sql.SQL("")
        if sort in names:
            order = sql.SQL(" ORDER BY {} {} NULLS LAST").format(
                sql.Identifier(sort), sql.SQL("DESC" if descending else "ASC")
            )
        rows = await self._fetch(
            sql.SQL("SELECT * FROM {}{}{} LIMIT %s OFFSET %s").format(
                target, where, order
            ),
            (*params, limit, offset),
        )
        total = await self._fetch(
            sql.SQL("SELECT count(*) AS n FROM {}{}").format(target, where), params
        )
        return Page(columns, rows, total[0]["n"])


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
