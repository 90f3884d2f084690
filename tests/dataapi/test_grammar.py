"""Table-driven grammar cases over the fixed ``items`` rows: request → rows or error."""

from __future__ import annotations

import httpx
import pytest

# (query string, ids expected with select=id&order=id)
FILTERS = [
    ("id=eq.1", [1]),
    ("id=neq.1", [2, 3, 4, 5]),
    ("price=gt.1", [1, 5]),
    ("price=gte.1.5", [1, 5]),
    ("price=lt.0.4", [2]),
    ("price=lte.0.4", [2, 3]),
    ("name=like.*an*", [2]),
    ("name=ilike.APP*", [1]),
    ("name=match.^[ab]", [1, 2]),
    ("name=imatch.^A", [1]),
    ('name=in.(apple,"dill, fresh")', [1, 4]),
    ('name=in.("egg \\"large\\"")', [5]),
    ("id=in.()", []),
    ("id=not.in.(1,2,3)", [4, 5]),
    ("kind=is.null", [4]),
    ("kind=not.is.null", [1, 2, 3, 5]),
    ("active=is.true", [1, 4]),
    ("active=is.FALSE", [2, 5]),
    ("active=is.unknown", [3]),
    ("active=isdistinct.true", [2, 3, 5]),
    ("tags=cs.{sweet}", [1, 2]),
    ("tags=cd.{red,sweet,white}", [1, 4, 5]),
    ("tags=ov.{orange,white}", [3, 5]),
    ("span=sl.[20,30)", [1, 2, 3, 5]),
    ("span=sr.[3,4)", [2, 3]),
    ("span=adj.[5,10)", [1, 3]),
    ("span=nxr.[1,5)", [1, 5]),
    ("span=nxl.[5,6)", [2, 3]),
    ("doc=fts.apple", [1]),
    ("doc=plfts(english).yellow banana", [2]),
    ("doc=phfts.white egg", [5]),
    ("doc=wfts.orange or apple", [1, 3]),
    ("name=fts.banana", [2]),
    ("attrs->>color=eq.red", [1]),
    ("attrs->size->>cm=eq.8", [1]),
    ("name=like(any).{a*,b*}", [1, 2]),
    ("price=gt(all).{0.3,0.4}", [1, 5]),
    ('"odd, name"=eq.a', [1]),
    ("id=gt.1&id=lt.4", [2, 3]),
    ("or=(id.eq.1,id.eq.3)", [1, 3]),
    ("and=(price.gt.0.3,price.lt.2)", [1, 3]),
    ("or=(kind.is.null,and(price.gt.1,name.like.e*))", [4, 5]),
    ("not.or=(id.lt.3,id.gt.4)", [3, 4]),
    ('or=(name.in.(apple,"dill, fresh"),id.eq.5)', [1, 4, 5]),
    ('or=(name.eq."dill, fresh")', [4]),
    ("or=(tags.cs.{red,sweet},id.eq.3)", [1, 3]),
    ("or=(id.not.eq.1,id.eq.1)", [1, 2, 3, 4, 5]),
    ("name=eq.apple;drop table items", []),
    ("and=(id.gt.1,or(id.eq.2,id.eq.3))", [2, 3]),
    ("id=eq(any).{1,3}", [1, 3]),
    ("name=ilike(all).{*a*,*n*}", [2]),
    ("attrs->>color=in.(red,white)", [1, 5]),
    ('attrs=cs.{"color":"red"}', [1]),
    ("doc=not.fts.apple", [2, 3, 5]),
    ("kind=not.in.(fruit)", [3, 5]),
    ("or=(attrs->size->>cm.eq.8,active.is.false)", [1, 2, 5]),
]


@pytest.mark.parametrize(("query", "ids"), FILTERS)
async def test_filters(client: httpx.AsyncClient, query: str, ids: list[int]) -> None:
    response = await client.get(f"/items?select=id&order=id&{query}")

    assert response.status_code == 200, response.text
    assert [row["id"] for row in response.json()] == ids


ORDERS = [
    ("order=price.desc.nullslast", [5, 1, 3, 2, 4]),
    ("order=price.asc.nullsfirst", [4, 2, 3, 1, 5]),
    ("order=price.desc", [4, 5, 1, 3, 2]),
    ("order=kind.asc,id.desc", [5, 2, 1, 3, 4]),
    ("order=attrs->>color.asc.nullslast,id", [3, 1, 5, 2, 4]),
    ("order=id&limit=2&offset=1", [2, 3]),
    ("order=id&limit=0", []),
    ("order=id&offset=4", [5]),
]


@pytest.mark.parametrize(("query", "ids"), ORDERS)
async def test_order_and_paging(
    client: httpx.AsyncClient, query: str, ids: list[int]
) -> None:
    response = await client.get(f"/items?select=id&{query}")

    assert response.status_code == 200, response.text
    assert [row["id"] for row in response.json()] == ids


SELECTS = [
    ("select=id,name", [{"id": 1, "name": "apple"}]),
    ("select=label:name,id", [{"label": "apple", "id": 1}]),
    ("select=id,price::text", [{"id": 1, "price": "1.50"}]),
    ("select=attrs->size->>cm", [{"cm": "8"}]),
    ("select=colour:attrs->>color", [{"colour": "red"}]),
    ("select=attrs->size", [{"size": {"cm": 8}}]),
    ("select=tags->0", [{"0": "red"}]),
    ('select="odd, name"', [{"odd, name": "a"}]),
    ("select=", [{}]),
    ("select=id,category:kind", [{"id": 1, "category": "fruit"}]),
]


