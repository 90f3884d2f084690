"""Embedding over the fixed shops and items: junction tables, spread, !inner, hints.

``item_shops`` links items 1, 2, 3 to the market (1), items 1 and 5 to the
corner shop (2); the closed shop (3) stocks nothing. Transfer 1 goes from the
market to the corner shop.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

EMBEDS: list[tuple[str, Any]] = [
    # many-to-many through item_shops, both ways
    (
        "/shops?select=name,items(id)&order=id&items.order=id",
        [
            {"name": "market", "items": [{"id": 1}, {"id": 2}, {"id": 3}]},
            {"name": "corner", "items": [{"id": 1}, {"id": 5}]},
            {"name": "closed", "items": []},
        ],
    ),
    (
        "/items?select=id,shops(name)&id=in.(1,4)&order=id&shops.order=name",
        [
            {"id": 1, "shops": [{"name": "corner"}, {"name": "market"}]},
            {"id": 4, "shops": []},
        ],
    ),
    # the junction table's name as the hint
    (
        "/shops?select=name,items!item_shops(id)&id=eq.2&items.order=id",
        [{"name": "corner", "items": [{"id": 1}, {"id": 5}]}],
    ),
    # !inner drops the shop without items; embedded filters narrow it further
    (
        "/shops?select=name,items!inner(id)&order=id",
        [
            {"name": "market", "items": [{"id": 1}, {"id": 2}, {"id": 3}]},
            {"name": "corner", "items": [{"id": 1}, {"id": 5}]},
        ],
    ),
    (
        "/shops?select=name,items!inner(id)&items.id=eq.5",
        [{"name": "corner", "items": [{"id": 5}]}],
    ),
    # null filters on an embed: semi-join and anti-join
    (
        "/shops?select=name,items()&items=not.is.null&order=id",
        [{"name": "market"}, {"name": "corner"}],
    ),
    ("/shops?select=name,items()&items=is.null", [{"name": "closed"}]),
    (
        "/shops?select=name,items(id)&items.id=eq.2&or=(items.not.is.null,id.eq.3)"
        "&order=id",
        [
            {"name": "market", "items": [{"id": 2}]},
            {"name": "closed", "items": []},
        ],
    ),
    # embedded order, limit and offset
    (
        "/shops?select=name,items(id)&id=eq.1&items.order=id.desc&items.limit=2"
        "&items.offset=1",
        [{"name": "market", "items": [{"id": 2}, {"id": 1}]}],
    ),
    (
        "/items?select=id,shops(name)&id=eq.1&shops.order=name.desc.nullslast",
        [{"id": 1, "shops": [{"name": "market"}, {"name": "corner"}]}],
    ),
    # aliases name the embed and its parameters
    (
        "/shops?select=name,stock:items(id)&stock.id=eq.1&order=id&limit=2",
        [
            {"name": "market", "stock": [{"id": 1}]},
            {"name": "corner", "stock": [{"id": 1}]},
        ],
    ),
    # the junction itself, and nested to-one embeds inside it
    (
        "/shops?select=name,item_shops(items(name))&id=eq.2&item_shops.order=item_id",
        [
            {
                "name": "corner",
                "item_shops": [
                    {"items": {"name": "apple"}},
                    {"items": {"name": 'egg "large"'}},
                ],
            }
        ],
    ),
    # spread of to-one embeds lifts their columns
    (
        "/item_shops?select=...items(name),...shops(shop:name)&order=item_id,shop_id"
        "&limit=2",
        [{"name": "apple", "shop": "market"}, {"name": "apple", "shop": "corner"}],
    ),
    # ordering by a column of a to-one embed, selected or not
    (
        "/item_shops?select=item_id,shop_id,shops(name)&order=shops(name).asc,item_id"
        "&limit=3",
        [
            {"item_id": 1, "shop_id": 2, "shops": {"name": "corner"}},
            {"item_id": 5, "shop_id": 2, "shops": {"name": "corner"}},
            {"item_id": 1, "shop_id": 1, "shops": {"name": "market"}},
        ],
    ),
    (
        "/item_shops?select=item_id,items(name)&order=items(price).desc.nullslast,"
        "shop_id&limit=2",
        [
            {"item_id": 5, "items": {"name": 'egg "large"'}},
            {"item_id": 1, "items": {"name": "apple"}},
        ],
    ),
    # two foreign keys to shops: a column or constraint hint chooses
    (
        "/transfers?select=id,from:shops!from_shop(name),to:shops!to_shop(name)",
        [{"id": 1, "from": {"name": "market"}, "to": {"name": "corner"}}],
    ),
    (
        "/transfers?select=id,shops!transfers_to_shop_fkey(name)",
        [{"id": 1, "shops": {"name": "corner"}}],
    ),
    (
        "/shops?select=name,transfers!from_shop(id)&order=id&limit=2",
        [
            {"name": "market", "transfers": [{"id": 1}]},
            {"name": "corner", "transfers": []},
        ],
    ),
]


@pytest.mark.parametrize(("path", "body"), EMBEDS)
async def test_embeds(client: httpx.AsyncClient, path: str, body: Any) -> None:
    response = await client.get(path)

    assert response.status_code == 200, response.text
    assert response.json() == body


ERRORS = [
    ("/shops?select=name,nope(*)", 400, "PGRST200"),
    ("/transfers?select=shops(name)", 300, "PGRST201"),
    ("/shops?select=...items(id)", 400, "PGRST119"),
    ("/shops?select=name,items!nothing(id)", 400, "PGRST200"),
    ("/shops?select=name&items.id=eq.1", 400, "PGRST108"),
    ("/shops?select=name,items(nope)", 400, "42703"),
    ("/shops?select=name,items(id)&order=items(id)", 400, "PGRST118"),
    ("/item_shops?select=item_id&order=shops(name)", 400, "PGRST108"),
    ("/item_shops?select=item_id,shops(name)&order=shops(nope)", 400, "42703"),
]


@pytest.mark.parametrize(("path", "status", "code"), ERRORS)
async def test_embed_errors(
    client: httpx.AsyncClient, path: str, status: int, code: str
) -> None:
    response = await client.get(path)

    assert (response.status_code, response.json()["code"]) == (status, code)


async def test_ambiguity_lists_the_choices(client: httpx.AsyncClient) -> None:
    response = await client.get("/transfers?select=shops(name)")

    body = response.json()
    assert [d["cardinality"] for d in body["details"]] == ["many-to-one"] * 2
    assert "'shops!transfers_from_shop_fkey'" in body["hint"]
    assert "'shops!transfers_to_shop_fkey'" in body["hint"]
