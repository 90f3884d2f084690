"""The URL grammar and error table as pure functions."""

from __future__ import annotations

import pytest

from rowgate.dataapi.errors import RequestError, sqlstate_status
from rowgate.dataapi.request import (
    Field,
    Filter,
    JsonStep,
    LogicTree,
    Operation,
    SelectEmbed,
    SelectField,
    Star,
    parse_filter,
    parse_logic,
    parse_prefer,
    parse_select,
    parse_target,
)


def test_select_forest() -> None:
    items = parse_select('*,a:b->c->>d::text, "x,y",rel!fk!inner(id,...other(z))')

    assert items == (
        Star(),
        SelectField(
            Field("b", (JsonStep("->", "c"), JsonStep("->>", "d"))), "a", "text"
        ),
        SelectField(Field("x,y")),
        SelectEmbed(
            "rel",
            (
                SelectField(Field("id")),
                SelectEmbed("other", (SelectField(Field("z")),), spread=True),
            ),
            hint="fk",
            inner=True,
        ),
    )


def test_filter_value_is_verbatim() -> None:
    parsed = parse_filter(Field("name"), 'not.eq."a,b".c')

    assert parsed == Filter(Field("name"), Operation("eq", '"a,b".c'), negated=True)


def test_logic_tree_quoting() -> None:
    tree = parse_logic(
        "or", '(a.in.(1,"2,3"),b.eq."x)y",not.and(c.is.null,d.cs.{1,2}))', False
    )

    assert tree == LogicTree(
        "or",
        (
            Filter(Field("a"), Operation("in", values=("1", "2,3"))),
            Filter(Field("b"), Operation("eq", "x)y")),
            LogicTree(
                "and",
                (
                    Filter(Field("c"), Operation("is", "null")),
                    Filter(Field("d"), Operation("cs", "{1,2}")),
                ),
                negated=True,
            ),
        ),
    )


@pytest.mark.parametrize(
    "value", ["(", "()", "(a.eq.1,)", "(a.eq.1))", "a.eq.1", "(a)"]
)
def test_bad_logic_trees(value: str) -> None:
    with pytest.raises(RequestError) as error:
        parse_logic("or", value, False)

    assert error.value.code == "PGRST100"


def test_prefer_first_wins_and_collects_unknown() -> None:
    prefs = parse_prefer(
        ["return=minimal, count=exact", "return=representation, foo=bar"]
    )

    assert (prefs.return_, prefs.count, prefs.invalid) == (
        "minimal",
        "exact",
        ("foo=bar",),
    )


@pytest.mark.parametrize(
    ("path", "kind", "name"),
    [
        ("/records/notes", "table", "notes"),
        ("/rpc/f", "rpc", "f"),
        ("/records/rpc/f", "rpc", "f"),
        ("/", "root", ""),
        ("/records", "root", ""),
    ],
)
def test_targets(path: str, kind: str, name: str) -> None:
    target = parse_target(path)

    assert (target.kind, target.name) == (kind, name)


@pytest.mark.parametrize(
    ("sqlstate", "message", "anonymous", "status"),
    [
        ("42501", "permission denied", True, 401),
        ("42501", "permission denied", False, 403),
        ("23505", "duplicate", False, 409),
        ("23503", "fk", False, 409),
        ("22P02", "bad input", False, 400),
        ("42P01", "missing", False, 404),
        ("42883", "no function", False, 404),
        ("25006", "read only", False, 405),
        ("22023", 'role "x" does not exist', False, 401),
        ("22023", "invalid parameter", False, 400),
        ("21000", "DELETE requires a WHERE clause", False, 400),
        ("21000", "more than one row", False, 500),
        ("PT418", "teapot", False, 418),
        ("PTABC", "not a status", False, 500),
        ("PT099", "below any status", False, 500),
        ("P0002", "no data found", False, 500),
        ("40001", "serialization", False, 500),
        ("53300", "too many connections", False, 503),
        ("53400", "config limit", False, 500),
        ("57P01", "admin shutdown", False, 503),
        ("0P000", "invalid role", False, 403),
        ("28000", "invalid authorization", False, 403),
        ("42P17", "infinite recursion", False, 500),
        ("23514", "check", False, 400),
        ("42703", "undefined column", False, 400),
        ("08006", "connection", False, 503),
        ("57014", "canceled", False, 500),
        ("P0001", "raise", False, 400),
        ("XX000", "internal", False, 500),
    ],
)
def test_sqlstate_status(
    sqlstate: str, message: str, anonymous: bool, status: int
) -> None:
    assert sqlstate_status(sqlstate, message, anonymous=anonymous) == status
