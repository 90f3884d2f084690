"""POST /sign-up/email: shapes, errors, stored rows."""

from __future__ import annotations

import re

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from tests.auth.support import PASSWORD, recipe, set_cookies, sign_up, unique_email

USER_KEYS = ["name", "email", "emailVerified", "image", "createdAt", "updatedAt", "id"]
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


async def test_sign_up_answers_token_and_user(client: httpx.AsyncClient) -> None:
    email = unique_email()
    response = await sign_up(client, email.upper())
    body = response.json()
    assert response.status_code == 200
    assert list(body) == ["token", "user"]
    assert list(body["user"]) == USER_KEYS
    assert body["user"]["email"] == email
    assert body["user"]["emailVerified"] is False
    assert body["user"]["image"] is None
    assert ISO_MS.fullmatch(body["user"]["createdAt"])
    assert re.fullmatch(r"[A-Za-z0-9]{32}", body["token"])
    assert re.fullmatch(r"[A-Za-z0-9]{32}", body["user"]["id"])
    (cookie,) = set_cookies(response)
    assert cookie.startswith(f"better-auth.session_token={body['token']}.")
    assert cookie.endswith("; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax")


async def test_stored_hash_verifies_with_the_recipe(
    client: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    email = unique_email()
    user = (await sign_up(client, email)).json()["user"]
    async with pool.connection() as conn:
        cursor = await conn.execute(
            'SELECT "accountId", "providerId", password FROM better_auth.account'
            ' WHERE "userId" = %s',
            (user["id"],),
        )
        rows = await cursor.fetchall()
    ((account_id, provider, stored),) = rows
    assert (account_id, provider) == (user["id"], "credential")
    salt_hex, key_hex = stored.split(":")
    assert len(stored) == 161
    assert recipe(PASSWORD, salt_hex) == key_hex


async def test_duplicate_email_is_422(client: httpx.AsyncClient) -> None:
    email = unique_email()
    assert (await sign_up(client, email)).status_code == 200
    again = await sign_up(client, email.upper())
    assert again.status_code == 422
    assert again.json() == {
        "message": "User already exists. Use another email.",
        "code": "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
    }


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("abcdefg", "PASSWORD_TOO_SHORT"),
        ("x" * 129, "PASSWORD_TOO_LONG"),
        ("\U0001f600" * 65, "PASSWORD_TOO_LONG"),
    ],
)
async def test_password_length_limits(
    client: httpx.AsyncClient, password: str, code: str
) -> None:
    response = await sign_up(client, unique_email(), password)
    assert response.status_code == 400
    assert response.json()["code"] == code


async def test_four_emoji_are_long_enough(client: httpx.AsyncClient) -> None:
    assert (await sign_up(client, unique_email(), "\U0001f600" * 4)).status_code == 200


async def test_missing_name_is_a_validation_error(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/sign-up/email",
        json={"email": unique_email(), "password": PASSWORD},
    )
    assert response.status_code == 400
    assert response.json() == {
        "message": "[body.name] Invalid input: expected string, received undefined",
        "code": "VALIDATION_ERROR",
    }


@pytest.mark.parametrize(
    "email", ["not-an-email", "j\u00fcrgen@example.com", " a@example.com", "a@b.c"]
)
async def test_invalid_email_is_a_validation_error(
    client: httpx.AsyncClient, email: str
) -> None:
    response = await sign_up(client, email)
    assert response.status_code == 400
    assert response.json() == {
        "message": "[body.email] Invalid email address",
        "code": "VALIDATION_ERROR",
    }


async def test_every_issue_is_reported(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/sign-up/email", json={"name": 1, "email": "x", "password": ""}
    )
    assert response.json()["message"] == (
        "[body.name] Invalid input: expected string, received number; "
        "[body.email] Invalid email address; "
        "[body.password] Too small: expected string to have >=1 characters"
    )


async def test_form_encoded_sign_up_is_accepted(client: httpx.AsyncClient) -> None:
    email = unique_email()
    response = await client.post(
        "/api/auth/sign-up/email",
        data={"name": "Form", "email": email, "password": PASSWORD},
    )
    assert response.status_code == 200
    assert response.json()["user"]["email"] == email


async def test_remember_me_false_gives_browser_session(
    client: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    response = await sign_up(client, unique_email(), rememberMe=False)
    token_cookie, dont_remember = set_cookies(response)
    assert "Max-Age" not in token_cookie
    assert dont_remember.startswith("better-auth.dont_remember=true.")
    async with pool.connection() as conn:
        cursor = await conn.execute(
            'SELECT extract(epoch FROM "expiresAt" - "createdAt")'
            " FROM better_auth.session WHERE token = %s",
            (response.json()["token"],),
        )
        (lifetime,) = await cursor.fetchone()  # type: ignore[misc]
    assert int(lifetime) == 86400


async def test_extra_fields_are_dropped_and_email_verified_ignored(
    client: httpx.AsyncClient,
) -> None:
    response = await sign_up(
        client, unique_email(), emailVerified=True, role="admin", image="https://i/x"
    )
    user = response.json()["user"]
    assert user["emailVerified"] is False
    assert user["image"] == "https://i/x"
    assert "role" not in user
