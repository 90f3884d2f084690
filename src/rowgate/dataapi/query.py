"""Turn a plan into SQL, composed only with ``psycopg.sql``; pure.

Identifiers are always ``sql.Identifier``. Filter values are bound parameters
passed as Python ``str``: psycopg sends those with the ``unknown`` type, so
Postgres coerces each one to the type of the column it meets, exactly as it does
with the untyped literals PostgREST writes (``id = '3'`` on an integer column).
No catalog type name is therefore needed to compare. The few pieces of SQL text
that are not identifiers or parameters come from fixed tables in this module, from
the catalog itself (``format_type`` names and column defaults, written by the
database owner), or from a cast name restricted by the request grammar to words.

Every main statement returns one row: ``total`` (or NULL), ``page_total``,
``body`` (text), ``location`` (JSON text or NULL), ``inserted`` and the
``response.headers``/``response.status`` settings the statement left behind.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from psycopg import sql

from rowgate.dataapi.jwt import Identity
from rowgate.dataapi.plan import (
    Call,
    Delete,
    Embed,
    Insert,
    Plan,
    Read,
    ReadNode,
    Update,
)
from rowgate.dataapi.request import (
    FTS_OPS,
    SIMPLE_OPS,
    ApiRequest,
    Condition,
    Field,
    Filter,
    LogicTree,
    OrderTerm,
    SelectField,
    Star,
)
from rowgate.dataapi.schema_cache import Table

SOURCE = sql.Identifier("pgrst_source")
ROW = sql.Identifier("pgrst_row")
BODY = sql.Identifier("pgrst_body")
_IS = {
    "null": "IS NULL",
    "not_null": "IS NOT NULL",
    "true": "IS TRUE",
    "false": "IS FALSE",
    "unknown": "IS UNKNOWN",
}
_JSON_TYPES = frozenset({"json", "jsonb"})


@dataclass(frozen=True)
class Statement:
    query: sql.Composable
    params: dict[str, Any]

    def rendered(self) -> Statement:
        """The same statement with its text composed once, for running many times:
        composing costs more than the rest of a cached read's planning."""
        return Statement(sql.SQL(self.query.as_string()), self.params)


class _Binder:
    """Collects bound parameters under generated names."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}

    def bind(self, value: Any) -> sql.Composable:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return sql.Placeholder(name)


# -- the per-request settings ---------------------------------------------------


def settings_statement(
    identity: Identity,
    req: ApiRequest,
    method: str,
    timezone: str | None = None,
    role_settings: Sequence[tuple[str, str]] = (),
) -> Statement:
    """One statement setting role, claims and request GUCs for this transaction.

    ``role_settings`` (the role's ``ALTER ROLE ... SET``, a ``statement_timeout``
    say) come first, as logging in as the role would give them; the request's own
    settings follow and win where both name the same one.
    """
    headers = {k: v for k, v in req.headers.items() if k != "cookie"}
    values = dict(role_settings)
    values |= {
        "search_path": _search_path(req.schema),
        "role": identity.role,
        "request.jwt.claims": identity.claims_json,
        "request.method": method,
        "request.path": req.pgrst_path,
        "request.headers": json.dumps(headers, ensure_ascii=False),
        "request.cookies": json.dumps(dict(req.cookies), ensure_ascii=False),
    }
    if timezone is not None:
        values["timezone"] = timezone
    params = {f"p{index}": value for index, value in enumerate(values.values())}
    return Statement(_settings_query(tuple(values)), params)


@functools.lru_cache(maxsize=32)
def _search_path(schema: str) -> str:
    """The exposed schema, then ``public`` (PostgREST's default extra search path)."""
    path = [sql.Identifier(schema).as_string()]
    if schema != "public":
        path.append(sql.Identifier("public").as_string())
    return ", ".join(path)


@functools.lru_cache(maxsize=64)
def _settings_query(names: tuple[str, ...]) -> sql.Composable:
    """The settings statement for ``names``: its text depends on the names only,
    so it is composed once instead of on every request."""
    calls = [
        sql.SQL("pg_catalog.set_config({}, {}, true)").format(
            sql.Literal(name), sql.Placeholder(f"p{index}")
        )
        for index, name in enumerate(names)
    ]
    composed = sql.SQL("SELECT ") + sql.SQL(", ").join(calls)
    return sql.SQL(composed.as_string())


def pre_request_statement(name: Sequence[str]) -> Statement:
    """A call of the configured pre-request function, after the settings."""
    return Statement(sql.SQL("SELECT {}()").format(sql.Identifier(*name)), {})


# -- main statements ------------------------------------------------------------


def main_statement(plan: Plan) -> Statement:
    binder = _Binder()
    action = plan.action
    if isinstance(action, Read):
        query = _read(plan, action, binder)
    elif isinstance(action, Call):
        query = _call(plan, action, binder)
    else:
        query = _mutation(plan, action, binder)
    return Statement(query, binder.params)


def _read(plan: Plan, action: Read, binder: _Binder) -> sql.Composable:
    node = action.node
    qual = sql.Identifier(node.table.schema, node.table.name)
    source = _node_select(node, qual, qual, binder)
    total: sql.Composable = sql.SQL("NULL::bigint")
    if action.exact and _grouped(node):
        # Aggregated rows are groups: count those, over every page.
        unpaged = replace(node, order=(), limit=None, offset=0)
        total = sql.SQL(
            "(SELECT pg_catalog.count(*) FROM ({}) AS pgrst_groups)"
        ).format(_node_select(unpaged, qual, qual, binder))
    elif action.exact:
        total = sql.SQL("(SELECT pg_catalog.count(*) FROM {} WHERE {})").format(
            qual, _where(node, qual, binder)
        )
    return _wrap(plan, source, total)


def estimate_statement(plan: Plan) -> Statement | None:
    """``EXPLAIN`` of the rows a planned or estimated count stands for."""
    action = plan.action
    if not isinstance(action, Read) or action.estimate is None:
        return None
    binder = _Binder()
    node = action.node
    qual = sql.Identifier(node.table.schema, node.table.name)
    query = sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM {} WHERE {}").format(
        qual, _where(node, qual, binder)
    )
    return Statement(query, binder.params)


