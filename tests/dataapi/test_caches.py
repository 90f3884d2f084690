"""Remembered tokens and prepared reads: a repeat is served as its own request.

The session-wide ``client`` already sends most URLs many times over; these tests
pin what reuse must never change: whose rows a read returns, which headers and
cookies its settings carry, how plan-shaping headers select a plan, and what a
schema reload forgets.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.routing import Mount

from rowgate.dataapi.app import DataApi
from rowgate.dataapi.errors import AuthError
from rowgate.dataapi.jwt import Identity, TokenCache, authenticate
from rowgate.dataapi.plan_cache import MAX_KEY_CHARS, PlanCache
from tests.dataapi.conftest import BASE, CONFIG, bearer, new_user, token


async def test_a_reused_plan_runs_as_each_caller(
    api: DataApi, client: httpx.AsyncClient
) -> None:
    alice, bob = new_user(), new_user()
    for user, title in ((alice, "alice's"), (bob, "bob's")):
        created = await client.post(
            "/notes", json={"title": title}, headers=bearer(user)
        )
        assert created.status_code == 201
    query = "select=title,user_id&order=id.desc&limit=5"
    key = PlanCache.key("GET", "/records/notes", query, {"accept": "*/*"}, b"")
    assert key is not None and api.cache is not None

    first = await client.get(f"/notes?{query}", headers=bearer(alice))
    prepared = api.plans.get(api.cache, key)
    second = await client.get(f"/notes?{query}", headers=bearer(bob))
    third = await client.get(f"/notes?{query}", headers=bearer(alice))
    anonymous = await client.get(f"/notes?{query}")

    assert prepared is not None
    assert api.plans.get(api.cache, key) is prepared  # one plan served all four
    assert first.json() == third.json() == [{"title": "alice's", "user_id": alice}]
    assert second.json() == [{"title": "bob's", "user_id": bob}]
    # anon may not read notes at all: the role switched back too.
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "42501")


async def test_a_reused_plan_carries_each_requests_own_settings(
    client: httpx.AsyncClient,
) -> None:
    user = new_user()

    async def settings(trace: str, cookie: str) -> dict[str, Any]:
        response = await client.get(
            "/rpc/request_settings",
            headers={**bearer(user), "X-Trace": trace, "Cookie": f"c={cookie}"},
        )
        assert response.status_code == 200
        result: dict[str, Any] = response.json()
        return result

    one, two = await settings("one", "1"), await settings("two", "2")

    assert (one["user_id"], two["user_id"]) == (user, user)
    assert '"x-trace": "one"' in one["headers"]
    assert '"x-trace": "two"' in two["headers"]
    assert (one["cookies"], two["cookies"]) == ('{"c": "1"}', '{"c": "2"}')


@pytest.mark.parametrize(
    ("headers", "status", "check"),
    [
        (
            {"Prefer": "count=exact"},
            206,
            lambda r: r.headers["content-range"] == "0-1/3",
        ),
        (
            {"Accept": "application/vnd.pgrst.object+json"},
            406,
            lambda r: r.json()["code"] == "PGRST116",
        ),
        ({"Range": "1-1"}, 200, lambda r: [row["id"] for row in r.json()] == [2]),
        ({"Accept": "text/csv"}, 200, lambda r: r.text.startswith("id\n1\n2")),
    ],
)
async def test_headers_that_shape_a_plan_get_their_own(
    client: httpx.AsyncClient, headers: dict[str, str], status: int, check: Any
) -> None:
    url = "/items?select=id&order=id&id=lte.3&limit=2"
    plain = await client.get(url)
    shaped = await client.get(url, headers=headers)
    again = await client.get(url)

    assert plain.status_code == again.status_code == 200
    assert plain.json() == again.json() == [{"id": 1}, {"id": 2}]
    assert shaped.status_code == status
    assert check(shaped)


async def test_a_schema_reload_forgets_prepared_reads(
    pool: AsyncConnectionPool[Any], owner: psycopg.Connection[Any]
) -> None:
    owner.execute("CREATE TABLE public.cache_probe (id int)")
    owner.execute("INSERT INTO public.cache_probe VALUES (1)")
    fresh = DataApi(CONFIG, pool)
    await fresh.startup()
    app = Starlette(routes=[Mount("/api/database", app=fresh)])
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            before = await http.get("/cache_probe")
            owner.execute("DROP TABLE public.cache_probe")
            await fresh.reload_schema()
            after = await http.get("/cache_probe")
    finally:
        await fresh.shutdown()
        owner.execute("DROP TABLE IF EXISTS public.cache_probe")

    assert before.json() == [{"id": 1}]
    assert (after.status_code, after.json()["code"]) == (404, "PGRST205")


def test_only_bodyless_reads_of_bounded_size_have_a_key() -> None:
    headers = {"accept": "*/*"}
    read = PlanCache.key("GET", "/records/t", "select=a", headers, b"")

    assert read is not None
    assert PlanCache.key("HEAD", "/records/t", "select=a", headers, b"") != read
    assert PlanCache.key("GET", "/records/t", "select=a", {}, b"") != read
    assert PlanCache.key("POST", "/records/t", "", headers, b"{}") is None
    assert PlanCache.key("DELETE", "/records/t", "id=eq.1", headers, b"") is None
    assert PlanCache.key("GET", "/records/t", "", headers, b"x") is None
    long = "a=eq." + "x" * MAX_KEY_CHARS
    assert PlanCache.key("GET", "/records/t", long, headers, b"") is None


def test_plan_cache_is_bounded_and_tied_to_one_schema_cache(api: DataApi) -> None:
    plans = PlanCache(capacity=2)
    first, other = api.cache, object()
    assert first is not None
    prepared: Any = object()
    for n in range(3):
        plans.put(first, ("GET", str(n)), prepared)

    assert len(plans) == 2
    assert plans.get(first, ("GET", "0")) is None  # the oldest went first
    assert plans.get(first, ("GET", "2")) is prepared
    assert plans.get(other, ("GET", "2")) is None  # type: ignore[arg-type]
    plans.put(other, ("GET", "3"), prepared)  # type: ignore[arg-type]
    assert len(plans) == 1


def auth(value: str, tokens: TokenCache, now: float | None = None) -> Identity:
    moment = time.time() if now is None else now
    return authenticate([f"Bearer {value}"], CONFIG, moment, tokens)


def test_a_verified_token_is_remembered() -> None:
    tokens = TokenCache()
    signed = token("u1")

    first = auth(signed, tokens)

    assert auth(signed, tokens) is first
    assert first.claims["sub"] == "u1"
    assert len(tokens) == 1


def test_a_remembered_token_still_expires() -> None:
    tokens = TokenCache()
    now = int(time.time())
    signed = token("u1", exp=now + 10)
    auth(signed, tokens, now)

    with pytest.raises(AuthError, match="JWT expired"):
        auth(signed, tokens, now + 10 + CONFIG.clock_skew + 1)
    assert len(tokens) == 0


def test_refused_tokens_are_not_remembered() -> None:
    tokens = TokenCache()
    signed = token("u1")
    auth(signed, tokens)
    head, _claims, signature = signed.split(".")
    forged = jwt.encode({"sub": "u2", "role": "authenticated"}, "x" * 40, "HS256")
    tampered = f"{head}.{forged.split('.')[1]}.{signature}"

    for refused in (tampered, forged, token("u3", secret="y" * 40)):
        with pytest.raises(AuthError):
            auth(refused, tokens)
    assert len(tokens) == 1


def test_token_cache_is_bounded() -> None:
    tokens = TokenCache(capacity=2)
    signed = [token(f"u{n}") for n in range(3)]
    for value in signed:
        auth(value, tokens)

    assert len(tokens) == 2
    assert tokens.get(signed[0]) is None
    assert tokens.get(signed[2]) is not None


async def test_a_refused_read_takes_no_place(
    api: DataApi, client: httpx.AsyncClient
) -> None:
    query = "select=title&limit=7"
    key = PlanCache.key("GET", "/records/notes", query, {"accept": "*/*"}, b"")
    assert key is not None and api.cache is not None

    refused = await client.get(f"/notes?{query}")  # anon may not read notes

    assert refused.status_code == 401
    assert api.plans.get(api.cache, key) is None
