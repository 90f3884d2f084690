"""Which base column each column of a view shows, read from its stored query.

Postgres keeps a view's query as a node tree (``pg_rewrite.ev_action``), written
as text by ``nodeToString``. Each entry of the top query's target list carries
``resorigtbl``/``resorigcol``: the relation and column a bare column reference
comes from, seen through joins, subqueries and CTEs. Expressions (casts,
function calls, sub-selects) have none, so only columns shown unchanged count,
as PostgREST counts them when it finds relationships through views.

The text format: ``{NAME :field value ...}`` is a node, ``( ... )`` a list, ``<>``
an empty value, anything else an atom; a backslash escapes the next character,
so ``\\:x`` is an atom and ``:x`` a field name. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeAlias

_TOKEN = re.compile(r"\s*(?:([(){}])|((?:\\.|[^\s(){}\\])+))", re.DOTALL)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


@dataclass(frozen=True)
class Atom:
    text: str
    # ``:name`` unescaped opens a node's field; escaped, it is data.
    field: bool


@dataclass
class Node:
    name: str
    fields: dict[str, list[Value]]


Value: TypeAlias = "Node | list[Value] | Atom"


class NodeTreeError(ValueError):
    """The text is not a node tree this reader understands."""


def column_origins(ev_action: str) -> dict[int, tuple[int, int]]:
    """``{view column number: (relation oid, column number)}`` for each column of
    the view that shows a column of another relation unchanged.

    Raises ``NodeTreeError`` when the text cannot be read.
    """
    parsed = _Reader(ev_action).read_all()
    query = _first_query(parsed)
    origins: dict[int, tuple[int, int]] = {}
    for entry in _items(query.fields.get("targetList", [])):
        if not isinstance(entry, Node) or entry.name != "TARGETENTRY":
            raise NodeTreeError("a target list entry is not a TARGETENTRY")
        if _atom(entry, "resjunk") == "true":
            continue
        number = int(_atom(entry, "resno"))
        relation = int(_atom(entry, "resorigtbl"))
        column = int(_atom(entry, "resorigcol"))
        if relation != 0 and column > 0:
            origins[number] = (relation, column)
    return origins


def _first_query(parsed: list[Value]) -> Node:
    for item in _items(parsed):
        if isinstance(item, Node) and item.name == "QUERY":
            return item
    raise NodeTreeError("no QUERY node at the top of the tree")


def _items(values: list[Value]) -> list[Value]:
    """A field's values with a single list unwrapped: ``:f (a b)`` gives a, b."""
    if len(values) == 1 and isinstance(values[0], list):
        return values[0]
    return values


def _atom(node: Node, name: str) -> str:
    values = node.fields.get(name)
    if not values or len(values) != 1 or not isinstance(values[0], Atom):
        raise NodeTreeError(f"{node.name} has no single :{name}")
    return values[0].text


class _Reader:
    def __init__(self, text: str) -> None:
        self.lexemes = self._scan(text)
        self.at = 0

    @staticmethod
    def _scan(text: str) -> list[str | Atom]:
        lexemes: list[str | Atom] = []
        end = 0
        for match in _TOKEN.finditer(text):
            if match.start() != end:
                raise NodeTreeError("unreadable text in the node tree")
            end = match.end()
            bracket, raw = match.groups()
            if bracket is not None:
                lexemes.append(bracket)
            else:
                field = raw.startswith(":")
                lexemes.append(Atom(_ESCAPE.sub(r"\1", raw), field))
        if text[end:].strip():
            raise NodeTreeError("unreadable text at the end of the node tree")
        return lexemes

    def read_all(self) -> list[Value]:
        values: list[Value] = []
        while self.at < len(self.lexemes):
            values.append(self._value())
        return values

    def _value(self) -> Value:
        lexeme = self._next()
        if lexeme == "{":
            return self._node()
        if lexeme == "(":
            return self._list()
        if isinstance(lexeme, Atom) and not lexeme.field:
            return lexeme
        raise NodeTreeError(f"unexpected {lexeme!r} in the node tree")

    def _node(self) -> Node:
        name = self._next()
        if not isinstance(name, Atom) or name.field:
            raise NodeTreeError("a node without a name")
        node = Node(name.text, {})
        current: list[Value] | None = None
        while (lexeme := self._peek()) != "}":
            if isinstance(lexeme, Atom) and lexeme.field:
                self.at += 1
                current = node.fields.setdefault(lexeme.text[1:], [])
            elif current is None:
                raise NodeTreeError(f"a value before any field in {node.name}")
            else:
                current.append(self._value())
        self.at += 1
        return node

    def _list(self) -> list[Value]:
        items: list[Value] = []
        while self._peek() != ")":
            items.append(self._value())
        self.at += 1
        return items

    def _next(self) -> str | Atom:
        lexeme = self._peek()
        self.at += 1
        return lexeme

    def _peek(self) -> str | Atom:
        if self.at >= len(self.lexemes):
            raise NodeTreeError("the node tree ends too early")
        return self.lexemes[self.at]
