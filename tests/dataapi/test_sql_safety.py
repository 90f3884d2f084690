"""Whatever a request names or compares, the SQL built for it keeps it contained.

Random column names, JSON keys and filter values go through the pure pipeline
(parse → plan → query, no database) and the composed SQL text is inspected:
a value never appears in it at all (values are bound parameters), and a name
appears only inside a quoted identifier or a quoted string literal.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rowgate.dataapi.app import DataApi
from rowgate.dataapi.errors import ApiError
from rowgate.dataapi.plan import make_plan
from rowgate.dataapi.query import main_statement
from rowgate.dataapi.request import parse_request
from rowgate.dataapi.schema_cache import SchemaCache

NAME_MARK = "zqz"
VALUE_MARK = "vqv"
# Quoted identifiers, string literals and escape-string literals, in one pass so
# that a quote inside one of them never starts another.
QUOTED = re.compile(r"\"(?:[^\"]|\"\")*\"|E'(?:[^'\\]|''|\\.)*'|'(?:[^']|'')*'")
TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=12,
)
NAMES = TEXT.map(lambda text: NAME_MARK + text)
VALUES = TEXT.map(lambda text: VALUE_MARK + text)
OPERATORS = st.sampled_from(
    ["eq", "neq", "gt", "like", "ilike", "match", "is", "cs", "ov", "fts", "adj"]
)


def quoted(name: str) -> str:
    """A name as the URL grammar quotes it: in double quotes, escapes doubled."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sql_for(cache: SchemaCache, pairs: list[tuple[str, str]]) -> str | None:
    """The main statement's text for ``GET /items?<pairs>``; None if refused."""
    query = "&".join(f"{_escape(key)}={_escape(value)}" for key, value in pairs)
    try:
        req = parse_request("GET", "/records/items", query, [], b"", ("public",))
        plan = make_plan(req, cache, None)
    except ApiError:
        return None
    return main_statement(plan).query.as_string(None)


def _escape(text: str) -> str:
    return quote(text, safe="")


def outside_quotes(text: str) -> str:
    return QUOTED.sub(" ", text)


@pytest.fixture(scope="module")
def cache(api: DataApi) -> SchemaCache:
    assert api.cache is not None
    return api.cache


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    column=NAMES,
    json_key=NAMES,
    value=VALUES,
    op=OPERATORS,
    negated=st.booleans(),
    shape=st.sampled_from(["plain", "in", "or", "json", "order", "select"]),
)
def test_names_stay_quoted_and_values_stay_bound(
    cache: SchemaCache,
    column: str,
    json_key: str,
    value: str,
    op: str,
    negated: bool,
    shape: str,
) -> None:
    not_ = "not." if negated else ""
    name = quoted(column)
    pairs = {
        "plain": [(name, f"{not_}{op}.{value}")],
        "in": [(name, f"{not_}in.({quoted(value)},{quoted(value)})")],
        "or": [("or", f"(id.eq.1,{name}.{not_}{op}.{quoted(value)})")],
        "json": [(f"attrs->{quoted(json_key)}->>{name}", f"{op}.{value}")],
        "order": [("order", f"{name}.desc,attrs->>{quoted(json_key)}")],
        "select": [("select", f"id,{quoted(json_key)}:{name},attrs->{name}")],
    }[shape]

    text = sql_for(cache, pairs)

    event(f"{shape}: {'refused' if text is None else 'built'}")
    if text is None:
        return
    assert VALUE_MARK not in text, (pairs, text)
    assert NAME_MARK not in outside_quotes(text), (pairs, text)


def test_the_check_can_fail(cache: SchemaCache) -> None:
    """A cast is the one word the grammar lets through unquoted: the inspection
    sees it, so a name that escaped quoting would be seen too."""
    text = sql_for(cache, [("select", f"id::{NAME_MARK}type")])

    assert text is not None
    assert NAME_MARK in outside_quotes(text)