def _wrap(
    plan: Plan,
    source: sql.Composable,
    total: sql.Composable,
    *,
    location: sql.Composable | None = None,
    inserted: sql.Composable | None = None,
) -> sql.Composable:
    """The outer select: counts, the rendered body and the response settings."""
    return sql.SQL(
        "WITH pgrst_source AS ({source}) "
        "SELECT {total} AS total, "
        "pg_catalog.count(_postgrest_t)::bigint AS page_total, "
        "{body} AS body, {location} AS location, {inserted} AS inserted, "
        "nullif(pg_catalog.current_setting('response.headers', true), '') "
        "AS response_headers, "
        "nullif(pg_catalog.current_setting('response.status', true), '') "
        "AS response_status "
        "FROM (SELECT * FROM pgrst_source) AS _postgrest_t"
    ).format(
        source=source,
        total=total,
        body=_body(plan),
        location=location or sql.SQL("NULL::text"),
        inserted=inserted or sql.SQL("NULL::bigint"),
    )


def _body(plan: Plan) -> sql.Composable:
    if plan.head:
        return sql.SQL("''::text")
    if plan.csv:
        return sql.SQL(
            "coalesce((SELECT pg_catalog.string_agg(k, ',') FROM "
            "pg_catalog.json_object_keys(pg_catalog.json_agg(_postgrest_t) -> 0) "
            "AS k), '') || E'\\n' || coalesce(pg_catalog.string_agg("
            "substring(_postgrest_t::text, 2, "
            "length(_postgrest_t::text) - 2), E'\\n'), '')"
        )
    rows = _rows_json(plan)
    if plan.singular:
        return sql.SQL("coalesce(({} -> 0)::text, '')").format(rows)
    return sql.SQL("coalesce({}, '[]')::text").format(rows)


def _rows_json(plan: Plan) -> sql.Composable:
    """The page as one JSON array, without null-valued keys when asked."""
    rows = sql.SQL("pg_catalog.json_agg(_postgrest_t)")
    if plan.strip_nulls:
        return sql.SQL("pg_catalog.json_strip_nulls({})").format(rows)
    return rows


# -- reading a node -------------------------------------------------------------


