"""The schema cache: what the exposed schemas hold, read from the catalog at start.

Tables and views with their columns, keys and foreign keys; functions with their
parameters and return shapes; the roles the authenticator may switch to and the
time zone names Postgres knows. The
planner works from this snapshot only, so a request naming anything outside the
exposed schemas is refused before SQL is built. ``load`` is the one place here
that talks to Postgres; the rest are plain, immutable types.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

_TABLES = """
SELECT n.nspname, c.relname, c.relkind::text
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p') AND n.nspname = ANY(%(schemas)s)
"""

_COLUMNS = """
SELECT n.nspname, c.relname, a.attname,
       pg_catalog.format_type(a.atttypid, a.atttypmod),
       coalesce(bt.typname, t.typname)::text,
       NOT a.attnotnull,
       pg_catalog.pg_get_expr(d.adbin, d.adrelid),
       a.attidentity = 'a' OR a.attgenerated <> ''
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped
  AND c.relkind IN ('r', 'v', 'm', 'f', 'p') AND n.nspname = ANY(%(schemas)s)
ORDER BY n.nspname, c.relname, a.attnum
"""

_CONSTRAINTS = """
SELECT con.contype::text, con.conname, n.nspname, c.relname,
       ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, i)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid
              AND a.attnum = k.num ORDER BY k.i),
       fn.nspname, fc.relname,
       ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, i)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid
              AND a.attnum = k.num ORDER BY k.i)
