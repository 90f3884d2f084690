"""Embedding through views: relationships and keys come from the base tables.

The fixtures put ``hidden.item_notes`` (not exposed) behind ``public.item_notes``,
filter ``items`` into ``cheap_items`` and that into ``cheap_names`` (a view on a
view), show a key only through a cast in ``item_labels``, and join shops to
their stock in ``shop_stock``.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from rowgate.dataapi.view_sources import NodeTreeError, column_origins


async def read(client: httpx.AsyncClient, url: str) -> Any:
    response = await client.get(url)
    assert response.status_code == 200, response.text
    return response.json()


async def test_table_to_view_inherits_the_views_key(client: httpx.AsyncClient) -> None:
    # item_notes shows hidden.item_notes' primary key: each item has one note.
    rows = await read(client, "/items?select=id,item_notes(note)&id=lte.3&order=id")

    assert rows == [
        {"id": 1, "item_notes": {"note": "keeps a week"}},
        {"id": 2, "item_notes": None},
        {"id": 3, "item_notes": {"note": "peel first"}},
    ]


async def test_view_to_table(client: httpx.AsyncClient) -> None:
    rows = await read(client, "/item_notes?select=note,items(name)&order=item_id")

    assert rows == [
        {"note": "keeps a week", "items": {"name": "apple"}},
        {"note": "peel first", "items": {"name": "carrot"}},
    ]


async def test_a_renamed_key_column_still_relates(client: httpx.AsyncClient) -> None:
    rows = await read(
        client, "/cheap_items?select=item_id,item_shops(shop_id)&order=item_id"
    )

    assert rows == [
        {"item_id": 2, "item_shops": [{"shop_id": 1}]},
        {"item_id": 3, "item_shops": [{"shop_id": 1}]},
    ]


async def test_view_on_view_to_view(client: httpx.AsyncClient) -> None:
    rows = await read(client, "/cheap_names?select=name,item_notes(note)&order=item_id")

    assert rows == [
        {"name": "banana", "item_notes": None},
        {"name": "carrot", "item_notes": {"note": "peel first"}},
    ]


async def test_join_view_relates_through_each_side(client: httpx.AsyncClient) -> None:
    # shop_stock shows item_shops.item_id (many-to-one to items) and shops.id
    # (many-to-many to items through item_shops): the name alone is ambiguous.
    ambiguous = await client.get("/shop_stock?select=shop,items(name)")
    rows = await read(
        client,
        "/shop_stock?select=shop,items!item_shops_item_id_fkey(name)"
        "&shop=eq.2&order=item_id",
    )

    assert (ambiguous.status_code, ambiguous.json()["code"]) == (300, "PGRST201")
    assert rows == [
        {"shop": 2, "items": {"name": "apple"}},
        {"shop": 2, "items": {"name": 'egg "large"'}},
    ]


async def test_a_junction_hint_names_the_junction_table(
    client: httpx.AsyncClient,
) -> None:
    rows = await read(
        client, "/shop_stock?select=shop,items!item_shops(id)&shop=eq.2&item_id=eq.1"
    )

    assert [sorted(item["id"] for item in row["items"]) for row in rows] == [[1, 5]]


async def test_a_key_or_column_name_still_means_the_table(
    client: httpx.AsyncClient,
) -> None:
    # cheap_items and cheap_names show items.id too; by key or column name the
    # target is the table the key references, never a view, so no ambiguity.
    by_column = await read(
        client, "/item_shops?select=item_id(name)&shop_id=eq.2&order=item_id"
    )
    by_key = await read(
        client,
        "/item_shops?select=item_shops_item_id_fkey(name)&shop_id=eq.2&order=item_id",
    )

    assert by_column == [
        {"item_id": {"name": "apple"}},
        {"item_id": {"name": 'egg "large"'}},
    ]
    assert by_key == [
        {"item_shops_item_id_fkey": {"name": "apple"}},
        {"item_shops_item_id_fkey": {"name": 'egg "large"'}},
    ]


async def test_many_to_many_into_a_view(client: httpx.AsyncClient) -> None:
    rows = await read(client, "/shops?select=name,cheap_items(name)&id=eq.1")

    assert len(rows) == 1
    names = sorted(item["name"] for item in rows[0]["cheap_items"])
    assert (rows[0]["name"], names) == ("market", ["banana", "carrot"])


async def test_a_key_shown_through_an_expression_relates_nothing(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/item_labels?select=name,item_shops(shop_id)")

    assert (response.status_code, response.json()["code"]) == (400, "PGRST200")


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/cheap_names", "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"),
        ("/item_labels", "OPTIONS,GET,HEAD,POST,PATCH,DELETE"),
    ],
)
async def test_views_have_their_base_tables_primary_key(
    client: httpx.AsyncClient, path: str, allow: str
) -> None:
    response = await client.options(path)

    assert response.headers["allow"] == allow


async def test_the_hidden_schema_stays_hidden(client: httpx.AsyncClient) -> None:
    response = await client.get("/item_notes", headers={"Accept-Profile": "hidden"})

    assert (response.status_code, response.json()["code"]) == (406, "PGRST106")


# -- reading the stored query tree -----------------------------------------------

TREE = (
    "({QUERY :commandType 1 :rtable <> "
    ":targetList ("
    "{TARGETENTRY :expr {VAR :varno 1} :resno 1 :resname odd,\\ name "
    ":ressortgroupref 0 :resorigtbl 100 :resorigcol 2 :resjunk false} "
    "{TARGETENTRY :expr {SUBLINK :subselect {QUERY :targetList ("
    "{TARGETENTRY :expr {VAR} :resno 2 :resname x :resorigtbl 555 :resorigcol 9 "
    ":resjunk false})}} :resno 2 :resname sub :resorigtbl 0 :resorigcol 0 "
    ":resjunk false} "
    "{TARGETENTRY :expr {CONST :constvalue 4 [ 1 0 0 0 ]} :resno 3 "
    "NAME_PLACEHOLDER :resorigtbl 100 :resorigcol 1 :resjunk true}"
    ") :override 0})"
)


def test_origins_of_the_top_target_list_only() -> None:
    tree = TREE.replace("NAME_PLACEHOLDER", ":resname \\:junk")

    # Column 2 is a sub-select (its inner entry is not the view's); 3 is junk.
    assert column_origins(tree) == {1: (100, 2)}


@pytest.mark.parametrize(
    "broken",
    [
        "",
        "({QUERY :targetList (",
        "({QUERY :targetList ({TARGETENTRY :resno 1})})",
        "({PLANNEDSTMT :x 1})",
        "({QUERY :targetList ({TARGETENTRY :resno x :resorigtbl 1 :resorigcol 1})})",
        "({QUERY 1 :targetList <>})",
    ],
)
def test_unreadable_trees_are_refused(broken: str) -> None:
    with pytest.raises(NodeTreeError):
        column_origins(broken)