def _node_select(
    node: ReadNode,
    source: sql.Composable,
    qual: sql.Composable,
    binder: _Binder,
    *,
    join: sql.Composable | None = None,
    expand_star: bool = False,
) -> sql.Composable:
    """``SELECT items FROM source [embeds] WHERE ... ORDER BY ... LIMIT ... OFFSET``."""
    items: list[sql.Composable] = []
    laterals: list[sql.Composable] = []
    # With an aggregate, every other item of the level is grouped by.
    grouped = _grouped(node)
    groups: list[sql.Composable] = []
    for item in node.select:
        if isinstance(item, Embed) and not item.node.select:
            # ``rel()`` embeds nothing: it is there for filters and ``!inner``.
            continue
        if isinstance(item, Embed):
            alias = sql.Identifier(f"pgrst_{item.node.alias}")
            laterals.append(_lateral(item, qual, alias, binder))
            body = sql.SQL("{}.body").format(alias)
            name = sql.Identifier(item.name)
            if item.spread:
                items.append(sql.SQL("{}.*").format(alias))
            elif grouped:
                # json has no equality: group by its jsonb twin, show the json.
                items.append(
                    sql.SQL("(pg_catalog.array_agg({}))[1] AS {}").format(body, name)
                )
                groups.append(sql.SQL("({})::jsonb").format(body))
            else:
                items.append(sql.SQL("{} AS {}").format(body, name))
        elif isinstance(item, Star):
            columns = _star(node.table, qual, expand_star or grouped)
            items.extend(columns)
            if grouped:
                groups.extend(columns)
        else:
            expr = _field_expr(item, qual, node.table)
            items.append(
                sql.SQL("{} AS {}").format(expr, sql.Identifier(item.output_name))
            )
            if grouped and item.aggregate is None:
                groups.append(expr)

    where = _where(node, qual, binder)
    if join is not None:
        where = sql.SQL("{} AND {}").format(join, where)
    query = sql.SQL("SELECT {items} FROM {source}{laterals} WHERE {where}").format(
        items=sql.SQL(", ").join(items),
        source=source,
        laterals=sql.SQL("").join(laterals),
        where=where,
    )
    if groups:
        query += sql.SQL(" GROUP BY ") + sql.SQL(", ").join(groups)
    return query + _order_page(node, qual, binder)


def _grouped(node: ReadNode) -> bool:
    """Whether the level aggregates: its rows are then groups."""
    return any(isinstance(item, SelectField) and item.aggregate for item in node.select)


def _star(table: Table, qual: sql.Composable, expand: bool) -> list[sql.Composable]:
    if not expand or not table.columns:
        return [sql.SQL("{}.*").format(qual)]
    return [
        sql.SQL("{}.{}").format(qual, sql.Identifier(col.name)) for col in table.columns
    ]


_AGGREGATE_FUNCTIONS = {
    "avg": sql.SQL("pg_catalog.avg"),
    "count": sql.SQL("pg_catalog.count"),
    "max": sql.SQL("pg_catalog.max"),
    "min": sql.SQL("pg_catalog.min"),
    "sum": sql.SQL("pg_catalog.sum"),
}


def _field_expr(
    item: SelectField, qual: sql.Composable, table: Table
) -> sql.Composable:
    """A selected column with its casts, or the aggregate of one."""
    if item.aggregate == "count" and item.field == Field("*"):
        expr: sql.Composable = sql.SQL("*")
    else:
        expr = _cast(_column(item.field, qual, table), item.cast)
    if item.aggregate is None:
        return expr
    function = _AGGREGATE_FUNCTIONS[item.aggregate]
    return _cast(sql.SQL("{}({})").format(function, expr), item.aggregate_cast)


def _cast(expr: sql.Composable, cast: str | None) -> sql.Composable:
    if cast is None:
        return expr
    # The grammar admits only words separated by single spaces (``text``,
    # ``double precision``): inside CAST( ... AS ...) they cannot leave the
    # parentheses, so the worst a bad one does is a syntax error.
    return sql.SQL("CAST({} AS {})").format(expr, sql.SQL(cast))


def _column(fld: Field, qual: sql.Composable, table: Table) -> sql.Composable:
    expr: sql.Composable = sql.SQL("{}.{}").format(qual, sql.Identifier(fld.name))
    if not fld.json_path:
        return expr
    column = table.column(fld.name)
    if column is not None and column.base_type not in _JSON_TYPES:
        expr = sql.SQL("pg_catalog.to_jsonb({})").format(expr)
    for step in fld.json_path:
        expr = sql.SQL("{} {} {}").format(
            expr, sql.SQL(step.arrow), sql.Literal(step.key)
        )
    return expr


