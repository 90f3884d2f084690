"""request-password-reset, GET /reset-password/:token, POST /reset-password."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from rowgate.auth import passwords
from tests.auth.outbox import Outbox, local_path, mail_client
from tests.auth.support import ORIGIN, client_for, sign_in, sign_up, unique_email

NEW_PASSWORD = "a brand new passphrase"
SENT = {
    "status": True,
    "message": "If this email exists in our system, check your email for the reset"
    " link",
}
INVALID_TOKEN = {"message": "Invalid token", "code": "INVALID_TOKEN"}


async def _request(
    client: httpx.AsyncClient, email: str, **extra: object
) -> httpx.Response:
    body = {"email": email, **extra}
    return await client.post("/api/auth/request-password-reset", json=body)


async def _reset_token(client: httpx.AsyncClient, outbox: Outbox) -> tuple[str, str]:
    """(email, reset token) for a new user who asked for a reset."""
    email = unique_email()
    await sign_up(client, email)
    await _request(client, email, redirectTo="/reset")
    return email, outbox.messages[-1].token


async def _reset(
    client: httpx.AsyncClient, token: str, password: str = NEW_PASSWORD
) -> httpx.Response:
    body = {"newPassword": password, "token": token}
    return await client.post("/api/auth/reset-password", json=body)


async def test_request_mails_a_link_and_stores_the_token(
    mailer: httpx.AsyncClient, outbox: Outbox, pool: AsyncConnectionPool
) -> None:
    email = unique_email()
    user = (await sign_up(mailer, email)).json()["user"]
    response = await _request(mailer, email.upper(), redirectTo="/reset?x=1")
    assert (response.status_code, response.json()) == (200, SENT)

    message = outbox.only()
    assert (message.kind, message.to, message.user.id) == (
        "reset-password",
        email,
        user["id"],
    )
    assert re.fullmatch(r"[A-Za-z0-9]{24}", message.token)
    assert message.url == (
        f"{ORIGIN}/api/auth/reset-password/{message.token}?callbackURL=%2Freset%3Fx%3D1"
    )
    async with pool.connection() as conn:
        cursor = await conn.execute(
            'SELECT value, "expiresAt" - "createdAt" FROM better_auth.verification'
            " WHERE identifier = %s",
            (f"reset-password:{message.token}",),
        )
        ((value, lifetime),) = await cursor.fetchall()
    assert value == user["id"]
    assert lifetime.total_seconds() == 3600


async def test_unknown_email_gets_the_same_answer_and_no_mail(
    mailer: httpx.AsyncClient, outbox: Outbox
) -> None:
    response = await _request(mailer, unique_email("nobody"))
    assert (response.status_code, response.json()) == (200, SENT)
    assert outbox.messages == []


async def test_a_failing_mail_hook_does_not_change_the_answer(
    mailer: httpx.AsyncClient, outbox: Outbox
) -> None:
    email = unique_email()
    await sign_up(mailer, email)
    outbox.fail = True
    response = await _request(mailer, email)
    assert (response.status_code, response.json()) == (200, SENT)


async def test_reset_is_disabled_without_a_hook(client: httpx.AsyncClient) -> None:
    response = await _request(client, unique_email())
    assert (response.status_code, response.json()) == (
        400,
        {"message": "Reset password isn't enabled", "code": "RESET_PASSWORD_DISABLED"},
    )


async def test_untrusted_redirect_is_refused(mailer: httpx.AsyncClient) -> None:
    response = await _request(
        mailer, unique_email(), redirectTo="https://evil.example/x"
    )
    assert (response.status_code, response.json()["code"]) == (
        403,
        "INVALID_REDIRECT_URL",
    )


async def test_malformed_email_is_a_validation_error(mailer: httpx.AsyncClient) -> None:
    response = await _request(mailer, "not an email")
    assert (response.status_code, response.json()) == (
        400,
        {"message": "[body.email] Invalid email address", "code": "VALIDATION_ERROR"},
    )


async def test_form_bodies_are_415(mailer: httpx.AsyncClient) -> None:
    response = await mailer.post(
        "/api/auth/request-password-reset", data={"email": unique_email()}
    )
    assert response.status_code == 415


async def test_link_redirects_with_the_token(
    mailer: httpx.AsyncClient, outbox: Outbox
) -> None:
    _, token = await _reset_token(mailer, outbox)
    response = await mailer.get(local_path(outbox.messages[-1].url))
    assert response.status_code == 302
    assert response.headers["location"] == f"{ORIGIN}/reset?token={token}"
    assert response.content == b""


async def test_link_with_an_unknown_token_redirects_with_an_error(
    mailer: httpx.AsyncClient,
) -> None:
    response = await mailer.get(
        "/api/auth/reset-password/nonsense", params={"callbackURL": "/reset?a=b"}
    )
    assert response.status_code == 302
    assert response.headers["location"] == f"{ORIGIN}/reset?a=b&error=INVALID_TOKEN"


async def test_link_refuses_an_untrusted_callback(mailer: httpx.AsyncClient) -> None:
    response = await mailer.get(
        "/api/auth/reset-password/abc", params={"callbackURL": "https://evil.example"}
    )
    assert (response.status_code, response.json()["code"]) == (
        403,
        "INVALID_CALLBACK_URL",
    )


async def test_link_needs_a_callback(mailer: httpx.AsyncClient) -> None:
    response = await mailer.get("/api/auth/reset-password/abc")
    assert (response.status_code, response.json()) == (
        400,
        {
            "message": "[query.callbackURL] Invalid input: expected string, "
            "received undefined",
            "code": "VALIDATION_ERROR",
        },
    )


async def test_reset_sets_the_password_once_and_signs_out_everywhere(
    mailer: httpx.AsyncClient, outbox: Outbox, pool: AsyncConnectionPool
) -> None:
    email, token = await _reset_token(mailer, outbox)
    response = await _reset(mailer, token)
    assert (response.status_code, response.json()) == (200, {"status": True})

    assert (await sign_in(mailer, email)).status_code == 401
    assert (await sign_in(mailer, email, NEW_PASSWORD)).status_code == 200
    again = await _reset(mailer, token, "yet another passphrase")
    assert (again.status_code, again.json()) == (400, INVALID_TOKEN)
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT count(*) FROM better_auth.session s JOIN better_auth.user u"
            ' ON u.id = s."userId" WHERE u.email = %s',
            (email,),
        )
        (count,) = await cursor.fetchone() or (None,)
    assert count == 1  # only the sign-in after the reset


async def test_sessions_survive_when_revocation_is_off(
    pool: AsyncConnectionPool, outbox: Outbox
) -> None:
    async with mail_client(
        pool, outbox, revoke_sessions_on_password_reset=False
    ) as client:
        _, token = await _reset_token(client, outbox)
        assert (await _reset(client, token)).status_code == 200
        session = await client.get("/api/auth/get-session")
    assert session.json() is not None


async def test_a_refused_password_leaves_the_token_usable(
    mailer: httpx.AsyncClient, outbox: Outbox
) -> None:
    _, token = await _reset_token(mailer, outbox)
    short = await _reset(mailer, token, "short")
    assert (short.status_code, short.json()["code"]) == (400, "PASSWORD_TOO_SHORT")
    assert (await _reset(mailer, token)).status_code == 200


async def test_overlong_password_is_refused_before_hashing(
    mailer: httpx.AsyncClient, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, token = await _reset_token(mailer, outbox)

    def forbidden(*_: object) -> None:
        raise AssertionError("hashed an over-long password")

    monkeypatch.setattr(passwords, "derive_key", forbidden)
    response = await _reset(mailer, token, "😀" * 65)  # 130 UTF-16 code units
    assert (response.status_code, response.json()["code"]) == (400, "PASSWORD_TOO_LONG")


async def test_token_may_come_in_the_query(
    mailer: httpx.AsyncClient, outbox: Outbox
) -> None:
    _, token = await _reset_token(mailer, outbox)
    response = await mailer.post(
        "/api/auth/reset-password",
        params={"token": token},
        json={"newPassword": NEW_PASSWORD},
    )
    assert response.json() == {"status": True}


async def test_missing_or_expired_tokens_are_invalid(
    mailer: httpx.AsyncClient, outbox: Outbox, pool: AsyncConnectionPool
) -> None:
    _, token = await _reset_token(mailer, outbox)
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE better_auth.verification SET \"expiresAt\" = now() - interval '1 s'"
            " WHERE identifier = %s",
            (f"reset-password:{token}",),
        )
    missing = await mailer.post(
        "/api/auth/reset-password", json={"newPassword": NEW_PASSWORD}
    )
    expired = await _reset(mailer, token)
    assert (missing.status_code, missing.json()) == (400, INVALID_TOKEN)
    assert (expired.status_code, expired.json()) == (400, INVALID_TOKEN)


async def test_racing_resets_spend_the_token_once(
    pool: AsyncConnectionPool, outbox: Outbox
) -> None:
    async with mail_client(pool, outbox) as client:
        _, token = await _reset_token(client, outbox)
        responses = await asyncio.gather(*(_reset(client, token) for _ in range(4)))
    assert sorted(r.status_code for r in responses) == [200, 400, 400, 400]


async def test_reset_creates_a_credential_account_when_missing(
    mailer: httpx.AsyncClient, outbox: Outbox, pool: AsyncConnectionPool
) -> None:
    email, token = await _reset_token(mailer, outbox)
    async with pool.connection() as conn:
        await conn.execute(
            'DELETE FROM better_auth.account WHERE "userId" ='
            " (SELECT id FROM better_auth.user WHERE email = %s)",
            (email,),
        )
    assert (await _reset(mailer, token)).status_code == 200
    async with client_for(pool) as fresh:
        assert (await sign_in(fresh, email, NEW_PASSWORD)).status_code == 200
