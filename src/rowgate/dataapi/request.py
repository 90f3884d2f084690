"""Parse an HTTP request into an ``ApiRequest``: PostgREST's URL grammar, no I/O.

Covers the target (table, function or root), ``select=``, horizontal filters with
``not.``, ``or=``/``and=`` trees, ``order=``, ``limit``/``offset``, ``columns=``,
``on_conflict=``, the ``Prefer``, ``Accept``, ``Range`` and profile headers. Every
grammar error is a ``RequestError`` with PostgREST's code, never an exception of
another kind: this module is what stands between arbitrary input and the planner.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl

from rowgate.dataapi.errors import RequestError, nul_in_text

Method = Literal["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"]
METHODS: tuple[Method, ...] = (
    "GET",
    "HEAD",
    "POST",
    "PATCH",
    "PUT",
    "DELETE",
    "OPTIONS",
)
RESERVED = frozenset({"select", "columns", "on_conflict"})
TAIL_RESERVED = frozenset({"order", "limit", "offset", "and", "or"})

SIMPLE_OPS = {
    "eq": "=",
    "neq": "<>",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "like": "LIKE",
    "ilike": "ILIKE",
    "match": "~",
    "imatch": "~*",
    "isdistinct": "IS DISTINCT FROM",
    "cs": "@>",
    "cd": "<@",
    "ov": "&&",
    "sl": "<<",
    "sr": ">>",
    "nxr": "&<",
    "nxl": "&>",
    "adj": "-|-",
}
QUANTIFIABLE = frozenset(
    {"eq", "gt", "gte", "lt", "lte", "like", "ilike", "match", "imatch"}
)
FTS_OPS = {
    "fts": "to_tsquery",
    "plfts": "plainto_tsquery",
    "phfts": "phraseto_tsquery",
    "wfts": "websearch_to_tsquery",
}
IS_VALUES = frozenset({"null", "not_null", "true", "false", "unknown"})
OPERATORS = frozenset({*SIMPLE_OPS, *FTS_OPS, "in", "is"})
_OPERATION = re.compile(
    r"(?P<op>[a-z]+)(?:\((?P<quant>any|all)\))?(?:\((?P<config>[^()]*)\))?\.",
)
_RANGE = re.compile(r"(?:items=)?(\d+)-(\d*)")
# PostgREST's aggregate functions (``db-aggregates-enabled``).
AGGREGATES = frozenset({"avg", "count", "max", "min", "sum"})
_CAST = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?: [A-Za-z_][A-Za-z0-9_]*)*")
_IDENT_CHARS = frozenset("_ $")
_JSON_KEY_STOP = frozenset("(-:.,>)")

# -- the parsed request ---------------------------------------------------------


@dataclass(frozen=True)
class JsonStep:
    """One ``->key`` or ``->>key`` step; an int key indexes an array."""

    arrow: Literal["->", "->>"]
    key: str | int


@dataclass(frozen=True)
class Field:
    name: str
    json_path: tuple[JsonStep, ...] = ()

    @property
    def output_name(self) -> str:
        """The key PostgREST gives this field when it has no alias."""
        return str(self.json_path[-1].key) if self.json_path else self.name


@dataclass(frozen=True)
class Star:
    """``*``: every column."""


@dataclass(frozen=True)
class SelectField:
    """A column, or an aggregate of one (``amount.sum()``, ``count()``)."""

    field: Field
    alias: str | None = None
    cast: str | None = None
    # One of ``AGGREGATES``; ``count()`` counts rows and has the field ``*``.
    aggregate: str | None = None
    # A cast of the aggregate's result: ``amount.sum()::int``.
    aggregate_cast: str | None = None

    @property
    def output_name(self) -> str:
        return self.alias or self.aggregate or self.field.output_name


@dataclass(frozen=True)
class SelectEmbed:
    """``[alias:]rel[!hint][!inner](items)`` or ``...rel(items)`` (spread)."""

    relation: str
    items: tuple[SelectItem, ...]
    alias: str | None = None
    hint: str | None = None
    inner: bool = False
    spread: bool = False

    @property
    def path_name(self) -> str:
        return self.alias or self.relation


SelectItem = Star | SelectField | SelectEmbed


@dataclass(frozen=True)
class Operation:
    """``op[(any|all)][(config)].value``; ``values`` holds an ``in.()`` list."""

    op: str
    value: str = ""
    values: tuple[str, ...] = ()
    quantifier: Literal["any", "all"] | None = None
    config: str | None = None


@dataclass(frozen=True)
class Filter:
    field: Field
    operation: Operation
    negated: bool = False


@dataclass(frozen=True)
class LogicTree:
    operator: Literal["and", "or"]
    children: tuple[Filter | LogicTree, ...]
    negated: bool = False


Condition = Filter | LogicTree


@dataclass(frozen=True)
class OrderTerm:
    field: Field
    direction: Literal["asc", "desc"] | None = None
    nulls: Literal["first", "last"] | None = None
    relation: str | None = None


EmbedPath = tuple[str, ...]


@dataclass(frozen=True)
class QueryParams:
    """The query string, split by the embed path each part applies to."""

    select: tuple[SelectItem, ...] = (Star(),)
    conditions: tuple[tuple[EmbedPath, Condition], ...] = ()
    order: Mapping[EmbedPath, tuple[OrderTerm, ...]] = field(default_factory=dict)
    limit: Mapping[EmbedPath, int] = field(default_factory=dict)
    offset: Mapping[EmbedPath, int] = field(default_factory=dict)
    columns: tuple[str, ...] | None = None
    on_conflict: tuple[str, ...] | None = None
    rpc_args: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Preferences:
    """The recognised ``Prefer`` tokens, first occurrence winning."""

    return_: str | None = None
    count: str | None = None
    resolution: str | None = None
    missing: str | None = None
    handling: str | None = None
    tx: str | None = None
    timezone: str | None = None
    params: str | None = None
    max_affected: int | None = None
    invalid: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    kind: Literal["table", "rpc", "root"]
    name: str = ""


@dataclass(frozen=True)
class ApiRequest:
    method: Method
    target: Target
    schema: str
    schema_negotiated: bool
    params: QueryParams
    prefs: Preferences
    media: str
    content_type: str
    range: tuple[int, int | None] | None
    body: bytes
    headers: Mapping[str, str]
    cookies: Mapping[str, str]
    query_pairs: tuple[tuple[str, str], ...] = ()

    @property
    def pgrst_path(self) -> str:
        """The path a PostgREST in our place would have seen (``request.path``)."""
        if self.target.kind == "root":
            return "/"
        prefix = "/rpc/" if self.target.kind == "rpc" else "/"
        return prefix + self.target.name


# -- the whole request ----------------------------------------------------------


def parse_request(
    method: str,
    path: str,
    query_string: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    schemas: Sequence[str],
) -> ApiRequest:
    """Parse one request whose ``path`` is relative to the data API's mount."""
    verb = _method(method)
    target = parse_target(path)
    by_name = header_map(headers)
    pairs = tuple(parse_qsl(query_string, keep_blank_values=True))
    if "\x00" in path or any("\x00" in k or "\x00" in v for k, v in pairs):
        # No Postgres text can hold it; say so before anything is built from it.
        raise nul_in_text()
    schema, negotiated = _schema(verb, by_name, schemas)

    return ApiRequest(
        method=verb,
        target=target,
        schema=schema,
        schema_negotiated=negotiated,
        params=parse_query(
            pairs, rpc_read=target.kind == "rpc" and verb in ("GET", "HEAD")
        ),
        prefs=parse_prefer(_all(headers, "prefer")),
        media=negotiate_media(by_name.get("accept", "*/*"), target),
        content_type=_content_type(by_name.get("content-type")),
        range=parse_range(by_name.get("range")) if verb == "GET" else None,
        body=body,
        headers=by_name,
        cookies=parse_cookies(by_name.get("cookie", "")),
        query_pairs=pairs,
    )