def _lateral(
    embed: Embed, parent: sql.Composable, alias: sql.Composable, binder: _Binder
) -> sql.Composable:
    node = embed.node
    child = sql.Identifier(node.alias)
    source = _embed_source(embed, child)
    inner = _node_select(node, source, child, binder, join=_join(embed, parent, child))
    shaped: sql.Composable = inner
    if not embed.spread:
        aggregate = sql.SQL("pg_catalog.row_to_json({})").format(ROW)
        if not embed.relationship.to_one:
            aggregate = sql.SQL("coalesce(pg_catalog.json_agg({}), '[]')").format(ROW)
        shaped = sql.SQL("SELECT {} AS body FROM ({}) AS {}").format(
            aggregate, inner, ROW
        )
    return sql.SQL(" LEFT JOIN LATERAL ({}) AS {} ON TRUE").format(shaped, alias)


def _embed_source(embed: Embed, child: sql.Identifier) -> sql.Composable:
    """The embedded relation, joined to its junction table for many-to-many."""
    table = embed.node.table
    source = sql.SQL("{} AS {}").format(sql.Identifier(table.schema, table.name), child)
    if embed.relationship.junction is None:
        return source
    to_target = embed.relationship.junction[1]
    junction = _junction_alias(embed)
    on = sql.SQL(" AND ").join(
        sql.SQL("{}.{} = {}.{}").format(
            junction, sql.Identifier(own), child, sql.Identifier(ref)
        )
        for own, ref in zip(to_target.columns, to_target.ref_columns, strict=True)
    )
    return sql.SQL("{} JOIN {} AS {} ON {}").format(
        source,
        sql.Identifier(to_target.schema, to_target.table),
        junction,
        on,
    )


def _junction_alias(embed: Embed) -> sql.Identifier:
    return sql.Identifier(f"{embed.node.alias}_junction")


def _join(
    embed: Embed, parent: sql.Composable, child: sql.Composable
) -> sql.Composable:
    junction = embed.relationship.junction
    if junction is not None:
        alias = _junction_alias(embed)
        to_origin = junction[0]
        return sql.SQL(" AND ").join(
            sql.SQL("{}.{} = {}.{}").format(
                alias, sql.Identifier(own), parent, sql.Identifier(ref)
            )
            for own, ref in zip(to_origin.columns, to_origin.ref_columns, strict=True)
        )
    return sql.SQL(" AND ").join(
        sql.SQL("{}.{} = {}.{}").format(
            child, sql.Identifier(target), parent, sql.Identifier(origin)
        )
        for origin, target in embed.relationship.pairs()
    )


def _where(node: ReadNode, qual: sql.Composable, binder: _Binder) -> sql.Composable:
    """The node's conditions and, for each ``!inner`` embed, that it has rows."""
    embeds = {item.name: item for item in node.select if isinstance(item, Embed)}
    parts = [_condition(c, qual, node.table, binder, embeds) for c in node.conditions]
    for item in node.select:
        if isinstance(item, Embed) and item.inner:
            parts.append(_exists(item, qual, binder))
    if not parts:
        return sql.SQL("TRUE")
    return sql.SQL(" AND ").join(parts)


def _exists(embed: Embed, parent: sql.Composable, binder: _Binder) -> sql.Composable:
    node = embed.node
    child = sql.Identifier(node.alias)
    return sql.SQL("EXISTS (SELECT 1 FROM {} WHERE {} AND {})").format(
        _embed_source(embed, child),
        _join(embed, parent, child),
        _where(node, child, binder),
    )


def _order_page(
    node: ReadNode, qual: sql.Composable, binder: _Binder
) -> sql.Composable:
    parts: list[sql.Composable] = []
    if node.order:
        terms = [_order_term(term, node, qual, binder) for term in node.order]
        parts.append(sql.SQL(" ORDER BY ") + sql.SQL(", ").join(terms))
    if node.limit is not None:
        parts.append(sql.SQL(" LIMIT {}").format(binder.bind(node.limit)))
    if node.offset:
        parts.append(sql.SQL(" OFFSET {}").format(binder.bind(node.offset)))
    return sql.Composed(parts)


