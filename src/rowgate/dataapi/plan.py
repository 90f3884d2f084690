"""Plan a parsed request against the schema cache: what to read, write or call.

Pure. Resolves the target table or function (only in exposed schemas), embedded
relationships through foreign keys and junction tables, the page to return
(``limit``/``offset`` intersected with ``Range``, capped by ``max_rows``), reads
write bodies by their media type (JSON, CSV, forms), checks PUT's primary-key
rules and limited updates, and settles which preferences apply (and are echoed
in ``Preference-Applied``). Column names in ``select``, filters and ``order`` are
not checked here: Postgres reports them (42703) exactly as it does behind
PostgREST.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import parse_qsl

from rowgate.dataapi.errors import RequestError, SchemaCacheError
from rowgate.dataapi.request import (
    MEDIA_ARRAY_STRIPPED,
    MEDIA_CSV,
    MEDIA_OBJECT,
    MEDIA_OBJECT_STRIPPED,
    ApiRequest,
    Condition,
    EmbedPath,
    Filter,
    OrderTerm,
    SelectEmbed,
    SelectField,
    SelectItem,
    Star,
)
from rowgate.dataapi.schema_cache import ForeignKey, Function, SchemaCache, Table

Cardinality = Literal["many-to-one", "one-to-many", "one-to-one", "many-to-many"]


@dataclass(frozen=True)
class Relationship:
    """A way to embed one relation in another: a foreign key, or two through a
    junction table (``junction`` holds its keys to the origin and to the target).
    """

    foreign_key: ForeignKey
    cardinality: Cardinality
    # True when the origin holds the foreign key columns (to-one through it).
    through_origin: bool
    junction: tuple[ForeignKey, ForeignKey] | None = None

    @property
    def to_one(self) -> bool:
        return self.cardinality in ("many-to-one", "one-to-one")

    @property
    def target(self) -> tuple[str, str]:
        fk = self.foreign_key
        if self.through_origin or self.junction is not None:
            return fk.ref_schema, fk.ref_table
        return fk.schema, fk.table

    def pairs(self) -> list[tuple[str, str]]:
        """(origin column, target column) pairs of a direct join."""
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
    # ``count=planned`` takes the planner's estimate instead of counting;
    # ``count=estimated`` does too, but only past ``max_rows`` exact rows.
    estimate: Literal["planned", "estimated"] | None = None
    max_rows: int | None = None

    @property
    def exact(self) -> bool:
        """Whether the statement itself counts the matching rows."""
        return self.count and self.estimate != "planned"


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
    # PUT: only body rows matching the URL's primary key filters are written.
    put_conditions: tuple[Condition, ...] = ()

    @property
    def put(self) -> bool:
        return bool(self.put_conditions)


@dataclass(frozen=True)
class Window:
    """PostgREST 12's limited update/delete: only the first rows in this order."""

    order: tuple[OrderTerm, ...]
    limit: int | None
    offset: int


@dataclass(frozen=True)
class Update:
    table: Table
    columns: tuple[str, ...]
    body: str
    conditions: tuple[Condition, ...]
    window: Window | None = None
    # With Prefer missing=default: listed columns the body lacks get DEFAULT.
    defaults: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Delete:
    table: Table
    conditions: tuple[Condition, ...]
    window: Window | None = None


@dataclass(frozen=True)
class Call:
    function: Function
    # JSON text of the arguments, or a raw body for one unnamed parameter.
    args: str | bytes
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
    # ``Prefer: tx=rollback`` (or a rollback default) undoes the request's work.
    rollback: bool = False
    # ``Prefer: timezone=`` for this transaction, once known to Postgres.
    timezone: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def singular(self) -> bool:
        return self.media in (MEDIA_OBJECT, MEDIA_OBJECT_STRIPPED)

    @property
    def strip_nulls(self) -> bool:
        return self.media in (MEDIA_ARRAY_STRIPPED, MEDIA_OBJECT_STRIPPED)

    @property
    def csv(self) -> bool:
        return self.media == MEDIA_CSV


