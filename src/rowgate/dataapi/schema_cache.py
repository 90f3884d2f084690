"""The schema cache: what the exposed schemas hold, read from the catalog at start.

Tables and views with their columns, keys and foreign keys; functions with their
parameters and return shapes; the roles the authenticator may switch to, with
the settings ``ALTER ROLE ... SET`` gave them, and the time zone names Postgres
knows. The
planner works from this snapshot only, so a request naming anything outside the
exposed schemas is refused before SQL is built. ``load`` is the one place here
that talks to Postgres; the rest are plain, immutable types.

Views get the keys of the tables they show, as PostgREST gives them: a view that
shows every column of a base table's primary key, unchanged, has that key, and
every foreign key whose columns a view shows links the view too, on either side
(table to view, view to table, view to view). The base tables may live in a
schema that is not exposed; views on views are followed down to the tables.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from psycopg import AsyncConnection

from rowgate.dataapi.view_sources import NodeTreeError, column_origins

logger = logging.getLogger("rowgate.dataapi")

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

# Keys, views and columns come from every schema but the system's: the base tables
# behind an exposed view may live in a schema that is not exposed.
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
WHERE con.contype IN ('p', 'u', 'f')
  AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
ORDER BY con.conname
"""

_VIEWS = """
SELECT c.oid, r.ev_action::text
FROM pg_catalog.pg_rewrite r
JOIN pg_catalog.pg_class c ON c.oid = r.ev_class
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE r.rulename = '_RETURN' AND c.relkind IN ('v', 'm')
  AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
"""

_ATTRIBUTES = """
SELECT c.oid, n.nspname, c.relname, a.attnum, a.attname
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE a.attnum > 0 AND NOT a.attisdropped
  AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
  AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
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

# ``ALTER ROLE r SET name = value`` of the roles requests switch to, this
# database's over every database's; only settings a non-superuser may change
# (``user`` context, or custom ``x.y`` names), as PostgREST applies them.
_ROLE_SETTINGS = """
SELECT DISTINCT ON (r.rolname, kv.name) r.rolname, kv.name, kv.value
FROM pg_catalog.pg_db_role_setting s
JOIN pg_catalog.pg_roles r ON r.oid = s.setrole
CROSS JOIN LATERAL (
    SELECT split_part(item, '=', 1) AS name,
           substr(item, strpos(item, '=') + 1) AS value
    FROM unnest(s.setconfig) AS item
) kv
LEFT JOIN pg_catalog.pg_settings g ON g.name = kv.name
WHERE pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')
  AND r.rolname <> current_user
  AND (s.setdatabase = 0 OR s.setdatabase =
       (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()))
  AND (g.context = 'user' OR (g.name IS NULL AND strpos(kv.name, '.') > 0))
ORDER BY r.rolname, kv.name, s.setdatabase DESC
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
    # Per role, the settings each of its transactions starts with.
    role_settings: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)

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
            constraints = await (await cur.execute(_CONSTRAINTS)).fetchall()
            views = await (await cur.execute(_VIEWS)).fetchall()
            attributes = await (await cur.execute(_ATTRIBUTES)).fetchall()
            functions = await (await cur.execute(_FUNCTIONS, args)).fetchall()
            roles = await (await cur.execute(_ROLES)).fetchall()
            role_settings = await (await cur.execute(_ROLE_SETTINGS)).fetchall()
            zones = await (await cur.execute(_TIMEZONES)).fetchall()
    finally:
        await conn.set_read_only(False)

    exposed = frozenset(schemas)
    shown = _view_columns(views, attributes)
    tables = _with_view_keys(_tables(kinds, columns, constraints), constraints, shown)
    return SchemaCache(
        schemas=tuple(schemas),
        tables=tables,
        foreign_keys=(
            *_foreign_keys(constraints, exposed),
            *_view_foreign_keys(constraints, shown, exposed),
        ),
        functions=_functions(functions),
        roles=frozenset(row[0] for row in roles),
        role_settings=_by_role(role_settings),
        timezones=frozenset(row[0] for row in zones),
    )


def _by_role(rows: list[tuple[Any, ...]]) -> dict[str, tuple[tuple[str, str], ...]]:
    found: dict[str, list[tuple[str, str]]] = {}
    for role, name, value in rows:
        found.setdefault(role, []).append((name, value))
    return {role: tuple(settings) for role, settings in found.items()}


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
        if kind == "f" and schema in exposed and ref_schema in exposed
    )


# (schema, relation) of a view -> {view column: (schema, table, column) it shows}
ViewColumns = dict[tuple[str, str], dict[str, tuple[str, str, str]]]