def _order_term(
    term: OrderTerm, node: ReadNode, qual: sql.Composable, binder: _Binder
) -> sql.Composable:
    if term.relation is None:
        text = _column(term.field, qual, node.table)
    else:
        text = _related_value(term, node, qual, binder)
    if term.direction:
        text = sql.SQL("{} {}").format(text, sql.SQL(term.direction.upper()))
    if term.nulls:
        text = sql.SQL("{} NULLS {}").format(text, sql.SQL(term.nulls.upper()))
    return text


def _related_value(
    term: OrderTerm, node: ReadNode, qual: sql.Composable, binder: _Binder
) -> sql.Composable:
    """``rel(col)``: the column of the row a to-one embed joins, or NULL."""
    embed = next(
        item
        for item in node.select
        if isinstance(item, Embed) and item.name == term.relation
    )
    child = sql.Identifier(embed.node.alias)
    return sql.SQL("(SELECT {} FROM {} WHERE {} AND {})").format(
        _column(term.field, child, embed.node.table),
        _embed_source(embed, child),
        _join(embed, qual, child),
        _where(embed.node, child, binder),
    )


# -- conditions -----------------------------------------------------------------


def _condition(
    cond: Condition,
    qual: sql.Composable,
    table: Table,
    binder: _Binder,
    embeds: Mapping[str, Embed] | None = None,
) -> sql.Composable:
    if isinstance(cond, LogicTree):
        joiner = sql.SQL(" AND ") if cond.operator == "and" else sql.SQL(" OR ")
        inner = joiner.join(
            _condition(c, qual, table, binder, embeds) for c in cond.children
        )
        tree = sql.SQL("({})").format(inner)
        return sql.SQL("NOT {}").format(tree) if cond.negated else tree
    embed = _null_embed_filter(cond, embeds or {})
    if embed is not None:
        # ``rel=not.is.null`` keeps rows whose embed has rows, ``rel=is.null``
        # those whose embed has none, as PostgREST reads such a filter.
        text = _exists(embed, qual, binder)
        if cond.operation.value == "null":
            text = sql.SQL("NOT {}").format(text)
    else:
        text = _filter(cond, qual, table, binder)
    return sql.SQL("NOT ({})").format(text) if cond.negated else text


def _null_embed_filter(cond: Filter, embeds: Mapping[str, Embed]) -> Embed | None:
    op = cond.operation
    if cond.field.json_path or op.op != "is" or op.value not in ("null", "not_null"):
        return None
    return embeds.get(cond.field.name)


def _filter(
    flt: Filter, qual: sql.Composable, table: Table, binder: _Binder
) -> sql.Composable:
    op = flt.operation
    column = _column(flt.field, qual, table)
    if op.op == "is":
        return sql.SQL("{} {}").format(column, sql.SQL(_IS[op.value]))
    if op.op == "in":
        return sql.SQL("{} = ANY({})").format(column, binder.bind(pg_array(op.values)))
    if op.op in FTS_OPS:
        return _fts(flt, column, table, binder)

    value = op.value.replace("*", "%") if op.op in ("like", "ilike") else op.value
    operator = sql.SQL(SIMPLE_OPS[op.op])
    if op.quantifier is not None:
        quant = sql.SQL("ANY" if op.quantifier == "any" else "ALL")
        return sql.SQL("{} {} {}({})").format(
            column, operator, quant, binder.bind(value)
        )
    return sql.SQL("{} {} {}").format(column, operator, binder.bind(value))


def _fts(
    flt: Filter, column: sql.Composable, table: Table, binder: _Binder
) -> sql.Composable:
    op = flt.operation
    function = sql.SQL("pg_catalog." + FTS_OPS[op.op])
    args = [binder.bind(op.value)]
    if op.config is not None:
        args.insert(0, binder.bind(op.config))
    described = table.column(flt.field.name)
    if not flt.field.json_path and described and described.base_type != "tsvector":
        vector_args = [*args[:-1], column]
        column = sql.SQL("pg_catalog.to_tsvector({})").format(
            sql.SQL(", ").join(vector_args)
        )
    return sql.SQL("{} @@ {}({})").format(column, function, sql.SQL(", ").join(args))


def pg_array(values: Sequence[str]) -> str:
    """A Postgres array literal of ``values``, each quoted and escaped."""
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