def make_plan(
    req: ApiRequest,
    cache: SchemaCache,
    max_rows: int | None,
    *,
    tx_end: str = "commit",
    aggregates: bool = False,
) -> Plan:
    """The plan for ``req``; raises ``ApiError`` subclasses for what cannot run.

    ``aggregates`` allows ``count()`` and ``column.sum()`` and the like in
    ``select=`` (PostgREST's ``db-aggregates-enabled``, off by default: one
    request could make the database aggregate a whole table).
    """
    if not aggregates and _aggregated(req.params.select):
        raise RequestError("PGRST123", "Use of aggregate functions is not allowed")
    timezone = req.prefs.timezone
    if timezone is not None and timezone not in cache.timezones:
        timezone = None
    tx = req.prefs.tx if tx_end.endswith("-allow-override") else None
    _check_strict(req, timezone, tx)

    plan = _action_plan(req, cache, max_rows)
    extra = []
    if tx is not None:
        extra.append(f"tx={tx}")
    if timezone is not None:
        extra.append(f"timezone={timezone}")
    applied = sorted((*plan.applied, *extra), key=_applied_rank)
    rollback = tx == "rollback" if tx is not None else tx_end.startswith("rollback")
    return replace(plan, applied=tuple(applied), rollback=rollback, timezone=timezone)


def _aggregated(items: tuple[SelectItem, ...]) -> bool:
    for item in items:
        if isinstance(item, SelectField) and item.aggregate is not None:
            return True
        if isinstance(item, SelectEmbed) and _aggregated(item.items):
            return True
    return False


# The order PostgREST lists applied preferences in.
_APPLIED_ORDER = (
    "resolution",
    "missing",
    "return",
    "count",
    "tx",
    "handling",
    "timezone",
    "max-affected",
)


def _applied_rank(token: str) -> int:
    return _APPLIED_ORDER.index(token.partition("=")[0])


def _action_plan(req: ApiRequest, cache: SchemaCache, max_rows: int | None) -> Plan:
    if req.target.kind == "rpc":
        return _call_plan(req, cache, max_rows)
    table = _table(req, cache)
    if req.method in ("GET", "HEAD"):
        node = _read_node(req, cache, table, max_rows)
        count = req.prefs.count is not None
        estimate: Literal["planned", "estimated"] | None = None
        if req.prefs.count == "planned":
            estimate = "planned"
        elif req.prefs.count == "estimated" and max_rows is not None:
            # Without a row limit there is no threshold to estimate beyond.
            estimate = "estimated"
        return Plan(
            Read(node, count, estimate, max_rows),
            req.media,
            True,
            count=count,
            head=req.method == "HEAD",
            applied=_applied(req),
        )
    if req.method == "POST":
        return _insert_plan(req, cache, table)
    if req.method == "PUT":
        return _put_plan(req, cache, table)
    if req.method == "PATCH":
        return _update_plan(req, cache, table)
    if req.method == "DELETE":
        return _delete_plan(req, cache, table)
    raise RequestError("PGRST117", f"Unsupported HTTP method: {req.method}")