def _view_columns(
    views: list[tuple[Any, ...]], attributes: list[tuple[Any, ...]]
) -> ViewColumns:
    """The base table column behind each column a view shows unchanged."""
    relation = {oid: (schema, name) for oid, schema, name, _num, _col in attributes}
    column = {(oid, num): col for oid, _schema, _name, num, col in attributes}
    origins: dict[int, dict[int, tuple[int, int]]] = {}
    for oid, ev_action in views:
        try:
            origins[oid] = column_origins(ev_action)
        except (NodeTreeError, ValueError, RecursionError) as exc:
            # The view still works; only relationships through it are missing.
            logger.warning(
                "cannot read the definition of view %s (%s); it gets no relationships",
                ".".join(relation.get(oid, ("?", str(oid)))),
                exc,
            )
    shown: ViewColumns = {}
    for oid, by_number in origins.items():
        if oid not in relation:
            continue
        columns: dict[str, tuple[str, str, str]] = {}
        for number, origin in sorted(by_number.items()):
            base = _base_column(origin, origins)
            if base is None or base not in column or (oid, number) not in column:
                continue
            columns.setdefault(
                column[(oid, number)], (*relation[base[0]], column[base])
            )
        shown[relation[oid]] = columns
    return shown


def _base_column(
    origin: tuple[int, int], origins: dict[int, dict[int, tuple[int, int]]]
) -> tuple[int, int] | None:
    """Follow a column shown through views on views down to its table."""
    for _depth in range(64):
        through = origins.get(origin[0])
        if through is None:
            return origin  # not a view: a table's column
        found = through.get(origin[1])
        if found is None:
            return None  # the inner view computes it
        origin = found
    return None


# (schema, table) -> [(view, {table column: the view's name for it})]
ShownBy = dict[tuple[str, str], list[tuple[tuple[str, str], dict[str, str]]]]


def _shown_by(shown: ViewColumns) -> ShownBy:
    """The views showing each base table's columns, and under which names."""
    index: ShownBy = {}
    for view, mapping in shown.items():
        per_table: dict[tuple[str, str], dict[str, str]] = {}
        for name, (schema, table, column) in mapping.items():
            # A column shown twice is known by its first name.
            per_table.setdefault((schema, table), {}).setdefault(column, name)
        for table_key, names in per_table.items():
            index.setdefault(table_key, []).append((view, names))
    return index


def _showing(
    index: ShownBy, schema: str, table: str, columns: Sequence[str]
) -> list[tuple[tuple[str, str], tuple[str, ...]]]:
    """Views that show every one of ``columns`` of ``schema.table``, with the
    names they show them under."""
    return [
        (view, tuple(names[col] for col in columns))
        for view, names in index.get((schema, table), [])
        if all(col in names for col in columns)
    ]


def _with_view_keys(
    tables: dict[tuple[str, str], Table],
    constraints: list[tuple[Any, ...]],
    shown: ViewColumns,
) -> dict[tuple[str, str], Table]:
    """Views inherit the primary key of a base table whose key they show whole."""
    keyed = dict(tables)
    index = _shown_by(shown)
    for kind, _name, schema, table, keys, *_ref in constraints:
        if kind != "p":
            continue
        for view, names in _showing(index, schema, table, keys):
            current = keyed.get(view)
            if current is not None and current.is_view and not current.primary_key:
                keyed[view] = replace(
                    current,
                    primary_key=names,
                    unique_keys=(*current.unique_keys, names),
                )
    return keyed


def _view_foreign_keys(
    constraints: list[tuple[Any, ...]], shown: ViewColumns, exposed: frozenset[str]
) -> tuple[ForeignKey, ...]:
    """Each foreign key again for every view showing its columns, on either side."""
    found: list[ForeignKey] = []
    index = _shown_by(shown)
    for kind, name, schema, table, keys, ref_schema, ref_table, refs in constraints:
        if kind != "f":
            continue
        sources = [((schema, table), tuple(keys))]
        sources += _showing(index, schema, table, keys)
        targets = [((ref_schema, ref_table), tuple(refs))]
        targets += _showing(index, ref_schema, ref_table, refs)
        for source, columns in sources:
            for target, ref_columns in targets:
                if source == (schema, table) and target == (ref_schema, ref_table):
                    continue  # the key itself, between its own tables
                if source[0] in exposed and target[0] in exposed:
                    found.append(
                        ForeignKey(name, *source, columns, *target, ref_columns)
                    )
    return tuple(found)


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