# -- writes ---------------------------------------------------------------------


def _mutation(
    plan: Plan, action: Insert | Update | Delete, binder: _Binder
) -> sql.Composable:
    table = action.table
    target = sql.Identifier(table.schema, table.name)
    if isinstance(action, Insert):
        statement = _insert(action, target, binder)
    elif isinstance(action, Update):
        statement = _update(action, target, binder)
    else:
        statement = sql.SQL("DELETE FROM {} WHERE {}").format(
            target, _write_where(action, target, binder)
        )
    statement += _returning(plan, action, target)

    readback = sql.Identifier(table.name)
    source = sql.SQL("pgrst_source AS {}").format(readback)
    if plan.returning is not None:
        outer = _node_select(plan.returning, source, readback, binder, expand_star=True)
    else:
        outer = sql.SQL("SELECT FROM pgrst_source")
    total = sql.SQL("pg_catalog.count(_postgrest_t)") if plan.count else sql.SQL("NULL")
    return _wrap_mutation(
        plan, statement, outer, total, _location(plan), _inserted(action)
    )


def _wrap_mutation(
    plan: Plan,
    statement: sql.Composable,
    outer: sql.Composable,
    total: sql.Composable,
    location: sql.Composable,
    inserted: sql.Composable,
) -> sql.Composable:
    return sql.SQL(
        "WITH pgrst_source AS ({statement}) "
        "SELECT {total}::bigint AS total, "
        "pg_catalog.count(_postgrest_t)::bigint AS page_total, "
        "{body} AS body, {location} AS location, {inserted} AS inserted, "
        "nullif(pg_catalog.current_setting('response.headers', true), '') "
        "AS response_headers, "
        "nullif(pg_catalog.current_setting('response.status', true), '') "
        "AS response_status "
        "FROM ({outer}) AS _postgrest_t"
    ).format(
        statement=statement,
        total=total,
        body=_body(plan) if plan.returning is not None else sql.SQL("''::text"),
        location=location,
        inserted=inserted,
        outer=outer,
    )


def _returning(
    plan: Plan, action: Insert | Update | Delete, target: sql.Composable
) -> sql.Composable:
    # Returning the rows makes Postgres check them against the SELECT policies, so a
    # write whose result the caller may not read fails whole (42501). Without a
    # representation only a constant is returned and no read right is needed.
    upsert = isinstance(action, Insert) and action.resolution == "merge-duplicates"
    if plan.returning is None and not plan.location_keys and not upsert:
        return sql.SQL(" RETURNING 1")
    text = sql.SQL(" RETURNING {}.*").format(target)
    if upsert:
        text += sql.SQL(", ({}.xmax::text = '0') AS pgrst_inserted").format(target)
    return text


def _location(plan: Plan) -> sql.Composable:
    if not plan.location_keys:
        return sql.SQL("NULL::text")
    pairs = sql.SQL(", ").join(
        sql.SQL("{}, {}").format(sql.Literal(key), sql.Identifier(key))
        for key in plan.location_keys
    )
    return sql.SQL(
        "(SELECT pg_catalog.json_agg(pg_catalog.json_build_object({})) "
        "FROM pgrst_source)::text"
    ).format(pairs)


def _inserted(action: Insert | Update | Delete) -> sql.Composable:
    if isinstance(action, Insert) and action.resolution == "merge-duplicates":
        return sql.SQL(
            "(SELECT pg_catalog.count(*) FROM pgrst_source WHERE pgrst_inserted)"
        )
    return sql.SQL("NULL::bigint")


def _conditions(
    conditions: Sequence[Condition], qual: sql.Composable, table: Table, binder: _Binder
) -> sql.Composable:
    if not conditions:
        return sql.SQL("TRUE")
    return sql.SQL(" AND ").join(_condition(c, qual, table, binder) for c in conditions)