def _check_strict(req: ApiRequest, timezone: str | None, tx: str | None) -> None:
    if req.prefs.handling != "strict":
        return
    invalid = list(req.prefs.invalid)
    if req.prefs.timezone is not None and timezone is None:
        invalid.append(f"timezone={req.prefs.timezone}")
    if req.prefs.tx is not None and tx is None:
        invalid.append(f"tx={req.prefs.tx}")
    if invalid:
        raise RequestError(
            "PGRST122",
            "Invalid preferences given with handling=strict",
            details=f"Invalid preferences: {', '.join(invalid)}",
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
        if any(
            isinstance(item, SelectField) and item.aggregate for item in selected
        ) and any(isinstance(item, Embed) and item.spread for item in selected):
            # A spread's columns are not known here, so they cannot be grouped.
            raise RequestError(
                "PGRST123",
                "Aggregates cannot be combined with a spread embed at the same level",
            )
        params = self.req.params
        conditions = tuple(c for p, c in params.conditions if p == path)
        order = params.order.get(path, ())
        embeds = {item.name: item for item in selected if isinstance(item, Embed)}
        for term in order:
            if term.relation is None:
                continue
            embed = embeds.get(term.relation)
            if embed is None:
                raise RequestError(
                    "PGRST108",
                    f"'{term.relation}' is not an embedded resource in this request",
                    hint=f"Verify that '{term.relation}' is included in the 'select' "
                    "query parameter.",
                )
            # Only a to-one embed has one value per row to order by.
            if not embed.relationship.to_one:
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
        target = self.cache.table(*relationship.target)
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
        if _names_target(cache, rel, name)
        and (hint is None or _matches_hint(rel, hint))
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
    return rels + _many_to_many(cache, key)


def _many_to_many(cache: SchemaCache, origin: tuple[str, str]) -> list[Relationship]:
    """Junction tables whose primary key holds a key to ``origin`` and another."""
    by_table: dict[tuple[str, str], list[ForeignKey]] = {}
    for fk in cache.foreign_keys:
        by_table.setdefault((fk.schema, fk.table), []).append(fk)
    rels = []
    for junction_key, fks in by_table.items():
        junction = cache.table(*junction_key)
        if junction is None or not junction.primary_key:
            continue
        for to_origin in fks:
            if (to_origin.ref_schema, to_origin.ref_table) != origin:
                continue
            for to_target in fks:
                columns = {*to_origin.columns, *to_target.columns}
                if to_target is to_origin or not columns <= set(junction.primary_key):
                    continue
                if cache.table(to_target.ref_schema, to_target.ref_table) is None:
                    continue
                rels.append(
                    Relationship(
                        to_target, "many-to-many", False, (to_origin, to_target)
                    )
                )
    return rels


def _names_target(cache: SchemaCache, rel: Relationship, name: str) -> bool:
    """The target by its name; a table also by the key's name or its one column.

    A key's name and column stand for the table it references only: a view
    showing the same key is named by its own name, as in PostgREST.
    """
    fk = rel.foreign_key
    if name == rel.target[1]:
        return True
    if rel.junction is not None:
        return False
    target = cache.table(*rel.target)
    if target is not None and target.is_view:
        return False
    return name == fk.name or (rel.through_origin and fk.columns == (name,))


def _matches_hint(rel: Relationship, hint: str) -> bool:
    """A hint names the key (or one of its columns), or a junction table."""
    fk = rel.foreign_key
    if rel.junction is not None:
        return hint == rel.junction[0].table
    return hint == fk.name or (hint,) in (fk.columns, fk.ref_columns)


def _ambiguous(origin: Table, name: str, found: list[Relationship]) -> SchemaCacheError:
    details = []
    options = []
    for rel in found:
        fk = rel.foreign_key
        target = rel.target[1]
        if rel.junction is not None:
            to_origin, to_target = rel.junction
            described = f"{to_origin.table} using {to_origin.name} and {to_target.name}"
            choice = to_origin.table
        else:
            described = (
                f"{fk.name} using {fk.table}({', '.join(fk.columns)}) and "
                f"{fk.ref_table}({', '.join(fk.ref_columns)})"
            )
            choice = fk.name
        details.append(
            {
                "cardinality": rel.cardinality,
                "embedding": f"{origin.name} with {target}",
                "relationship": described,
            }
        )
        options.append(f"'{name}!{choice}'")
    return SchemaCacheError(
        "PGRST201",
        f"Could not embed because more than one relationship was found for "
        f"'{origin.name}' and '{name}'",
        details=details,
        hint=f"Try changing '{name}' to one of the following: {', '.join(options)}. "
        "Find the desired relationship in the 'details' key.",
    )


# -- writes ---------------------------------------------------------------------


_JSON_BODY_TYPES = frozenset({"application/json", "application/vnd.pgrst.object+json"})
FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Payload:
    """A request body read by its ``Content-Type``, and the same as JSON text."""

    value: Any
    text: str


def parse_body(req: ApiRequest, *, csv_allowed: bool = True) -> Payload:
    """The body as JSON (as is), CSV (rows of strings) or a form (one object).

    Any other media type is refused with PGRST102, as PostgREST answers it.
    """
    if req.content_type in _JSON_BODY_TYPES:
        try:
            text = req.body.decode()
            return Payload(json.loads(text), text)
        except (UnicodeDecodeError, ValueError):
            raise RequestError("PGRST102", "Empty or invalid json") from None
    rows: list[dict[str, str | None]] | dict[str, str]
    if req.content_type == MEDIA_CSV and csv_allowed:
        rows = _csv_rows(_text_body(req))
    elif req.content_type == FORM_TYPE:
        rows = dict(parse_qsl(_text_body(req), keep_blank_values=True))
    else:
        raise RequestError(
            "PGRST102", f"Content-Type not acceptable: {req.content_type}"
        )
    return Payload(rows, json.dumps(rows, ensure_ascii=False))


def _text_body(req: ApiRequest) -> str:
    try:
        return req.body.decode()
    except UnicodeDecodeError:
        raise RequestError("PGRST102", "The request body is not UTF-8") from None


def _csv_rows(text: str) -> list[dict[str, str | None]]:
    """A header line of column names, then rows; the bare word NULL is a null."""
    lines = list(csv.reader(io.StringIO(text, newline="")))
    lines = [line for line in lines if line]
    if not lines:
        return []
    header, *records = lines
    if any(len(record) != len(header) for record in records):
        raise RequestError("PGRST102", "All lines must have same number of fields")
    return [
        {
            name: None if cell == "NULL" else cell
            for name, cell in zip(header, record, strict=True)
        }
        for record in records
    ]


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
    payload = parse_body(req)
    value = payload.value
    rows = value if isinstance(value, list) else [value]
    if not isinstance(value, list | dict):
        rows = []
    if not all(isinstance(row, dict) for row in rows):
        raise RequestError("PGRST102", "All object keys must match")
    keys = list(rows[0]) if rows else []
    if req.params.columns is None and any(set(row) != set(keys) for row in rows):
        raise RequestError("PGRST102", "All object keys must match")
    columns = _columns_of(req, table, keys)

    body = payload.text if isinstance(value, list) else json.dumps(rows)
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


def _put_plan(req: ApiRequest, cache: SchemaCache, table: Table) -> Plan:
    """A single-row upsert addressed by every primary key column with ``eq``."""
    if req.params.limit or req.params.offset:
        raise RequestError(
            "PGRST114", "limit/offset querystring parameters are not allowed for PUT"
        )
    conditions = tuple(c for _p, c in req.params.conditions)
    if not _addresses_primary_key(req, table):
        raise RequestError(
            "PGRST105",
            "Filters must include all and only primary key columns with 'eq' operators",
        )
    value = parse_body(req).value
    row = value[0] if isinstance(value, list) and value else value
    if not isinstance(row, dict):
        raise RequestError("PGRST102", "Payload must be a JSON object")
    columns = _columns_of(req, table, list(row))

    returning, return_ = _returning(req, cache, table)
    return Plan(
        Insert(
            table,
            columns,
            json.dumps([row]),
            1,
            None,
            table.primary_key,
            "merge-duplicates",
            conditions,
        ),
        req.media,
        False,
        returning=returning,
        return_=return_,
        count=req.prefs.count is not None,
        applied=_applied(req, return_=return_),
    )


def _addresses_primary_key(req: ApiRequest, table: Table) -> bool:
    if not table.primary_key:
        return False
    names = []
    for path, condition in req.params.conditions:
        plain = (
            isinstance(condition, Filter)
            and not path
            and not condition.negated
            and not condition.field.json_path
            and condition.operation.op == "eq"
            and condition.operation.quantifier is None
        )
        if not plain:
            return False
        assert isinstance(condition, Filter)
        names.append(condition.field.name)
    return sorted(names) == sorted(table.primary_key)


def _update_plan(req: ApiRequest, cache: SchemaCache, table: Table) -> Plan:
    window = _window(req)
    payload = parse_body(req)
    value = payload.value
    if isinstance(value, list) and len(value) == 1:
        # A one-row CSV body, or a one-element array, is that row.
        value = value[0]
    if not isinstance(value, dict):
        raise RequestError("PGRST102", "Payload must be a JSON object")
    columns = _columns_of(req, table, list(value))
    defaults: frozenset[str] = frozenset()
    if req.prefs.missing == "default":
        defaults = frozenset(c for c in columns if c not in value)
    returning, return_ = _returning(req, cache, table)
    return Plan(
        Update(
            table,
            columns,
            json.dumps(value),
            _top_conditions(req),
            window,
            defaults,
        ),
        req.media,
        False,
        returning=returning,
        return_=return_,
        count=req.prefs.count is not None,
        applied=_applied(req, return_=return_, missing=True, affected=True),
        max_affected=_max_affected(req),
    )


def _delete_plan(req: ApiRequest, cache: SchemaCache, table: Table) -> Plan:
    window = _window(req)
    returning, return_ = _returning(req, cache, table)
    return Plan(
        Delete(table, _top_conditions(req), window),
        req.media,
        False,
        returning=returning,
        return_=return_,
        count=req.prefs.count is not None,
        applied=_applied(req, return_=return_, affected=True),
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


def _window(req: ApiRequest) -> Window | None:
    """``limit``/``offset`` on PATCH or DELETE, which PostgREST 12 requires to
    come with an ``order`` so that which rows change is well defined."""
    params = req.params
    limit, offset = params.limit.get(()), params.offset.get((), 0)
    if limit is None and () not in params.offset:
        return None
    order = params.order.get((), ())
    if not order:
        raise RequestError(
            "PGRST109",
            "A 'limit' was applied without an explicit 'order'",
            hint="Apply an 'order' using unique column(s)",
        )
    for term in order:
        if term.relation is not None:
            raise RequestError(
                "PGRST118", f"A related order on '{term.relation}' is not possible"
            )
    return Window(order, limit, offset)


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
    affected: bool = False,
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
    if affected and prefs.handling == "strict" and prefs.max_affected is not None:
        applied.append(f"max-affected={prefs.max_affected}")
    return tuple(applied)


# -- functions ------------------------------------------------------------------

_JSON_TYPES = frozenset({"json", "jsonb"})


def _call_plan(req: ApiRequest, cache: SchemaCache, max_rows: int | None) -> Plan:
    if req.method not in ("GET", "HEAD", "POST"):
        raise RequestError("PGRST101", f"Cannot use the {req.method} method on RPC")
    function, args, names, whole = _arguments(req, cache)
    table = _function_table(function, cache)
    builder = _NodeBuilder(req, cache, max_rows)
    node = builder.build(table, req.params.select, (), function.name)
    builder.check_paths()
    offset, limit = _page(req, max_rows)
    node = ReadNode(
        node.table, node.alias, node.select, node.conditions, node.order, limit, offset
    )
    read_only = req.method != "POST" or not function.volatile
    max_affected = _max_affected(req)
    if max_affected is not None and not function.returns_set:
        raise RequestError(
            "PGRST128",
            "Function must return SETOF or TABLE when max-affected preference is "
            "used with handling=strict",
        )
    return Plan(
        Call(function, args, names, whole, node),
        req.media,
        read_only,
        count=req.prefs.count is not None,
        head=req.method == "HEAD",
        applied=_applied(req, affected=True),
        max_affected=max_affected,
    )


# Bodies passed whole, as they are, to a function's single unnamed parameter.
_RAW_BODY_TYPES = {
    "text/plain": "text",
    "text/xml": "xml",
    "application/octet-stream": "bytea",
}

Arguments = tuple[Function, str | bytes, tuple[str, ...], bool]


def _arguments(req: ApiRequest, cache: SchemaCache) -> Arguments:
    """The function to call, its arguments (JSON, or a raw body), and how."""
    if req.method == "POST" and req.content_type in _RAW_BODY_TYPES:
        raw_type = _RAW_BODY_TYPES[req.content_type]
        function = _raw_body_function(req, cache, raw_type)
        raw = req.body if raw_type == "bytea" else _text_body(req)
        return function, raw, (), True
    if req.method == "POST" and req.content_type == FORM_TYPE:
        # As in a query string, a name repeated in a form is an array argument.
        form = parse_qsl(_text_body(req), keep_blank_values=True)
        payload = _query_arguments(tuple(form))
    elif req.method == "POST":
        payload = parse_body(req, csv_allowed=False).value if req.body.strip() else {}
    else:
        payload = _query_arguments(req.params.rpc_args)

    keys = set(payload) if isinstance(payload, dict) else set()
    if req.params.columns is not None:
        keys &= set(req.params.columns)
    if req.method == "POST" and req.prefs.params == "single-object":
        return _single_object_function(req, cache), json.dumps(payload), (), True
    function, whole = _find_function(req, cache, keys)
    if whole:
        return function, json.dumps(payload), (), True
    args = json.dumps({k: v for k, v in payload.items() if k in keys})
    names = tuple(p.name for p in function.params if p.name in keys)
    return function, args, names, False


def _raw_body_function(req: ApiRequest, cache: SchemaCache, raw_type: str) -> Function:
    """The overload whose one unnamed parameter takes this body type as is."""
    overloads = cache.functions.get((req.schema, req.target.name), ())
    for fn in overloads:
        params = fn.params
        if len(params) == 1 and not params[0].name and params[0].data_type == raw_type:
            return fn
    where = f"{req.schema}.{req.target.name}"
    raise SchemaCacheError(
        "PGRST202",
        f"Could not find the function {where} with a single unnamed {raw_type} "
        "parameter in the schema cache",
    )


def _query_arguments(pairs: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """GET arguments; a name given more than once is an array (or variadic)."""
    values: dict[str, list[str]] = {}
    for name, value in pairs:
        values.setdefault(name, []).append(value)
    return {name: v[0] if len(v) == 1 else v for name, v in values.items()}


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


def _single_object_function(req: ApiRequest, cache: SchemaCache) -> Function:
    """``Prefer: params=single-object``: the overload taking one json argument."""
    overloads = cache.functions.get((req.schema, req.target.name), ())
    single = [
        fn
        for fn in overloads
        if len(fn.params) == 1 and fn.params[0].data_type in _JSON_TYPES
    ]
    if len(single) != 1:
        where = f"{req.schema}.{req.target.name}"
        raise SchemaCacheError(
            "PGRST202",
            f"Could not find the function {where} with a single json or jsonb "
            "parameter in the schema cache",
        )
    return single[0]


def _signature(fn: Function) -> str:
    params = ", ".join(f"{p.name} => {p.data_type}" for p in fn.params)
    return f"{fn.schema}.{fn.name}({params})"
