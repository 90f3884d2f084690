"""The bridge under attack (#7, area 1, the part that applies to the bridge).

The bridge trusts nothing but a session cookie signed with the auth secret and
backed by a live session row. A bearer token, a raw or re-signed token, a JWT in
the cookie or a cookie under the wrong name is a 401; when the signature does not
check out, not one statement reaches Postgres. What the bridge mints is exactly
what the data API accepts, and nothing more.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from rowgate.bridge.token import mint_token
from tests.auth.support import JWT_SECRET, SECRET, client_for, sign_up, unique_email
from tests.security.conftest import AUDIENCE, AUTH_APP, User, activity, signed_up

COOKIE = "better-auth.session_token"
TOKEN_PATH = "/api/insforge-token"


def signed(value: str, secret: str = SECRET) -> str:
    digest = hmac.new(secret.encode(), value.encode(), hashlib.sha256).digest()
    return quote(f"{value}.{base64.b64encode(digest).decode()}", safe="")


@pytest.fixture(scope="module")
async def session(auth_pool: AsyncConnectionPool[Any]) -> tuple[str, str]:
    """A live session: its raw token and the cookie value a browser holds."""
    async with client_for(auth_pool) as browser:
        created = await sign_up(browser, unique_email("bridge"))
        cookie = browser.cookies[COOKIE]
    return created.json()["token"], cookie


def forged_requests(token: str, cookie: str) -> dict[str, dict[str, str]]:
    """Header sets that must not get a token, for a live session ``token``."""
    data_token = mint_token("someone", JWT_SECRET)
    other = "".join(secrets.choice("abcdefghijklmnop") for _ in range(32))
    return {
        "nothing": {},
        "bearer data-API token": {"Authorization": f"Bearer {data_token}"},
        "bearer session token": {"Authorization": f"Bearer {token}"},
        "bearer signed cookie": {"Authorization": f"Bearer {cookie}"},
        "unsigned token": {"Cookie": f"{COOKIE}={token}"},
        "signed with another secret": {
            "Cookie": f"{COOKIE}={signed(token, 'another-secret-' * 3)}"
        },
        "another token's signature": {
            "Cookie": f"{COOKIE}={token}.{signed(other).rsplit('.', 1)[1]}"
        },
        "signature cut short": {"Cookie": f"{COOKIE}={cookie[:-4]}"},
        "signature with a flipped character": {
            "Cookie": f"{COOKIE}={cookie[:-5]}{'A' if cookie[-5] != 'A' else 'B'}"
            f"{cookie[-4:]}"
        },
        "a jwt as the cookie": {"Cookie": f"{COOKIE}={data_token}"},
        "empty cookie": {"Cookie": f"{COOKIE}="},
        "secure name over http": {"Cookie": f"__Secure-{COOKIE}={cookie}"},
        "other prefix": {"Cookie": f"other-app.session_token={cookie}"},
    }


@pytest.mark.parametrize("case", list(forged_requests("t" * 32, "c" * 80)))
async def test_forged_credentials_get_no_token_and_no_query(
    web: httpx.AsyncClient,
    owner: psycopg.Connection[Any],
    session: tuple[str, str],
    case: str,
) -> None:
    headers = forged_requests(*session)[case]

    before = activity(owner, AUTH_APP)
    response = await web.get(TOKEN_PATH, headers=headers)
    after = activity(owner, AUTH_APP)

    assert response.status_code == 401
    assert "token" not in response.json()
    assert len(before) >= 1
    assert after == before, "a forged cookie reached the database"


async def test_a_signed_cookie_for_no_session_is_looked_up_and_refused(
    web: httpx.AsyncClient, owner: psycopg.Connection[Any]
) -> None:
    unknown = "".join(secrets.choice("ABCDEFGH12345678") for _ in range(32))
    headers = {"Cookie": f"{COOKIE}={signed(unknown)}"}

    before = activity(owner, AUTH_APP)
    response = await web.get(TOKEN_PATH, headers=headers)
    after = activity(owner, AUTH_APP)

    assert response.status_code == 401
    # A well-signed cookie does cost a lookup: the activity check can see one.
    assert after != before


async def test_the_live_cookie_does_get_a_token(
    web: httpx.AsyncClient, session: tuple[str, str]
) -> None:
    response = await web.get(TOKEN_PATH, headers={"Cookie": f"{COOKIE}={session[1]}"})

    assert response.status_code == 200
    assert response.json()["token"].count(".") == 2


async def test_bridge_tokens_work_end_to_end_with_the_audience_required(
    data_aud: httpx.AsyncClient, auth_pool: AsyncConnectionPool[Any]
) -> None:
    user = await signed_up(auth_pool)

    created = await data_aud.post(
        "/posts", json={"title": "through the bridge"}, headers=user.headers
    )
    listed = await data_aud.get("/posts?select=user_id,title", headers=user.headers)
    who = await data_aud.get("/rpc/whoami", headers=user.headers)

    assert created.status_code == 201, created.text
    assert listed.json() == [{"user_id": user.id, "title": "through the bridge"}]
    assert who.json()["user_id"] == user.id
    assert who.json()["role"] == "authenticated"


async def test_edited_or_expired_bridge_tokens_are_refused(
    data_aud: httpx.AsyncClient, auth_pool: AsyncConnectionPool[Any]
) -> None:
    user = await signed_up(auth_pool)
    claims = jwt.decode(user.token, JWT_SECRET, algorithms=["HS256"], audience=AUDIENCE)
    resigned = jwt.encode({**claims, "role": "project_admin"}, JWT_SECRET)
    header, _, signature = user.token.split(".")
    swapped = jwt.encode({**claims, "sub": "someone-else"}, "x" * 48).split(".")[1]
    expired = mint_token(user.id, JWT_SECRET, now=int(time.time()) - 7200)

    for token in (resigned, f"{header}.{swapped}.{signature}", expired):
        response = await data_aud.get(
            "/posts", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401, token
        assert response.json()["code"] == "PGRST301"


async def test_a_minted_token_outlives_sign_out_until_it_expires(
    data_aud: httpx.AsyncClient, auth_pool: AsyncConnectionPool[Any]
) -> None:
    # Documented in SECURITY.md: the data API does not look sessions up, so a
    # token stays good for its hour; signing out stops new tokens at once.
    async with client_for(auth_pool) as browser:
        created = await sign_up(browser, unique_email("signout"))
        token = (await browser.get(TOKEN_PATH)).json()["token"]
        await browser.post("/api/auth/sign-out", json={})
        after = await browser.get(TOKEN_PATH)
    user = User(created.json()["user"]["id"], token)

    still = await data_aud.get("/rpc/whoami", headers=user.headers)

    assert after.status_code == 401
    assert still.status_code == 200
    assert still.json()["user_id"] == user.id