def _insert(action: Insert, target: sql.Composable, binder: _Binder) -> sql.Composable:
    columns: list[sql.Composable] = [sql.Identifier(c) for c in action.columns]
    body = binder.bind(action.body)
    if not columns:
        statement = _default_rows(action, target)
    elif action.missing is not None:
        statement = _insert_with_defaults(action, target, columns, body)
    else:
        statement = sql.SQL(
            "INSERT INTO {target} ({cols}) SELECT {cols} FROM "
            "pg_catalog.json_populate_recordset(NULL::{target}, {body}::json) "
            "AS pgrst_body"
        ).format(target=target, cols=sql.SQL(", ").join(columns), body=body)
    if action.put:
        # PUT writes the body only where it carries the key the URL names; the
        # caller sees zero rows otherwise and refuses the request (PGRST115).
        statement += sql.SQL(" WHERE {}").format(
            _conditions(action.put_conditions, BODY, action.table, binder)
        )
    return statement + _on_conflict(action)


def _default_rows(action: Insert, target: sql.Composable) -> sql.Composable:
    """One row of defaults per object that has no keys (none for ``[]``)."""
    first = _plain_column(action.table)
    count = len(action.missing) if action.missing is not None else action.rows
    if count == 0:
        return sql.SQL(
            "INSERT INTO {t} ({c}) SELECT (NULL::{t}).{c} WHERE false"
        ).format(t=target, c=first)
    values = sql.SQL(", ").join([sql.SQL("(DEFAULT)")] * count)
    return sql.SQL("INSERT INTO {} ({}) VALUES {}").format(target, first, values)


def _plain_column(table: Table) -> sql.Composable:
    """A column that may be written explicitly (identity ALWAYS columns may not)."""
    plain = [c for c in table.columns if not c.generated] or list(table.columns)
    return sql.Identifier(plain[0].name)


def _insert_with_defaults(
    action: Insert,
    target: sql.Composable,
    columns: list[sql.Composable],
    body: sql.Composable,
) -> sql.Composable:
    """``VALUES`` rows where each key an object lacks becomes ``DEFAULT``."""
    assert action.missing is not None
    rows = []
    for index, missing in enumerate(action.missing):
        cells = [
            sql.SQL("DEFAULT")
            if name in missing
            else sql.SQL(
                "(SELECT {col} FROM pg_catalog.json_populate_record(NULL::{target}, "
                "{body}::json -> {index}))"
            ).format(
                col=sql.Identifier(name),
                target=target,
                body=body,
                index=sql.Literal(index),
            )
            for name in action.columns
        ]
        rows.append(sql.SQL("({})").format(sql.SQL(", ").join(cells)))
    return sql.SQL("INSERT INTO {} ({}) VALUES {}").format(
        target, sql.SQL(", ").join(columns), sql.SQL(", ").join(rows)
    )


def _on_conflict(action: Insert) -> sql.Composable:
    if action.resolution is None or not action.on_conflict:
        return sql.SQL("")
    keys = sql.SQL(", ").join(sql.Identifier(c) for c in action.on_conflict)
    if action.resolution == "ignore-duplicates" or not action.columns:
        return sql.SQL(" ON CONFLICT ({}) DO NOTHING").format(keys)
    updates = sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in action.columns
    )
    return sql.SQL(" ON CONFLICT ({}) DO UPDATE SET {}").format(keys, updates)


def _write_where(
    action: Update | Delete, target: sql.Composable, binder: _Binder
) -> sql.Composable:
    """The rows a PATCH or DELETE changes: its filters, or the first of them."""
    table = action.table
    if action.window is None:
        return _conditions(action.conditions, target, table, binder)
    window = action.window
    alias = sql.Identifier("pgrst_limited")
    node = ReadNode(
        table,
        "pgrst_limited",
        (),
        action.conditions,
        window.order,
        window.limit,
        window.offset,
    )
    chosen = sql.SQL(
        "SELECT {alias}.ctid FROM {table} AS {alias} WHERE {where}"
    ).format(
        alias=alias,
        table=sql.Identifier(table.schema, table.name),
        where=_conditions(action.conditions, alias, table, binder),
    )
    chosen += _order_page(node, alias, binder)
    return sql.SQL("{}.ctid = ANY(ARRAY({}))").format(target, chosen)


def _update(action: Update, target: sql.Composable, binder: _Binder) -> sql.Composable:
    if not action.columns:
        # An empty object changes nothing: an update that matches no row.
        first = _plain_column(action.table)
        return sql.SQL("UPDATE {t} SET {c} = {t}.{c} WHERE false").format(
            t=target, c=first
        )
    where = _write_where(action, target, binder)
    sets = sql.SQL(", ").join(
        sql.SQL("{} = DEFAULT").format(sql.Identifier(c))
        if c in action.defaults
        else sql.SQL("{0} = pgrst_body.{0}").format(sql.Identifier(c))
        for c in action.columns
    )
    return sql.SQL(
        "UPDATE {target} SET {sets} FROM (SELECT * FROM "
        "pg_catalog.json_populate_record(NULL::{target}, {body}::json)) AS pgrst_body "
        "WHERE {where}"
    ).format(target=target, sets=sets, body=binder.bind(action.body), where=where)


