"""DataClient against an in-process stand-in for the app's bridge and the data API.

The stand-in is a real Starlette app reached through ``httpx.ASGITransport``: it
mints HS256 bridge tokens on ``/api/insforge-token``, checks them on
``/api/database/records/posts`` against a clock the test moves, and keeps rows in
memory. It counts mints and requests so token reuse, refresh and retry show.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rowgate.dataclient import DataApiError, DataClient, token_expiry
from tests.servers import free_port

SECRET = "s" * 40
ANON_KEY = "anon_" + "0" * 64
LIFETIME = 3600


@dataclass
class FakeBackend:
    """The bridge and the data API in one app, with knobs for the tests."""

    now: float = 1_000_000.0
    signed_in: bool = True
    refuse_all_tokens: bool = False
    minted: int = 0
    revoked: set[str] = field(default_factory=set)
    seen: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    next_id: int = 1

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/insforge-token", self.bridge),
                Route(
                    "/api/database/records/{table}",
                    self.records,
                    methods=["GET", "POST", "PATCH", "DELETE"],
                ),
            ]
        )

    async def bridge(self, _request: Request) -> Response:
        if not self.signed_in:
            return JSONResponse({"error": "not signed in"}, status_code=401)
        self.minted += 1
        iat = int(self.now)
        claims = {"sub": "user-1", "role": "authenticated", "iat": iat}
        claims |= {"exp": iat + LIFETIME, "n": self.minted}
        return JSONResponse({"token": jwt.encode(claims, SECRET, "HS256")})

    async def records(self, request: Request) -> Response:
        auth = request.headers.get("authorization")
        self.seen.append((request.method, auth, request.headers.get("prefer")))
        refusal = self.refusal(auth)
        if refusal is not None:
            return refusal
        if request.path_params["table"] != "posts":
            return error(404, "42P01", 'relation "public.nope" does not exist')

        handler = {
            "GET": self.select,
            "POST": self.insert,
            "PATCH": self.update,
            "DELETE": self.delete,
        }[request.method]
        return await handler(request)

    def refusal(self, auth: str | None) -> Response | None:
        token = (auth or "").removeprefix("Bearer ")
        if token == ANON_KEY or not token:
            return error(401, "42501", "permission denied for table posts")
        claims = jwt.decode(
            token, SECRET, algorithms=["HS256"], options={"verify_exp": False}
        )
        if self.refuse_all_tokens or token in self.revoked:
            return error(401, "PGRST301", "JWT cannot be used")
        if claims["exp"] <= self.now:
            return error(401, "PGRST303", "JWT expired")
        return None

    async def select(self, request: Request) -> Response:
        rows = self.matching(request)
        if request.query_params.get("order") == "id.desc":
            rows = sorted(rows, key=lambda r: -r["id"])
        return JSONResponse(rows)

    async def insert(self, request: Request) -> Response:
        body = await request.json()
        created = []
        for row in body if isinstance(body, list) else [body]:
            if "title" not in row:
                return error(400, "23502", 'null value in column "title"', hint="x")
            created.append({"id": self.next_id, "body": "", **row})
            self.next_id += 1
        self.rows += created
        return self.written(request, created, 201)

    async def update(self, request: Request) -> Response:
        values = await request.json()
        changed = self.matching(request)
        for row in changed:
            row.update(values)
        return self.written(request, changed, 200)

    async def delete(self, request: Request) -> Response:
        gone = self.matching(request)
        self.rows = [r for r in self.rows if r not in gone]
        return self.written(request, gone, 200)

    def matching(self, request: Request) -> list[dict[str, Any]]:
        wanted = request.query_params.get("id")
        if wanted is None:
            return list(self.rows)
        return [r for r in self.rows if f"eq.{r['id']}" == wanted]

    @staticmethod
    def written(request: Request, rows: list[dict[str, Any]], status: int) -> Response:
        if request.headers.get("prefer") == "return=representation":
            return JSONResponse(rows, status_code=status)
        return Response(status_code=204 if status == 200 else status)


def error(status: int, code: str, message: str, hint: str | None = None) -> Response:
    body = {"code": code, "message": message, "details": None, "hint": hint}
    return JSONResponse(body, status_code=status)


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
async def client(backend: FakeBackend) -> AsyncIterator[DataClient]:
    transport = httpx.ASGITransport(app=backend.app())
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:

        async def bridge_token() -> str | None:
            response = await http.get("/api/insforge-token")
            if response.status_code == 401:
                return None
            token: str = response.json()["token"]
            return token

        yield DataClient(
            "http://backend/",
            bridge_token,
            anon_key=ANON_KEY,
            client=http,
            clock=lambda: backend.now,
        )


async def test_the_token_is_fetched_once_and_reused(
    client: DataClient, backend: FakeBackend
) -> None:
    await client.select("posts")
    await client.select("posts")

    assert backend.minted == 1
    assert backend.seen[0][1] == backend.seen[1][1]


async def test_concurrent_calls_share_one_token_fetch(
    client: DataClient, backend: FakeBackend
) -> None:
    await asyncio.gather(*(client.select("posts") for _ in range(5)))

    assert backend.minted == 1
    assert len({auth for _method, auth, _prefer in backend.seen}) == 1


async def test_the_token_is_refreshed_five_minutes_before_it_expires(
    client: DataClient, backend: FakeBackend
) -> None:
    await client.select("posts")

    backend.now += LIFETIME - 301
    await client.select("posts")
    assert backend.minted == 1

    backend.now += 2
    await client.select("posts")
    assert backend.minted == 2
    assert backend.seen[-1][1] != backend.seen[0][1]


async def test_a_refused_token_is_dropped_and_the_call_retried_once(
    client: DataClient, backend: FakeBackend
) -> None:
    await client.insert("posts", {"title": "kept"})
    first_token = backend.seen[-1][1]
    backend.revoked.add((first_token or "").removeprefix("Bearer "))

    rows = await client.select("posts")

    assert [r["title"] for r in rows] == ["kept"]
    assert backend.minted == 2
    assert [s[1] == first_token for s in backend.seen[1:]] == [True, False]


async def test_a_second_refusal_raises_and_forgets_the_token(
    client: DataClient, backend: FakeBackend
) -> None:
    backend.refuse_all_tokens = True

    with pytest.raises(DataApiError) as caught:
        await client.select("posts")

    assert (caught.value.status, caught.value.code) == (401, "PGRST301")
    assert (backend.minted, len(backend.seen)) == (2, 2)
    backend.refuse_all_tokens = False
    await client.select("posts")
    assert backend.minted == 3


async def test_errors_carry_the_postgrest_body(client: DataClient) -> None:
    with pytest.raises(DataApiError) as caught:
        await client.insert("posts", {"body": "no title"})

    error = caught.value
    assert (error.status, error.code, error.hint) == (400, "23502", "x")
    assert error.message == 'null value in column "title"'
    assert error.body["details"] is None
    assert str(error) == error.message


async def test_an_unknown_table_is_a_data_api_error(client: DataClient) -> None:
    with pytest.raises(DataApiError) as caught:
        await client.select("nope")

    assert (caught.value.status, caught.value.code) == (404, "42P01")


async def test_create_list_update_and_delete(
    client: DataClient, backend: FakeBackend
) -> None:
    created = await client.insert("posts", [{"title": "a"}, {"title": "b"}])
    updated = await client.update("posts", {"id": "eq.1"}, {"title": "A"})
    listed = await client.select("posts", {"order": "id.desc"})
    deleted = await client.delete("posts", {"id": "eq.2"})

    assert [r["id"] for r in created] == [1, 2]
    assert updated == [{"id": 1, "body": "", "title": "A"}]
    assert [r["title"] for r in listed] == ["b", "A"]
    assert [r["id"] for r in deleted] == [2]
    assert await client.select("posts") == [{"id": 1, "body": "", "title": "A"}]
    assert {s[2] for s in backend.seen if s[0] != "GET"} == {"return=representation"}


async def test_insert_without_returning_asks_for_nothing_back(
    client: DataClient, backend: FakeBackend
) -> None:
    await client.insert("posts", {"title": "quiet"}, returning=False)

    assert backend.seen[-1][2] == "return=minimal"
    assert len(backend.rows) == 1


async def test_signed_out_calls_use_the_anon_key_without_retry(
    client: DataClient, backend: FakeBackend
) -> None:
    backend.signed_in = False

    with pytest.raises(DataApiError) as caught:
        await client.select("posts")

    assert (caught.value.status, caught.value.code) == (401, "42501")
    assert backend.seen == [("GET", f"Bearer {ANON_KEY}", None)]


@pytest.mark.parametrize("filters", [{}, None])
async def test_unfiltered_update_and_delete_are_refused(
    client: DataClient, backend: FakeBackend, filters: dict[str, str] | None
) -> None:
    with pytest.raises(ValueError, match="filter"):
        await client.update("posts", filters or {}, {"title": "all"})
    with pytest.raises(ValueError, match="filter"):
        await client.delete("posts", filters or {})

    assert backend.seen == []


async def test_an_unreachable_data_api_is_a_data_api_error() -> None:
    async def no_token() -> str | None:
        return None

    async with DataClient(f"http://127.0.0.1:{free_port()}", no_token) as client:
        with pytest.raises(DataApiError) as caught:
            await client.select("posts")

    assert caught.value.status is None
    assert "could not be reached" in caught.value.message


def encode_segment(value: object) -> str:
    raw = json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"exp": 1700000000}, 1700000000.0),
        ({"exp": 1.5}, 1.5),
        ({"sub": "x"}, None),
        ({"exp": "soon"}, None),
        ({"exp": True}, None),
        (["not", "an", "object"], None),
    ],
)
def test_token_expiry_reads_exp_from_the_payload(
    payload: object, expected: float | None
) -> None:
    token = f"{encode_segment({'alg': 'HS256'})}.{encode_segment(payload)}.sig"

    assert token_expiry(token) == expected


@pytest.mark.parametrize("token", ["anon_abc", "a.b", "a.!!!.c", "a.bm90IGpzb24.c"])
def test_token_expiry_of_something_else_is_none(token: str) -> None:
    assert token_expiry(token) is None