@pytest.mark.parametrize(("query", "body"), SELECTS)
async def test_select(client: httpx.AsyncClient, query: str, body: object) -> None:
    response = await client.get(f"/items?id=eq.1&{query}")

    assert response.status_code == 200, response.text
    assert response.json() == body


ERRORS = [
    ("/nope", 404, "PGRST205"),
    ("/secrets", 404, "PGRST205"),
    ("/better_auth.secrets", 404, "PGRST205"),
    ("/items/extra", 404, "PGRST125"),
    ("/items?id=foo.1", 400, "PGRST100"),
    ("/items?id=eq", 400, "PGRST100"),
    ("/items?id=eq.abc", 400, "22P02"),
    ("/items?banana=eq.1", 400, "42703"),
    ("/items?select=banana", 400, "42703"),
    ("/items?order=banana", 400, "42703"),
    ("/items?order=id.sideways", 400, "PGRST100"),
    ("/items?limit=-1", 416, "PGRST103"),
    ("/items?limit=abc", 400, "PGRST100"),
    ("/items?offset=x", 400, "PGRST100"),
    ("/items?or=(id.eq.1", 400, "PGRST100"),
    ("/items?or=()", 400, "PGRST100"),
    ("/items?or=(id.zz.1)", 400, "PGRST100"),
    ("/items?select=id,", 400, "PGRST100"),
    ("/items?select=id)", 400, "PGRST100"),
    ("/items?select=count()", 400, "PGRST123"),
    ("/items?select=price.sum()", 400, "PGRST123"),
    ("/items?select=id::text;select", 400, "PGRST100"),
    ("/items?select=id::int)from", 400, "PGRST100"),
    ("/items?select=id::foo bar", 400, "42601"),
    ("/items?kind=is.maybe", 400, "PGRST100"),
    ("/items?id=eq(any).1", 400, "22P02"),
    ("/items?id=neq(any).{1}", 400, "PGRST100"),
    ("/items?select=*,notes(*)", 400, "PGRST200"),
    ("/items?notes.id=eq.1", 400, "PGRST108"),
    ("/items?order=id.asc.nullsmiddle", 400, "PGRST100"),
    ("/items?select=id&id=eq.1&active=lt.x", 400, "22P02"),
    ("/rpc/nope", 404, "PGRST202"),
    ("/items?name=NOT.eq.apple", 400, "PGRST100"),
    ("/items?id=in.(1,2", 400, "PGRST100"),
    ("/items?id=eq(any).1&id=in(any).(1)", 400, "PGRST100"),
    ("/items?doc=fts(english.x", 400, "PGRST100"),
    ("/items?name=match.(", 400, "2201B"),
    ("/items?select=id&order=id.desc.nullsfirst.asc", 400, "PGRST100"),
]


@pytest.mark.parametrize(("path", "status", "code"), ERRORS)
async def test_errors(
    client: httpx.AsyncClient, path: str, status: int, code: str
) -> None:
    response = await client.get(path)

    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code
    assert set(body) == {"code", "message", "details", "hint"}
    assert response.headers["content-type"] == "application/json; charset=utf-8"


async def test_unknown_table_message(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope")

    assert response.json()["message"] == (
        "Could not find the table 'public.nope' in the schema cache"
    )


async def test_only_exposed_schemas(client: httpx.AsyncClient) -> None:
    response = await client.get("/secrets", headers={"Accept-Profile": "better_auth"})

    assert response.status_code == 406
    assert response.json()["code"] == "PGRST106"
    assert response.json()["message"] == (
        "The schema must be one of the following: public"
    )
    assert response.json()["hint"] is None


async def test_profile_header_for_exposed_schema(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/items?select=id&id=eq.1", headers={"Accept-Profile": "public"}
    )

    assert response.status_code == 200
    assert response.headers["content-profile"] == "public"


async def test_unknown_media_type(client: httpx.AsyncClient) -> None:
    response = await client.get("/items", headers={"Accept": "text/html"})

    assert response.status_code == 406
    assert response.json()["code"] == "PGRST107"


async def test_unsupported_method(client: httpx.AsyncClient) -> None:
    response = await client.request("TRACE", "/items")

    assert response.status_code == 405
    assert response.json()["code"] == "PGRST117"


@pytest.mark.parametrize(
    "url",
    [
        "/items?name=eq.%00",
        "/items?name=in.(a,%00)",
        "/items?name=like.%00*",
        "/items?doc=fts.%00",
        "/items?select=attrs->%00",
        "/items?order=name%00",
        "/it%00ems",
    ],
)
async def test_a_nul_character_is_postgres_22021_not_a_500(
    client: httpx.AsyncClient, url: str
) -> None:
    response = await client.get(url)

    assert (response.status_code, response.json()["code"]) == (400, "22021")


async def test_a_nul_in_a_text_body_is_22021_too(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/rpc/shout", content=b"a\x00b", headers={"Content-Type": "text/plain"}
    )

    assert (response.status_code, response.json()["code"]) == (400, "22021")