# -- functions ------------------------------------------------------------------


def _call(plan: Plan, action: Call, binder: _Binder) -> sql.Composable:
    fn = action.function
    node = action.node
    qual = sql.Identifier(fn.name)
    invocation = _invocation(action, binder)
    if fn.returns_composite:
        source = sql.SQL("{} AS {}").format(invocation, qual)
        selected = _node_select(node, source, qual, binder)
    else:
        scalar = sql.SQL("{} AS {}(pgrst_scalar)").format(invocation, qual)
        selected = sql.SQL("SELECT {}.pgrst_scalar FROM {}").format(qual, scalar)
        selected += _order_page(node, qual, binder)
    total: sql.Composable = sql.SQL("NULL::bigint")
    if plan.count and fn.returns_composite:
        total = sql.SQL("(SELECT pg_catalog.count(*) FROM {} AS {} WHERE {})").format(
            invocation, qual, _where(node, qual, binder)
        )
    elif plan.count:
        total = sql.SQL("(SELECT pg_catalog.count(*) FROM {} AS {})").format(
            invocation, qual
        )
    return _wrap_call(plan, action, selected, total)


def _wrap_call(
    plan: Plan, action: Call, selected: sql.Composable, total: sql.Composable
) -> sql.Composable:
    fn = action.function
    if plan.head or fn.returns_void:
        body: sql.Composable = sql.SQL("''::text")
    elif fn.returns_composite:
        body = (
            _body(plan)
            if fn.returns_set
            else sql.SQL("coalesce(({} -> 0)::text, 'null')").format(_rows_json(plan))
        )
    elif fn.returns_set and not plan.singular:
        body = sql.SQL(
            "coalesce(pg_catalog.json_agg(_postgrest_t.pgrst_scalar), '[]')::text"
        )
    else:
        body = sql.SQL(
            "coalesce((pg_catalog.json_agg(_postgrest_t.pgrst_scalar) -> 0)::text, "
            "'null')"
        )
    return sql.SQL(
        "WITH pgrst_source AS ({selected}) "
        "SELECT {total} AS total, pg_catalog.count(*)::bigint AS page_total, "
        "{body} AS body, NULL::text AS location, NULL::bigint AS inserted, "
        "nullif(pg_catalog.current_setting('response.headers', true), '') "
        "AS response_headers, "
        "nullif(pg_catalog.current_setting('response.status', true), '') "
        "AS response_status "
        "FROM (SELECT * FROM pgrst_source) AS _postgrest_t"
    ).format(selected=selected, total=total, body=body)


def _invocation(action: Call, binder: _Binder) -> sql.Composable:
    fn = action.function
    name = sql.Identifier(fn.schema, fn.name)
    if action.whole_body:
        param_type = sql.SQL(fn.params[0].data_type)
        return sql.SQL("{}({}::{})").format(name, binder.bind(action.args), param_type)
    if not action.arg_names:
        return sql.SQL("{}()").format(name)
    types = {p.name: p.data_type for p in fn.params}
    variadic = {p.name for p in fn.params if p.variadic}
    # json_to_record converts every argument with its parameter's own input
    # function, numbers and arrays included, as PostgREST does; the type names
    # are format_type() output from the catalog.
    record = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(types[n]))
        for n in action.arg_names
    )
    args = sql.SQL(", ").join(
        sql.SQL(
            "{3}{0} := (SELECT pgrst_args.{0} FROM "
            "pg_catalog.json_to_record({1}::json) AS pgrst_args({2}))"
        ).format(
            sql.Identifier(n),
            sql.Placeholder("args"),
            record,
            # A variadic parameter named in a call takes the whole array.
            sql.SQL("VARIADIC " if n in variadic else ""),
        )
        for n in action.arg_names
    )
    binder.params["args"] = action.args
    return sql.SQL("{}({})").format(name, args)
