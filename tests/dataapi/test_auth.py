"""Token checks and role switching: every refusal is a 401 before any SQL runs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from rowgate.dataapi.app import DataApi
from rowgate.dataapi.config import DataApiConfig
from rowgate.dataapi.errors import DataApiConfigError
from tests.dataapi.conftest import ANON_KEY, BASE, CONFIG, SECRET, new_user, token


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def unsigned(payload: dict[str, Any]) -> str:
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(payload)}."


def tampered() -> str:
    header, _payload, signature = token(new_user()).split(".")
    return (
        f"{header}.{b64({'sub': 'someone-else', 'role': 'authenticated'})}.{signature}"
    )


def signed_raw(payload: bytes) -> str:
    """A validly signed token whose claims segment is exactly ``payload``."""
    header = b64({"alg": "HS256", "typ": "JWT"})
    body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    mac = hmac.new(SECRET.encode(), f"{header}.{body}".encode(), hashlib.sha256)
    signature = base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()
    return f"{header}.{body}.{signature}"


NOW = int(time.time())
REFUSED = {
    "wrong secret": {"Authorization": f"Bearer {token('u', secret='x' * 40)}"},
    "expired": {"Authorization": f"Bearer {token('u', exp=NOW - 120)}"},
    "not yet valid": {"Authorization": f"Bearer {token('u', nbf=NOW + 600)}"},
    "issued in future": {"Authorization": f"Bearer {token('u', iat=NOW + 600)}"},
    "string exp": {"Authorization": f"Bearer {token('u', exp=str(NOW + 600))}"},
    "role postgres": {"Authorization": f"Bearer {token('u', role='postgres')}"},
    "role project_admin": {
        "Authorization": f"Bearer {token('u', role='project_admin')}"
    },
    "role authenticator": {
        "Authorization": f"Bearer {token('u', role='authenticator')}"
    },
    "role table owner": {"Authorization": f"Bearer {token('u', role='dataapi_owner')}"},
    "role unknown": {"Authorization": f"Bearer {token('u', role='nobody_at_all')}"},
    "role not a string": {"Authorization": f"Bearer {token('u', role=['anon'])}"},
    "alg none": {"Authorization": f"Bearer {unsigned({'role': 'authenticated'})}"},
    "tampered payload": {"Authorization": f"Bearer {tampered()}"},
    "empty bearer": {"Authorization": "Bearer "},
    "empty header": {"Authorization": ""},
    "basic auth": {"Authorization": "Basic dXNlcjpwYXNz"},
    "not a jwt": {"Authorization": "Bearer not-a-token"},
    "wrong anon key": {"Authorization": "Bearer anon_" + "cd" * 32},
    # Signed with the secret, but holding a lone surrogate no UTF-8 text can carry.
    "lone surrogate claim": {
        "Authorization": "Bearer "
        + signed_raw(b'{"sub":"lone \\ud800","role":"authenticated"}')
    },
    "other algorithm": {
        "Authorization": "Bearer "
        + jwt.encode({"role": "authenticated"}, SECRET * 2, algorithm="HS512")
    },
}


class NoPool:
    """Fails the test if the API asks for a connection."""

    def connection(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a refused request reached the pool")


@pytest.fixture(scope="module")
async def offline(api: DataApi) -> Any:
    """The same API over a pool that must never be used."""
    refusing = DataApi(CONFIG, NoPool())  # type: ignore[arg-type]
    refusing.cache = api.cache
    app = Starlette(routes=[Mount("/api/database", app=refusing)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        yield http


@pytest.mark.parametrize("case", sorted(REFUSED))
async def test_refused_tokens(
    client: httpx.AsyncClient, offline: httpx.AsyncClient, case: str
) -> None:
    response = await offline.get("/items?select=id", headers=REFUSED[case])
    over_pool = await client.get("/items?select=id", headers=REFUSED[case])

    assert response.status_code == 401
    assert response.json()["code"] == "PGRST301"
    assert response.headers["www-authenticate"].startswith(
        'Bearer error="invalid_token"'
    )
    assert over_pool.status_code == 401


async def test_repeated_authorization_header(offline: httpx.AsyncClient) -> None:
    headers = [("Authorization", f"Bearer {token('u')}")] * 2

    response = await offline.get("/items", headers=headers)

    assert response.status_code == 401


async def test_clock_skew_is_tolerated(client: httpx.AsyncClient) -> None:
    headers = {
        "Authorization": f"Bearer {token(new_user(), exp=int(time.time()) - 10)}"
    }

    response = await client.get("/notes", headers=headers)

    assert response.status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [None, f"Bearer {ANON_KEY}", f"bearer {ANON_KEY}", f"Bearer {token(role=None)}"],
)
async def test_anonymous_requests(
    client: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    items = await client.get("/items?select=id&id=eq.1", headers=headers)
    notes = await client.get("/notes", headers=headers)

    assert items.json() == [{"id": 1}]
    assert notes.status_code == 401
    assert notes.json()["code"] == "42501"
    assert notes.headers["www-authenticate"] == "Bearer"


async def test_lower_case_bearer_jwt(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/notes", headers={"Authorization": f"bearer {token(new_user())}"}
    )

    assert response.status_code == 200


@pytest.mark.parametrize("sub", ["user_2NNEqL2nrIRdJ194ndJqAHwEfxC", "auth0|64ab"])
async def test_non_uuid_subjects(client: httpx.AsyncClient, sub: str) -> None:
    headers = {"Authorization": f"Bearer {token(sub)}"}

    created = await client.post("/notes", json={"title": "mine"}, headers=headers)
    listed = await client.get("/notes?select=user_id", headers=headers)

    assert created.status_code == 201
    assert {row["user_id"] for row in listed.json()} == {sub}


async def test_claims_round_trip_exactly(client: httpx.AsyncClient) -> None:
    claims = {
        "sub": 'quo"te\\s ünïcødé 🎉',
        "role": "authenticated",
        "x": [1, {"y": None}],
    }
    headers = {
        "Authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"
    }

    response = await client.get("/rpc/request_settings", headers=headers)

    settings = response.json()
    assert json.loads(settings["claims"]) == claims
    assert settings["user_id"] == claims["sub"]
    assert settings["role"] == "authenticated"


async def test_audience_when_configured(api: DataApi) -> None:
    config = DataApiConfig(jwt_secret=SECRET, jwt_aud="insforge-api")
    checked = DataApi(config, api.pool)
    checked.cache = api.cache
    app = Starlette(routes=[Mount("/api/database", app=checked)])
    transport = httpx.ASGITransport(app=app)

    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        statuses = [
            (
                await http.get(
                    "/items?select=id", headers={"Authorization": f"Bearer {t}"}
                )
            ).status_code
            for t in (
                token("u", aud="insforge-api"),
                token("u", aud=["other", "insforge-api"]),
                token("u", aud="other"),
                token("u", aud=5),
            )
        ]

    assert statuses == [200, 200, 401, 401]


@pytest.mark.parametrize(
    "config",
    [
        {"jwt_secret": "short"},
        {"jwt_secret": SECRET, "allowed_roles": frozenset({"anon", "project_admin"})},
        {"jwt_secret": SECRET, "anon_role": "visitor"},
        {"jwt_secret": SECRET, "schemas": ()},
        {"jwt_secret": SECRET, "schemas": ("pg_catalog",)},
        {"jwt_secret": SECRET, "anon_key": "anon_short"},
    ],
)
def test_misconfiguration_fails_at_start(config: dict[str, Any]) -> None:
    with pytest.raises(DataApiConfigError):
        DataApi(DataApiConfig(**config), NoPool())  # type: ignore[arg-type]