FROM pg_catalog.pg_constraint con
JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_class fc ON fc.oid = con.confrelid
LEFT JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace
WHERE con.contype IN ('p', 'u', 'f') AND n.nspname = ANY(%(schemas)s)
ORDER BY con.conname
"""

_FUNCTIONS = """
SELECT n.nspname, p.proname,
       coalesce(p.proargnames, '{}')::text[],
       p.proargmodes::text[],
       ARRAY(SELECT pg_catalog.format_type(t, NULL)
             FROM unnest(p.proargtypes) WITH ORDINALITY u(t, i) ORDER BY i),
       p.pronargdefaults,
       p.proretset,
       pg_catalog.format_type(p.prorettype, NULL),
       rt.typtype = 'c' OR (p.prorettype = 'record'::regtype
                            AND 'o' = ANY(coalesce(p.proargmodes::text[], '{}'))
                            OR 't' = ANY(coalesce(p.proargmodes::text[], '{}'))),
       p.prorettype = 'void'::regtype,
       p.provolatile::text,
       rn.nspname, rc.relname
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
JOIN pg_catalog.pg_type rt ON rt.oid = p.prorettype
LEFT JOIN pg_catalog.pg_class rc ON rc.oid = rt.typrelid AND rc.relkind <> 'c'
LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
WHERE p.prokind = 'f' AND n.nspname = ANY(%(schemas)s)
ORDER BY p.oid
"""

_TIMEZONES = "SELECT name FROM pg_catalog.pg_timezone_names"

_ROLES = """
SELECT rolname FROM pg_catalog.pg_roles
WHERE pg_catalog.pg_has_role(current_user, oid, 'MEMBER') AND rolname <> current_user
"""


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str
    base_type: str
    nullable: bool
    default: str | None
    generated: bool


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    kind: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    unique_keys: tuple[tuple[str, ...], ...] = ()

    def column(self, name: str) -> Column | None:
        for col in self.columns:
            if col.name == name:
                return col
        return None

    @property
    def is_view(self) -> bool:
        return self.kind in ("v", "m")


@dataclass(frozen=True)
class ForeignKey:
    """``schema.table(columns)`` references ``ref_schema.ref_table(ref_columns)``."""

    name: str
    schema: str
    table: str
    columns: tuple[str, ...]
    ref_schema: str
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class Param:
    name: str
    data_type: str
    has_default: bool
    variadic: bool = False


@dataclass(frozen=True)
class Function:
    schema: str
    name: str
    params: tuple[Param, ...]
    returns_set: bool
    return_type: str
    returns_composite: bool
    returns_void: bool
    volatility: str
    return_table: tuple[str, str] | None = None

    @property
    def required(self) -> frozenset[str]:
        return frozenset(p.name for p in self.params if not p.has_default)

    @property
    def volatile(self) -> bool:
        return self.volatility == "v"


@dataclass(frozen=True)
class SchemaCache:
    schemas: tuple[str, ...]
    tables: dict[tuple[str, str], Table]
    foreign_keys: tuple[ForeignKey, ...]
    functions: dict[tuple[str, str], tuple[Function, ...]]
    roles: frozenset[str]
    # The zone names ``Prefer: timezone=`` may name; others are not applied.
    timezones: frozenset[str] = frozenset()

    def table(self, schema: str, name: str) -> Table | None:
        return self.tables.get((schema, name))


async def load(conn: AsyncConnection[Any], schemas: Sequence[str]) -> SchemaCache:
    """Read the catalog for ``schemas`` in one read-only transaction."""
    args = {"schemas": list(schemas)}
    await conn.set_read_only(True)
    try:
        async with conn.transaction():
            cur = conn.cursor()
            kinds = await (await cur.execute(_TABLES, args)).fetchall()
            columns = await (await cur.execute(_COLUMNS, args)).fetchall()
            constraints = await (await cur.execute(_CONSTRAINTS, args)).fetchall()
            functions = await (await cur.execute(_FUNCTIONS, args)).fetchall()
            roles = await (await cur.execute(_ROLES)).fetchall()
            zones = await (await cur.execute(_TIMEZONES)).fetchall()
    finally:
        await conn.set_read_only(False)

    exposed = frozenset(schemas)
    tables = _tables(kinds, columns, constraints)
    return SchemaCache(
        schemas=tuple(schemas),
        tables=tables,
        foreign_keys=_foreign_keys(constraints, exposed),
        functions=_functions(functions),
        roles=frozenset(row[0] for row in roles),
        timezones=frozenset(row[0] for row in zones),
    )


def _tables(
    kinds: list[tuple[Any, ...]],
    columns: list[tuple[Any, ...]],
    constraints: list[tuple[Any, ...]],
) -> dict[tuple[str, str], Table]:
    cols: dict[tuple[str, str], list[Column]] = {}
    for schema, table, *rest in columns:
        cols.setdefault((schema, table), []).append(Column(*rest))
    primary: dict[tuple[str, str], tuple[str, ...]] = {}
    unique: dict[tuple[str, str], list[tuple[str, ...]]] = {}
    for kind, _name, schema, table, keys, *_ref in constraints:
        if kind == "p":
            primary[(schema, table)] = tuple(keys)
        if kind in ("p", "u"):
            unique.setdefault((schema, table), []).append(tuple(keys))
    return {
        (schema, name): Table(
            schema,
            name,
            kind,
            tuple(cols.get((schema, name), ())),
            primary.get((schema, name), ()),
            tuple(unique.get((schema, name), ())),
        )
        for schema, name, kind in kinds
    }


def _foreign_keys(
    constraints: list[tuple[Any, ...]], exposed: frozenset[str]
) -> tuple[ForeignKey, ...]:
    # A relationship into a schema that is not exposed cannot be embedded: the
    # target is not reachable through the API at all.
    return tuple(
        ForeignKey(name, schema, table, tuple(keys), ref_schema, ref_table, tuple(refs))
        for kind, name, schema, table, keys, ref_schema, ref_table, refs in constraints
        if kind == "f" and ref_schema in exposed
    )


def _functions(
    rows: list[tuple[Any, ...]],
) -> dict[tuple[str, str], tuple[Function, ...]]:
    found: dict[tuple[str, str], list[Function]] = {}
    for row in rows:
        (
            schema,
            name,
            names,
            modes,
            types,
            n_defaults,
            returns_set,
            return_type,
            composite,
            void,
            volatility,
            ret_schema,
            ret_table,
        ) = row
        params = _params(names, modes, types, n_defaults)
        if params is None:
            continue
        table = (ret_schema, ret_table) if ret_table is not None else None
        found.setdefault((schema, name), []).append(
            Function(
                schema,
                name,
                params,
                returns_set,
                return_type,
                bool(composite),
                void,
                volatility,
                table,
            )
        )
    return {key: tuple(value) for key, value in found.items()}


def _params(
    names: list[str], modes: list[str] | None, types: list[str], n_defaults: int
) -> tuple[Param, ...] | None:
    """The input parameters; None for functions with unnamed ones (not callable)."""
    if modes is None:
        modes = ["i"] * len(types)
    inputs = [
        (names[i] if i < len(names) else "", mode)
        for i, mode in enumerate(modes)
        if mode in ("i", "b", "v")
    ]
    if len(inputs) != len(types):
        return None
    params: list[Param] = []
    first_default = len(types) - n_defaults
    for index, ((param_name, mode), data_type) in enumerate(
        zip(inputs, types, strict=True)
    ):
        if not param_name and len(types) > 1:
            return None
        params.append(Param(param_name, data_type, index >= first_default, mode == "v"))
    return tuple(params)
