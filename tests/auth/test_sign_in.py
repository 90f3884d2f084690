"""POST /sign-in/email: success shapes, failures, timing flattening."""

from __future__ import annotations

import httpx
import pytest

from rowgate.auth import passwords
from tests.auth.support import PASSWORD, set_cookies, sign_in, sign_up, unique_email

INVALID = {"message": "Invalid email or password", "code": "INVALID_EMAIL_OR_PASSWORD"}


async def test_sign_in_answers_redirect_false(client: httpx.AsyncClient) -> None:
    email = unique_email()
    user = (await sign_up(client, email)).json()["user"]
    response = await sign_in(client, email.upper())
    body = response.json()
    assert response.status_code == 200
    assert list(body) == ["redirect", "token", "user"]
    assert body["redirect"] is False
    assert body["user"] == user
    assert set_cookies(response)[0].startswith(
        f"better-auth.session_token={body['token']}."
    )


async def test_callback_url_answers_redirect_true(client: httpx.AsyncClient) -> None:
    email = unique_email()
    await sign_up(client, email)
    response = await sign_in(client, email, callbackURL="/dashboard")
    assert response.status_code == 200
    assert list(response.json()) == ["redirect", "token", "url", "user"]
    assert response.json()["url"] == "/dashboard"
    assert response.headers["location"] == "/dashboard"


async def test_wrong_password_is_401(client: httpx.AsyncClient) -> None:
    email = unique_email()
    await sign_up(client, email)
    response = await sign_in(client, email, "wrong password!")
    assert (response.status_code, response.json()) == (401, INVALID)
    assert set_cookies(response) == []


async def test_unknown_email_is_401_and_still_hashes(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = passwords.hash_password

    async def counting(password: str) -> str:
        calls.append(password)
        return await real(password)

    monkeypatch.setattr(passwords, "hash_password", counting)
    response = await sign_in(client, unique_email("nobody"))
    assert (response.status_code, response.json()) == (401, INVALID)
    assert len(calls) == 1


async def test_overlong_password_is_refused_before_hashing(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*_: object) -> None:
        raise AssertionError("hashed an over-long password")

    monkeypatch.setattr(passwords, "derive_key", forbidden)
    response = await sign_in(client, unique_email(), "x" * 129)
    assert response.status_code == 400
    assert response.json()["code"] == "PASSWORD_TOO_LONG"


async def test_malformed_email_is_invalid_email(client: httpx.AsyncClient) -> None:
    response = await sign_in(client, "not-an-email")
    assert (response.status_code, response.json()) == (
        400,
        {"message": "Invalid email", "code": "INVALID_EMAIL"},
    )


async def test_missing_fields_are_validation_errors(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/sign-in/email", json={})
    assert response.status_code == 400
    assert response.json() == {
        "message": "[body.email] Invalid input: expected string, received undefined; "
        "[body.password] Invalid input: expected string, received undefined",
        "code": "VALIDATION_ERROR",
    }


async def test_form_encoded_sign_in(client: httpx.AsyncClient) -> None:
    email = unique_email()
    await sign_up(client, email)
    response = await client.post(
        "/api/auth/sign-in/email", data={"email": email, "password": PASSWORD}
    )
    assert response.status_code == 200


async def test_remember_me_false_session(client: httpx.AsyncClient) -> None:
    email = unique_email()
    await sign_up(client, email)
    response = await sign_in(client, email, rememberMe=False)
    cookies = set_cookies(response)
    assert "Max-Age" not in cookies[0]
    assert cookies[1].startswith("better-auth.dont_remember=true.")
