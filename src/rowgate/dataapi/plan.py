"""Plan a parsed request against the schema cache: what to read, write or call.

Pure. Resolves the target table or function (only in exposed schemas), embedded
relationships through foreign keys, the page to return (``limit``/``offset``
intersected with ``Range``, capped by ``max_rows``), validates write payloads and
their columns, and settles which preferences apply. Column names in ``select``,
filters and ``order`` are not checked here: Postgres reports them (42703) exactly
as it does behind PostgREST.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from rowgate.dataapi.errors import RequestError, SchemaCacheError
from rowgate.dataapi.request import (
    MEDIA_CSV,
    MEDIA_OBJECT,
    ApiRequest,
    Condition,
    EmbedPath,
    OrderTerm,
    SelectEmbed,
    SelectField,
    SelectItem,
    Star,
)
from rowgate.dataapi.schema_cache import ForeignKey, Function, SchemaCache, Table

Cardinality = Literal["many-to-one", "one-to-many", "one-to-one"]


@dataclass(frozen=True)
class Relationship:
    foreign_key: ForeignKey
    cardinality: Cardinality
    # True when the origin holds the foreign key columns (to-one through it).
    through_origin: bool

    @property
    def to_one(self) -> bool:
        return self.cardinality != "one-to-many"

    def pairs(self) -> list[tuple[str, str]]:
        """(origin column, target column) pairs of the join."""
        fk = self.foreign_key
        if self.through_origin:
            return list(zip(fk.columns, fk.ref_columns, strict=True))
        return list(zip(fk.ref_columns, fk.columns, strict=True))


@dataclass(frozen=True)
class Embed:
    name: str
    relationship: Relationship
    node: ReadNode
    inner: bool
    spread: bool


@dataclass(frozen=True)
class ReadNode:
    """One level of a read: a relation, its columns, conditions, order and page."""

    table: Table
    alias: str
    select: tuple[Star | SelectField | Embed, ...]
    conditions: tuple[Condition, ...] = ()
    order: tuple[OrderTerm, ...] = ()
    limit: int | None = None
    offset: int = 0


@dataclass(frozen=True)
class Read:
    node: ReadNode
    count: bool


@dataclass(frozen=True)
class Insert:
    table: Table
    columns: tuple[str, ...]
    body: str
    rows: int
    # Per row, the columns its object lacks; set only with Prefer missing=default.
    missing: tuple[frozenset[str], ...] | None
    on_conflict: tuple[str, ...] | None
    resolution: str | None


@dataclass(frozen=True)
class Update:
    table: Table
    columns: tuple[str, ...]
    body: str
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class Delete:
    table: Table
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class Call:
    function: Function
    args: str
    arg_names: tuple[str, ...]
    whole_body: bool
    node: ReadNode


@dataclass(frozen=True)
class Plan:
    action: Read | Insert | Update | Delete | Call
    media: str
    read_only: bool
    # The rows after a write, shaped by select=; None when only a count is needed.
    returning: ReadNode | None = None
    return_: str = "minimal"
    count: bool = False
    head: bool = False
    applied: tuple[str, ...] = ()
    max_affected: int | None = None
    location_keys: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def singular(self) -> bool:
        return self.media == MEDIA_OBJECT

    @property
    def csv(self) -> bool:
        return self.media == MEDIA_CSV


def make_plan(req: ApiRequest, cache: SchemaCache, max_rows: int | None) -> Plan:
    """The plan for ``req``; raises ``ApiError`` subclasses for what cannot run."""
    _check_strict(req)
    if req.target.kind == "rpc":
        return _call_plan(req, cache, max_rows)
    table = _table(req, cache)
    if req.method in ("GET", "HEAD"):
        node = _read_node(req, cache, table, max_rows)
        count = req.prefs.count is not None
        applied = (f"count={req.prefs.count}",) if count else ()
        return Plan(
            Read(node, count),
            req.media,
            True,
            count=count,
            head=req.method == "HEAD",
            applied=applied,
        )
    if req.method == "POST":
        return _insert_plan(req, cache, table)
    if req.method == "PATCH":
        return _update_plan(req, cache, table)
    if req.method == "DELETE":
        return _delete_plan(req, cache, table)
    raise RequestError(
        "PGRST127", "Feature not implemented", details=f"{req.method} on tables"
    )


def _check_strict(req: ApiRequest) -> None:
    if req.prefs.handling == "strict" and req.prefs.invalid:
        raise RequestError(
            "PGRST122",
            "Invalid preferences given with handling=strict",
            details=f"Invalid preferences: {', '.join(req.prefs.invalid)}",
        )


def _table(req: ApiRequest, cache: SchemaCache) -> Table:
    table = cache.table(req.schema, req.target.name)
    if table is None:
        raise SchemaCacheError(
            "PGRST205",
            f"Could not find the table '{req.schema}.{req.target.name}' in the "
            "schema cache",
        )
    return table


# -- reads ----------------------------------------------------------------------


def _page(req: ApiRequest, max_rows: int | None) -> tuple[int, int | None]:
    """(offset, limit) from limit/offset and the Range header, capped by max_rows."""
    # As PostgREST: the Range header and offset give the lower bound, and the
    # limit counts from there.
    low, high = req.params.offset.get((), 0), None
    if req.range is not None:
        low, high = max(low, req.range[0]), req.range[1]
    limit = req.params.limit.get(())
    if limit is not None:
        high = low + limit - 1 if high is None else min(high, low + limit - 1)
    count = None if high is None else max(high - low + 1, 0)
    if max_rows is not None:
        count = max_rows if count is None else min(count, max_rows)
    return low, count


def _read_node(
    req: ApiRequest, cache: SchemaCache, table: Table, max_rows: int | None
) -> ReadNode:
    builder = _NodeBuilder(req, cache, max_rows)
    node = builder.build(table, req.params.select, (), table.name)
    builder.check_paths()
    offset, limit = _page(req, max_rows)
    return ReadNode(
        node.table, node.alias, node.select, node.conditions, node.order, limit, offset
    )


class _NodeBuilder:
    """Builds a ``ReadNode`` tree, resolving embeds and distributing parameters."""

    def __init__(
        self, req: ApiRequest, cache: SchemaCache, max_rows: int | None
    ) -> None:
        self.req = req
        self.cache = cache
        self.max_rows = max_rows
        self.counter = 0
        self.paths: set[EmbedPath] = {()}

    def build(
        self,
        table: Table,
        items: tuple[SelectItem, ...],
        path: EmbedPath,
        alias: str,
    ) -> ReadNode:
        selected: list[Star | SelectField | Embed] = []
        for item in items:
            if isinstance(item, SelectEmbed):
                selected.append(self._embed(table, item, path))
            else:
                selected.append(item)
        params = self.req.params
        conditions = tuple(c for p, c in params.conditions if p == path)
        order = params.order.get(path, ())
        for term in order:
            if term.relation is not None:
                raise RequestError(
                    "PGRST118", f"A related order on '{term.relation}' is not possible"
                )
        limit = params.limit.get(path) if path else None
        if path and self.max_rows is not None:
            limit = self.max_rows if limit is None else min(limit, self.max_rows)
        offset = params.offset.get(path, 0) if path else 0
        return ReadNode(table, alias, tuple(selected), conditions, order, limit, offset)

    def _embed(self, origin: Table, item: SelectEmbed, path: EmbedPath) -> Embed:
        relationship = find_relationship(self.cache, origin, item.relation, item.hint)
        target = self.cache.table(
            relationship.foreign_key.ref_schema
            if relationship.through_origin
            else relationship.foreign_key.schema,
            relationship.foreign_key.ref_table
            if relationship.through_origin
            else relationship.foreign_key.table,
        )
        assert target is not None  # foreign keys are loaded only between cached tables
        if item.spread and not relationship.to_one:
            raise RequestError(
                "PGRST119", f"A spread operation on '{item.relation}' is not possible"
            )
        child_path = (*path, item.path_name)
        self.paths.add(child_path)
        self.counter += 1
        items = item.items if item.items or item.spread else ()
        node = self.build(target, items, child_path, f"{target.name}_{self.counter}")
        return Embed(item.path_name, relationship, node, item.inner, item.spread)

    def check_paths(self) -> None:
        params = self.req.params
        used = [p for p, _c in params.conditions] + list(params.order)
        used += list(params.limit) + list(params.offset)
        for path in used:
            if path not in self.paths:
                name = ".".join(path)
                raise RequestError(
                    "PGRST108",
                    f"'{name}' is not an embedded resource in this request",
                    hint=f"Verify that '{name}' is included in the 'select' query "
                    "parameter.",
                )


def find_relationship(
    cache: SchemaCache, origin: Table, name: str, hint: str | None
) -> Relationship:
    """The one foreign key relationship ``name!hint`` designates from ``origin``."""
    found = [
        rel
        for rel in _relationships(cache, origin)
        if _names_target(rel, name) and (hint is None or _matches_hint(rel, hint))
    ]
    if not found:
        raise SchemaCacheError(
            "PGRST200",
            f"Could not find a relationship between '{origin.name}' and '{name}' in "
            "the schema cache",
            details=f"Searched for a foreign key relationship between '{origin.name}' "
            f"and '{name}' in the schema '{origin.schema}', but no matches were found.",
        )
    if len(found) > 1:
        raise _ambiguous(origin, name, found)
    return found[0]


def _relationships(cache: SchemaCache, origin: Table) -> list[Relationship]:
    rels: list[Relationship] = []
    key = (origin.schema, origin.name)
    for fk in cache.foreign_keys:
        if (fk.schema, fk.table) == key and cache.table(fk.ref_schema, fk.ref_table):
            rels.append(Relationship(fk, "many-to-one", True))
        if (fk.ref_schema, fk.ref_table) == key:
            source = cache.table(fk.schema, fk.table)
            if source is None:
                continue
            unique = fk.columns in source.unique_keys
            rels.append(
                Relationship(fk, "one-to-one" if unique else "one-to-many", False)
            )
    return rels


def _names_target(rel: Relationship, name: str) -> bool:
    fk = rel.foreign_key
    target = fk.ref_table if rel.through_origin else fk.table
    if name == target or name == fk.name:
        return True
    return rel.through_origin and fk.columns == (name,)


def _matches_hint(rel: Relationship, hint: str) -> bool:
    fk = rel.foreign_key
    return hint == fk.name or (hint,) in (fk.columns, fk.ref_columns)


def _ambiguous(origin: Table, name: str, found: list[Relationship]) -> SchemaCacheError:
    details = []
    options = []
    for rel in found:
        fk = rel.foreign_key
        target = fk.ref_table if rel.through_origin else fk.table
        details.append(
            {
                "cardinality": rel.cardinality,
                "embedding": f"{origin.name} with {target}",
                "relationship": f"{fk.name} using "
                f"{fk.table}({', '.join(fk.columns)}) and "
                f"{fk.ref_table}({', '.join(fk.ref_columns)})",
            }
        )
        options.append(f"'{name}!{fk.name}'")
    return SchemaCacheError(
        "PGRST201",
        f"Could not embed because more than one relationship was found for "
        f"'{origin.name}' and '{name}'",
        details=details,
        hint=f"Try changing '{name}' to one of the following: {', '.join(options)}. "
        "Find the desired relationship in the 'details' key.",
    )


# -- writes ---------------------------------------------------------------------


def parse_json_body(req: ApiRequest) -> Any:
    if req.content_type not in (
        "application/json",
        "application/vnd.pgrst.object+json",
    ):
        raise RequestError(
            "PGRST102", f"Content-Type not acceptable: {req.content_type}"
        )
    try:
        return json.loads(req.body)
    except (UnicodeDecodeError, ValueError):
        raise RequestError("PGRST102", "Empty or invalid json") from None


def _columns_of(req: ApiRequest, table: Table, keys: list[str]) -> tuple[str, ...]:
    columns = req.params.columns if req.params.columns is not None else tuple(keys)
    for name in columns:
        if table.column(name) is None:
            raise SchemaCacheError(
                "PGRST204",
                f"Could not find the '{name}' column of '{table.name}' in the "
                "schema cache",
            )
    return columns


def _returning(
    req: ApiRequest, cache: SchemaCache, table: Table
) -> tuple[ReadNode | None, str]:
    return_ = req.prefs.return_ or "minimal"
    if return_ != "representation":
        return None, return_
    builder = _NodeBuilder(req, cache, None)
    node = builder.build(table, req.params.select, (), table.name)
    builder.check_paths()
    # Filters select the rows to change; they do not filter the representation.
    return ReadNode(node.table, node.alias, node.select), return_


def _insert_plan(req: ApiRequest, cache: SchemaCache, table: Table) -> Plan:
    payload = parse_json_body(req)
    rows = payload if isinstance(payload, list) else [payload]
    if not isinstance(payload, list | dict):
        rows = []
    if not all(isinstance(row, dict) for row in rows):
        raise RequestError("PGRST102", "All object keys must match")
    keys = list(rows[0]) if rows else []
    if req.params.columns is None and any(set(row) != set(keys) for row in rows):
        raise RequestError("PGRST102", "All object keys must match")
    columns = _columns_of(req, table, keys)

    body = req.body.decode()
    body = body if isinstance(payload, list) else ("[" + body + "]" if rows else "[]")
    missing = None
    if req.prefs.missing == "default":
        missing = tuple(frozenset(c for c in columns if c not in row) for row in rows)
    resolution = req.prefs.resolution
    if resolution and not (table.primary_key or req.params.on_conflict):
        resolution = None
    on_conflict = req.params.on_conflict or (table.primary_key if resolution else None)

    returning, return_ = _returning(req, cache, table)
    applied = _applied(req, resolution=resolution, return_=return_, missing=True)
    return Plan(
        Insert(table, columns, body, len(rows), missing, on_conflict, resolution),
        req.media,
        False,
        returning=returning,
        return_=return_,
        count=req.prefs.count is not None,
        applied=applied,
        location_keys=table.primary_key if return_ == "headers-only" else (),
    )


def _update_plan(req: ApiRequest, cache: SchemaCache, table: Table) -> Plan:
    _no_limits(req)
    payload = parse_json_body(req)
    if not isinstance(payload, dict):
        raise RequestError("PGRST102", "Payload must be a JSON object")
    columns = _columns_of(req, table, list(payload))
    returning, return_ = _returning(req, cache, table)
    return Plan(
        Update(table, columns, req.body.decode(), _top_conditions(req)),
        req.media,
        False,
        returning=returning,
        return_=return_,
        count=req.prefs.count is not None,
        applied=_applied(req, return_=return_, missing=True),
        max_affected=_max_affected(req),
    )


def _delete_plan(req: ApiRequest, cache: SchemaCache, table: Table) -> Plan:
    _no_limits(req)
    returning, return_ = _returning(req, cache, table)
    return Plan(
        Delete(table, _top_conditions(req)),
        req.media,
        False,
        returning=returning,
        return_=return_,
        count=req.prefs.count is not None,
        applied=_applied(req, return_=return_),
        max_affected=_max_affected(req),
    )


def _top_conditions(req: ApiRequest) -> tuple[Condition, ...]:
    for path, _condition in req.params.conditions:
        if path:
            raise RequestError(
                "PGRST108",
                f"'{'.'.join(path)}' is not an embedded resource in this request",
            )
    return tuple(c for _p, c in req.params.conditions)


def _no_limits(req: ApiRequest) -> None:
    # PostgREST 13 dropped limited updates and deletes; ignoring a limit would change
    # more rows than the client asked for, so it is refused instead.
    if req.params.limit or req.params.offset:
        raise RequestError(
            "PGRST127",
            "Feature not implemented",
            details="limit and offset are not supported on PATCH and DELETE",
        )


def _max_affected(req: ApiRequest) -> int | None:
    if req.prefs.handling == "strict":
        return req.prefs.max_affected
    return None


def _applied(
    req: ApiRequest,
    *,
    return_: str | None = None,
    resolution: str | None = None,
    missing: bool = False,
) -> tuple[str, ...]:
    prefs = req.prefs
    applied = []
    if resolution:
        applied.append(f"resolution={resolution}")
    if missing and prefs.missing:
        applied.append(f"missing={prefs.missing}")
    if return_ and prefs.return_:
        applied.append(f"return={return_}")
    if prefs.count:
        applied.append(f"count={prefs.count}")
    if prefs.handling:
        applied.append(f"handling={prefs.handling}")
    if prefs.handling == "strict" and prefs.max_affected is not None:
        applied.append(f"max-affected={prefs.max_affected}")
    return tuple(applied)


# -- functions ------------------------------------------------------------------

_JSON_TYPES = frozenset({"json", "jsonb"})


def _call_plan(req: ApiRequest, cache: SchemaCache, max_rows: int | None) -> Plan:
    if req.method not in ("GET", "HEAD", "POST"):
        raise RequestError("PGRST101", f"Cannot use the {req.method} method on RPC")
    if req.method == "POST":
        payload = parse_json_body(req) if req.body.strip() else {}
    else:
        payload = dict(req.params.rpc_args)
    keys = set(payload) if isinstance(payload, dict) else set()
    if req.params.columns is not None:
        keys &= set(req.params.columns)
    function, whole = _find_function(req, cache, keys)

    if whole:
        args = req.body.decode() or "{}"
        names: tuple[str, ...] = ()
    else:
        args = json.dumps({k: v for k, v in payload.items() if k in keys})
        names = tuple(p.name for p in function.params if p.name in keys)
    table = _function_table(function, cache)
    builder = _NodeBuilder(req, cache, max_rows)
    node = builder.build(table, req.params.select, (), function.name)
    builder.check_paths()
    offset, limit = _page(req, max_rows)
    node = ReadNode(
        node.table, node.alias, node.select, node.conditions, node.order, limit, offset
    )
    read_only = req.method != "POST" or not function.volatile
    return Plan(
        Call(function, args, names, whole, node),
        req.media,
        read_only,
        count=req.prefs.count is not None,
        head=req.method == "HEAD",
        applied=(f"count={req.prefs.count}",) if req.prefs.count else (),
    )


def _function_table(function: Function, cache: SchemaCache) -> Table:
    if function.return_table is not None:
        table = cache.table(*function.return_table)
        if table is not None:
            return Table(
                table.schema,
                table.name,
                "f",
                table.columns,
                table.primary_key,
                table.unique_keys,
            )
    return Table(function.schema, function.name, "f", ())


def _find_function(
    req: ApiRequest, cache: SchemaCache, keys: set[str]
) -> tuple[Function, bool]:
    overloads = cache.functions.get((req.schema, req.target.name), ())
    named = [
        fn
        for fn in overloads
        if fn.required <= keys <= {p.name for p in fn.params}
        and all(p.name for p in fn.params)
    ]
    if len(named) > 1:
        raise SchemaCacheError(
            "PGRST203",
            "Could not choose the best candidate function between: "
            + ", ".join(_signature(fn) for fn in named),
        )
    if named:
        return named[0], False
    single = [
        fn
        for fn in overloads
        if len(fn.params) == 1
        and not fn.params[0].name
        and fn.params[0].data_type in _JSON_TYPES
    ]
    if len(single) == 1 and req.method == "POST":
        return single[0], True
    shown = ", ".join(sorted(keys))
    where = f"{req.schema}.{req.target.name}"
    raise SchemaCacheError(
        "PGRST202",
        f"Could not find the function {where}({shown}) in the schema cache"
        if keys
        else f"Could not find the function {where} without parameters in the "
        "schema cache",
        details=f"Searched for the function {where} with parameters {shown} or with a "
        "single unnamed json/jsonb parameter, but no matches were found in the schema "
        "cache."
        if keys
        else f"Searched for the function {where} without parameters "
        "or with a single unnamed json/jsonb parameter, but no matches were found in "
        "the schema cache.",
    )


def _signature(fn: Function) -> str:
    params = ", ".join(f"{p.name} => {p.data_type}" for p in fn.params)
    return f"{fn.schema}.{fn.name}({params})"