def _method(method: str) -> Method:
    for verb in METHODS:
        if verb == method:
            return verb
    raise RequestError("PGRST117", f"Unsupported HTTP method: {method}")


def parse_target(path: str) -> Target:
    """``/records/<t>``, ``/rpc/<f>``, ``/records/rpc/<f>``; ``/`` is the root."""
    segments = [part for part in path.split("/") if part]
    if segments and segments[0] == "records":
        segments = segments[1:]
    if not segments:
        return Target("root")
    if len(segments) == 1 and segments[0] != "rpc":
        return Target("table", segments[0])
    if len(segments) == 2 and segments[0] == "rpc":
        return Target("rpc", segments[1])
    raise RequestError("PGRST125", "Invalid path specified in request URL")


def header_map(headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Headers by lower-cased name; repeated ones joined with ``, ``."""
    merged: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged


def _all(headers: Sequence[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in headers if key.lower() == name]


def _schema(
    method: Method, headers: Mapping[str, str], schemas: Sequence[str]
) -> tuple[str, bool]:
    reading = method in ("GET", "HEAD", "OPTIONS")
    requested = headers.get("accept-profile" if reading else "content-profile")
    if requested is None:
        return schemas[0], len(schemas) > 1
    if requested not in schemas:
        raise RequestError(
            "PGRST106",
            f"The schema must be one of the following: {', '.join(schemas)}",
        )
    return requested, True


def _content_type(value: str | None) -> str:
    if value is None:
        return "application/json"
    return value.split(";", 1)[0].strip().lower()


def parse_cookies(header: str) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name:
            cookies.setdefault(name, value.strip('"'))
    return cookies


def parse_range(value: str | None) -> tuple[int, int | None] | None:
    """``Range: from-to`` or ``from-``; anything else is ignored, as PostgREST does."""
    if value is None:
        return None
    match = _RANGE.fullmatch(value.strip())
    if match is None:
        return None
    low = int(match[1])
    high = int(match[2]) if match[2] else None
    if high is not None and low > high:
        raise RequestError(
            "PGRST103",
            "Requested range not satisfiable",
            details="The lower boundary must be lower than or equal to the upper "
            "boundary in the Range header.",
        )
    return low, high


MEDIA_JSON = "application/json"
MEDIA_OBJECT = "application/vnd.pgrst.object+json"
MEDIA_CSV = "text/csv"
MEDIA_OPENAPI = "application/openapi+json"
# The vendor types with nulls=stripped: keys whose value is null are left out.
MEDIA_ARRAY_STRIPPED = "application/vnd.pgrst.array+json;nulls=stripped"
MEDIA_OBJECT_STRIPPED = "application/vnd.pgrst.object+json;nulls=stripped"
_STRIPPABLE = {
    "application/vnd.pgrst.array+json": MEDIA_ARRAY_STRIPPED,
    "application/vnd.pgrst.object+json": MEDIA_OBJECT_STRIPPED,
}
_MEDIA_ALIASES = {
    "*/*": MEDIA_JSON,
    "application/*": MEDIA_JSON,
    "application/json": MEDIA_JSON,
    "application/vnd.pgrst.object+json": MEDIA_OBJECT,
    "application/vnd.pgrst.object": MEDIA_OBJECT,
    "application/vnd.pgrst.array+json": MEDIA_JSON,
    "text/csv": MEDIA_CSV,
    "text/*": MEDIA_CSV,
}


def negotiate_media(accept: str, target: Target) -> str:
    """The first acceptable media type, highest ``q`` first; PGRST107 if none."""
    offered: list[tuple[float, int, str, bool]] = []
    for index, item in enumerate(accept.split(",")):
        mime, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        stripped = False
        for param in params:
            key, _, value = (part.strip() for part in param.partition("="))
            if key == "q":
                quality = _quality(value)
            stripped = stripped or (key, value.lower()) == ("nulls", "stripped")
        if mime:
            offered.append((-quality, index, mime.lower(), stripped))
    for quality, _index, mime, stripped in sorted(offered):
        if quality == 0:
            break
        if target.kind == "root" and mime in (MEDIA_OPENAPI, MEDIA_JSON, "*/*"):
            return MEDIA_OPENAPI
        if target.kind != "root" and stripped and mime in _STRIPPABLE:
            return _STRIPPABLE[mime]
        if target.kind != "root" and mime in _MEDIA_ALIASES:
            return _MEDIA_ALIASES[mime]
    if not offered:
        return MEDIA_OPENAPI if target.kind == "root" else MEDIA_JSON
    listed = ", ".join(mime for _q, _i, mime, _s in offered)
    raise RequestError("PGRST107", f"None of these media types are available: {listed}")


def _quality(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        return 1.0
    return value if 0 <= value <= 1 else 1.0


# -- Prefer ---------------------------------------------------------------------

_PREFER_VALUES: dict[str, frozenset[str]] = {
    "return": frozenset({"minimal", "headers-only", "representation"}),
    "count": frozenset({"exact", "planned", "estimated"}),
    "resolution": frozenset({"merge-duplicates", "ignore-duplicates"}),
    "missing": frozenset({"default", "null"}),
    "handling": frozenset({"strict", "lenient"}),
    "tx": frozenset({"commit", "rollback"}),
    "params": frozenset({"single-object"}),
}


def parse_prefer(values: Sequence[str]) -> Preferences:
    """Every ``Prefer`` header, comma lists included; unknown tokens are kept aside."""
    chosen: dict[str, str] = {}
    invalid: list[str] = []
    for value in values:
        for token in value.split(","):
            token = token.strip()
            if not token:
                continue
            key, _, setting = (part.strip() for part in token.partition("="))
            if key in chosen:
                continue
            if _known_preference(key, setting):
                chosen[key] = setting
            else:
                invalid.append(token)
    affected = chosen.get("max-affected")
    return Preferences(
        return_=chosen.get("return"),
        count=chosen.get("count"),
        resolution=chosen.get("resolution"),
        missing=chosen.get("missing"),
        handling=chosen.get("handling"),
        tx=chosen.get("tx"),
        timezone=chosen.get("timezone"),
        params=chosen.get("params"),
        max_affected=int(affected) if affected is not None else None,
        invalid=tuple(invalid),
    )


def _known_preference(key: str, setting: str) -> bool:
    if key == "max-affected":
        return setting.isdigit()
    if key == "timezone":
        # Whether the zone exists is the planner's question: it knows Postgres' list.
        return bool(setting)
    return setting in _PREFER_VALUES.get(key, frozenset())


# -- the query string -----------------------------------------------------------


def parse_query(
    pairs: Sequence[tuple[str, str]], *, rpc_read: bool = False
) -> QueryParams:
    """Split the query string into select, conditions, order, paging and lists."""
    select: tuple[SelectItem, ...] = (Star(),)
    conditions: list[tuple[EmbedPath, Condition]] = []
    order: dict[EmbedPath, tuple[OrderTerm, ...]] = {}
    limit: dict[EmbedPath, int] = {}
    offset: dict[EmbedPath, int] = {}
    columns = on_conflict = None
    rpc_args: list[tuple[str, str]] = []

    for key, value in pairs:
        if key == "select":
            select = parse_select(value)
        elif key == "columns":
            columns = parse_name_list(value, "columns")
        elif key == "on_conflict":
            on_conflict = parse_name_list(value, "on_conflict")
        elif key.rpartition(".")[2] in TAIL_RESERVED:
            path, tail, negated = _reserved_key(key)
            if tail == "order":
                order[path] = parse_order(value)
            elif tail in ("limit", "offset"):
                (limit if tail == "limit" else offset)[path] = _non_negative(
                    tail, value
                )
            else:
                conditions.append((path, parse_logic(tail, value, negated)))
        elif rpc_read and not _looks_like_filter(value):
            rpc_args.append((key, value))
        elif key:
            path, fld = parse_filter_key(key)
            conditions.append((path, parse_filter(fld, value)))

    return QueryParams(
        select=select,
        conditions=tuple(conditions),
        order=order,
        limit=limit,
        offset=offset,
        columns=columns,
        on_conflict=on_conflict,
        rpc_args=tuple(rpc_args),
    )


def _reserved_key(key: str) -> tuple[EmbedPath, str, bool]:
    *path, tail = key.split(".")
    negated = bool(path) and path[-1] == "not"
    if negated:
        path.pop()
    if negated and tail not in ("and", "or"):
        raise _failed("filter", key, 0)
    return tuple(path), tail, negated


def _non_negative(name: str, value: str) -> int:
    text = value.strip()
    if not re.fullmatch(r"-?\d+", text):
        raise RequestError(
            "PGRST100",
            f'"failed to parse {name} parameter ({value})" (line 1, column 1)',
        )
    number = int(text)
    if number < 0 and name == "limit":
        raise RequestError(
            "PGRST103",
            "Requested range not satisfiable",
            details="Limit should be greater than or equal to zero.",
        )
    if number < 0:
        raise RequestError("PGRST100", f'"failed to parse offset parameter ({value})"')
    return number


def _looks_like_filter(value: str) -> bool:
    body = value[4:] if value.startswith("not.") else value
    match = _OPERATION.match(body)
    return match is not None and match["op"] in OPERATORS


def _failed(what: str, text: str, position: int) -> RequestError:
    return RequestError(
        "PGRST100",
        f'"failed to parse {what} ({text})" (line 1, column {position + 1})',
        details=f"unexpected input at column {position + 1}",
    )


class _Scanner:
    """A cursor over one parameter value, raising PGRST100 at the failing column."""

    def __init__(self, text: str, what: str) -> None:
        self.text = text
        self.what = what
        self.pos = 0

    def peek(self, count: int = 1) -> str:
        return self.text[self.pos : self.pos + count]

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def take(self, token: str) -> bool:
        if self.text.startswith(token, self.pos):
            self.pos += len(token)
            return True
        return False

    def expect(self, token: str) -> None:
        if not self.take(token):
            raise self.error()

    def skip_spaces(self) -> None:
        while self.peek().isspace() and self.peek():
            self.pos += 1

    def error(self) -> RequestError:
        return _failed(self.what, self.text, self.pos)

    def quoted(self) -> str:
        """``"..."`` with backslash escapes; the cursor is on the opening quote."""
        self.expect('"')
        chars: list[str] = []
        while not self.at_end():
            char = self.text[self.pos]
            self.pos += 1
            if char == '"':
                return "".join(chars)
            if char == "\\" and not self.at_end():
                char = self.text[self.pos]
                self.pos += 1
            chars.append(char)
        raise self.error()

    def name(self) -> str:
        """A field name: quoted, or identifier runs joined by ``-`` (not ``->``)."""
        if self.peek() == '"':
            return self.quoted()
        start = self.pos
        while not self.at_end():
            char = self.text[self.pos]
            joins = char == "-" and self.peek(2) != "->" and self._ident_follows()
            if not (char.isalnum() or char in _IDENT_CHARS or joins):
                break
            self.pos += 1
        name = self.text[start : self.pos].strip()
        if not name:
            self.pos = start
            raise self.error()
        return name

    def _ident_follows(self) -> bool:
        nxt = self.text[self.pos + 1 : self.pos + 2]
        return bool(nxt) and (nxt.isalnum() or nxt in _IDENT_CHARS)

    def json_path(self) -> tuple[JsonStep, ...]:
        steps: list[JsonStep] = []
        while self.peek(2) == "->":
            arrow: Literal["->", "->>"] = "->>" if self.take("->>") else "->"
            if arrow == "->":
                self.expect("->")
            steps.append(JsonStep(arrow, self._json_key()))
        return tuple(steps)

    def _json_key(self) -> str | int:
        if self.peek() == '"':
            return self.quoted()
        match = re.compile(r"-?\d+").match(self.text, self.pos)
        start = self.pos
        if match and (
            match.end() == len(self.text) or self.text[match.end()] in _JSON_KEY_STOP
        ):
            self.pos = match.end()
            return int(match[0])
        while not self.at_end() and self.text[self.pos] not in _JSON_KEY_STOP:
            self.pos += 1
        if self.pos == start:
            raise self.error()
        return self.text[start : self.pos]

    def field(self) -> Field:
        return Field(self.name(), self.json_path())


# -- select= --------------------------------------------------------------------


def parse_select(text: str) -> tuple[SelectItem, ...]:
    """``select=`` as a forest of fields, stars and embeds; blank selects nothing."""
    scanner = _Scanner(text, "select parameter")
    if not text.strip():
        return ()
    items = _select_items(scanner)
    if not scanner.at_end():
        raise scanner.error()
    return items


def _select_items(scanner: _Scanner) -> tuple[SelectItem, ...]:
    items: list[SelectItem] = []
    while True:
        scanner.skip_spaces()
        items.append(_select_item(scanner))
        scanner.skip_spaces()
        if not scanner.take(","):
            return tuple(items)


def _select_item(scanner: _Scanner) -> SelectItem:
    if scanner.take("*"):
        return Star()
    if scanner.take("..."):
        return _embed(scanner, scanner.name(), None, spread=True)

    name = scanner.name()
    alias = None
    if scanner.peek() == ":" and scanner.peek(2) != "::":
        scanner.pos += 1
        alias, name = name, scanner.name()
    if name == "count" and scanner.take("()"):
        # count() counts rows; it is never an embed with nothing selected.
        return SelectField(
            Field("*"), alias, aggregate="count", aggregate_cast=_cast(scanner)
        )
    if scanner.peek() in ("(", "!"):
        return _embed(scanner, name, alias, spread=False)

    fld = Field(name, scanner.json_path())
    cast = _cast(scanner)
    if not scanner.take("."):
        return SelectField(fld, alias, cast)
    function = scanner.name()
    if function not in AGGREGATES or not scanner.take("()"):
        raise scanner.error()
    return SelectField(fld, alias, cast, function, _cast(scanner))


def _cast(scanner: _Scanner) -> str | None:
    if not scanner.take("::"):
        return None
    match = _CAST.match(scanner.text, scanner.pos)
    if match is None:
        raise scanner.error()
    scanner.pos = match.end()
    return match[0]


def _embed(
    scanner: _Scanner, name: str, alias: str | None, *, spread: bool
) -> SelectEmbed:
    hint = None
    inner = False
    while scanner.take("!"):
        word = scanner.name()
        if word in ("inner", "left"):
            inner = word == "inner"
        elif hint is None:
            hint = word
        else:
            raise scanner.error()
    scanner.expect("(")
    scanner.skip_spaces()
    items: tuple[SelectItem, ...] = ()
    if scanner.peek() != ")":
        items = _select_items(scanner)
    scanner.expect(")")
    return SelectEmbed(name, items, alias, hint, inner, spread)


# -- filters --------------------------------------------------------------------


def parse_filter_key(key: str) -> tuple[EmbedPath, Field]:
    """``[rel.]...col[->json]``: the embed path and the field."""
    scanner = _Scanner(key, "filter")
    names = [scanner.name()]
    while scanner.take("."):
        names.append(scanner.name())
    path = scanner.json_path()
    if not scanner.at_end():
        raise scanner.error()
    return tuple(names[:-1]), Field(names[-1], path)


def parse_filter(fld: Field, value: str) -> Filter:
    """A horizontal filter's value: ``[not.]op.value``, the value taken verbatim."""
    negated = value.startswith("not.")
    body = value[4:] if negated else value
    operation, used = _operation(body, value, in_tree=False)
    if used != len(body):
        raise _failed("filter", value, used)
    return Filter(fld, operation, negated)


def _operation(body: str, whole: str, *, in_tree: bool) -> tuple[Operation, int]:
    """The operation at the start of ``body`` and how many characters it used."""
    match = _OPERATION.match(body)
    if match is None or match["op"] not in OPERATORS:
        raise _failed("filter", whole, 0)
    op, quant, config = match["op"], match["quant"], match["config"]
    if (quant and op not in QUANTIFIABLE) or (config is not None and op not in FTS_OPS):
        raise _failed("filter", whole, 0)
    rest = body[match.end() :]

    if op == "in":
        values, used = _list_value(rest, whole)
        return Operation("in", values=values), match.end() + used
    raw, used = _tree_value(rest) if in_tree else (rest, len(rest))
    if op == "is" and raw.lower() not in IS_VALUES:
        raise _failed("filter", whole, match.end())
    operation = Operation(
        op,
        raw.lower() if op == "is" else raw,
        quantifier="any" if quant == "any" else ("all" if quant else None),
        config=config or None,
    )
    return operation, match.end() + used


def _list_value(text: str, whole: str) -> tuple[tuple[str, ...], int]:
    """``(a,"b,c",d)``: elements split on commas, double quotes protecting."""
    scanner = _Scanner(text, "filter")
    scanner.skip_spaces()
    if not scanner.take("("):
        raise _failed("filter", whole, 0)
    scanner.skip_spaces()
    values: list[str] = []
    if scanner.take(")"):
        return (), scanner.pos
    while True:
        values.append(_list_element(scanner))
        if scanner.take(")"):
            return tuple(values), scanner.pos
        if not scanner.take(","):
            raise _failed("filter", whole, 0)


def _list_element(scanner: _Scanner) -> str:
    if scanner.peek() == '"':
        start = scanner.pos
        try:
            value = scanner.quoted()
        except RequestError:
            value = None
        if value is not None and scanner.peek() in (",", ")"):
            return value
        scanner.pos = start
    start = scanner.pos
    while not scanner.at_end() and scanner.peek() not in (",", ")"):
        scanner.pos += 1
    if scanner.at_end():
        raise scanner.error()
    return scanner.text[start : scanner.pos]


def _tree_value(text: str) -> tuple[str, int]:
    """A leaf value inside ``or=()``: ends at ``,``/``)`` unless quoted or ``{...}``."""
    scanner = _Scanner(text, "logic tree")
    if scanner.peek() == '"':
        try:
            value = scanner.quoted()
        except RequestError:
            value = None
        if value is not None and scanner.peek() in (",", ")", ""):
            return value, scanner.pos
        scanner.pos = 0
    if scanner.peek() == "{":
        end = text.find("}")
        if end != -1 and text[end + 1 : end + 2] in (",", ")", ""):
            return text[: end + 1], end + 1
    end = len(text)
    for index, char in enumerate(text):
        if char in ",)":
            end = index
            break
    return text[:end], end


def parse_logic(operator: str, value: str, negated: bool) -> LogicTree:
    """``or=(...)``/``and=(...)`` with nested ``and()``/``or()``/``not.`` nodes."""
    scanner = _Scanner(value, "logic tree")
    tree = _logic_node_body(scanner, "and" if operator == "and" else "or", negated)
    if not scanner.at_end():
        raise scanner.error()
    return tree


def _logic_node_body(
    scanner: _Scanner, operator: Literal["and", "or"], negated: bool
) -> LogicTree:
    scanner.expect("(")
    children: list[Condition] = []
    while True:
        children.append(_logic_child(scanner))
        if scanner.take(")"):
            return LogicTree(operator, tuple(children), negated)
        scanner.expect(",")


def _logic_child(scanner: _Scanner) -> Condition:
    start = scanner.pos
    negated = scanner.take("not.")
    for operator in ("and", "or"):
        if scanner.take(operator + "("):
            scanner.pos -= 1
            return _logic_node_body(scanner, operator, negated)
    scanner.pos = start
    fld = scanner.field()
    scanner.expect(".")
    negated = scanner.take("not.")
    operation, used = _operation(
        scanner.text[scanner.pos :], scanner.text, in_tree=True
    )
    scanner.pos += used
    return Filter(fld, operation, negated)


# -- order=, columns=, on_conflict= ------------------------------------------------


def parse_order(text: str) -> tuple[OrderTerm, ...]:
    scanner = _Scanner(text, "order")
    terms: list[OrderTerm] = []
    while True:
        scanner.skip_spaces()
        terms.append(_order_term(scanner))
        scanner.skip_spaces()
        if scanner.at_end():
            return tuple(terms)
        scanner.expect(",")


def _order_term(scanner: _Scanner) -> OrderTerm:
    relation = None
    fld = scanner.field()
    if scanner.take("("):
        relation, fld = fld.name, scanner.field()
        scanner.expect(")")
    direction: Literal["asc", "desc"] | None = None
    nulls: Literal["first", "last"] | None = None
    if scanner.take(".asc"):
        direction = "asc"
    elif scanner.take(".desc"):
        direction = "desc"
    if scanner.take(".nullsfirst"):
        nulls = "first"
    elif scanner.take(".nullslast"):
        nulls = "last"
    if not (scanner.at_end() or scanner.peek() == ","):
        raise scanner.error()
    return OrderTerm(fld, direction, nulls, relation)


def parse_name_list(text: str, what: str) -> tuple[str, ...]:
    """``a,b`` or ``"a","b"``: column names for ``columns=`` and ``on_conflict=``."""
    scanner = _Scanner(text, what)
    names: list[str] = []
    while True:
        scanner.skip_spaces()
        names.append(scanner.name())
        scanner.skip_spaces()
        if scanner.at_end():
            return tuple(names)
        scanner.expect(",")
