"""send-verification-email and GET /verify-email, and Better Auth's token format."""

from __future__ import annotations

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from rowgate.auth import email_verification, verification
from rowgate.auth.errors import APIError
from rowgate.auth.verification import EmailClaims
from tests.auth.outbox import Outbox, local_path, mail_client, query_of
from tests.auth.support import ORIGIN, SECRET, set_cookies, sign_up, unique_email

# Minted by Better Auth 1.7.29's createEmailVerificationToken with SECRET, at
# iat 1796399159: one that expires in 2126, and one that expired 10 s after
# it was issued.
VECTOR_USER_ID = "VectorUserId0000000000000000000A"
BETTER_AUTH_TOKEN = (
    "eyJhbGciOiJIUzI1NiJ9.eyJlbWFpbCI6InZlY3RvckBleGFtcGxlLmNvbSIsInVzZXJJZCI6IlZlY3"
    "RvclVzZXJJZDAwMDAwMDAwMDAwMDAwMDAwMDBBIiwiaWF0IjoxNzk2Mzk5MTU5LCJleHAiOjQ5NDk5"
    "OTkxNTl9.hFN7_eXsXvfpYyE724mwk9fNXvFZRm5s6McrdhqCec4"
)
BETTER_AUTH_EXPIRED = (
    "eyJhbGciOiJIUzI1NiJ9.eyJlbWFpbCI6InZlY3RvckBleGFtcGxlLmNvbSIsInVzZXJJZCI6IlZlY3"
    "RvclVzZXJJZDAwMDAwMDAwMDAwMDAwMDAwMDBBIiwiaWF0IjoxNzk2Mzk5MTU5LCJleHAiOjE3OTYz"
    "OTkxNDl9.J06FLOJCSkCNw6kSxv4WSwbrpp_pbuwmWEQX0h4djIo"
)


@pytest.fixture(autouse=True)
def no_delay_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(email_verification, "ANONYMOUS_MIN_SECONDS", 0)


async def _send(
    client: httpx.AsyncClient, email: str, **extra: object
) -> httpx.Response:
    body = {"email": email, **extra}
    return await client.post("/api/auth/send-verification-email", json=body)


async def _is_verified(pool: AsyncConnectionPool, email: str) -> bool:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            'SELECT "emailVerified" FROM better_auth.user WHERE email = %s', (email,)
        )
        row = await cursor.fetchone()
    assert row is not None
    return bool(row[0])


# -- tokens ---------------------------------------------------------------


def test_tokens_are_byte_for_byte_better_auths() -> None:
    claims = EmailClaims("Vector@Example.com", user_id=VECTOR_USER_ID)
    token = verification.create_email_token(
        SECRET, claims, 100 * 365 * 24 * 3600, now=1796399159
    )
    assert token == BETTER_AUTH_TOKEN


def test_better_auth_tokens_verify() -> None:
    claims = verification.read_email_token(BETTER_AUTH_TOKEN, SECRET)
    assert claims == EmailClaims("vector@example.com", user_id=VECTOR_USER_ID)


def test_links_mailed_before_a_secret_rotation_still_verify() -> None:
    current = "the-current-secret-of-enough-length-0123"
    claims = verification.read_email_token(BETTER_AUTH_TOKEN, current, SECRET)
    assert claims == EmailClaims("vector@example.com", user_id=VECTOR_USER_ID)
    # An expired link is expired under the secret that signed it, and merely
    # invalid under one that did not.
    with pytest.raises(APIError) as expired:
        verification.read_email_token(BETTER_AUTH_EXPIRED, current, SECRET)
    with pytest.raises(APIError) as foreign:
        verification.read_email_token(BETTER_AUTH_EXPIRED, current)
    assert expired.value.code == "TOKEN_EXPIRED"
    assert foreign.value.code == "INVALID_TOKEN"


@pytest.mark.parametrize(
    ("token", "secret", "code"),
    [
        (BETTER_AUTH_EXPIRED, SECRET, "TOKEN_EXPIRED"),
        (
            BETTER_AUTH_TOKEN,
            "another-secret-of-enough-length-0123456789",
            "INVALID_TOKEN",
        ),
        ("not.a.token", SECRET, "INVALID_TOKEN"),
    ],
)
def test_bad_tokens_are_refused(token: str, secret: str, code: str) -> None:
    with pytest.raises(APIError) as raised:
        verification.read_email_token(token, secret)
    assert (raised.value.code, raised.value.status) == (code, 401)


# -- send-verification-email ----------------------------------------------


async def test_anonymous_request_mails_an_unverified_user(
    mailer: httpx.AsyncClient, outbox: Outbox
) -> None:
    email = unique_email()
    user = (await sign_up(mailer, email)).json()["user"]
    mailer.cookies.clear()
    response = await _send(mailer, email, callbackURL="/welcome")
    assert (response.status_code, response.json()) == (200, {"status": True})

    message = outbox.only()
    assert message.url.startswith(f"{ORIGIN}/api/auth/verify-email?token=")
    assert query_of(message.url) == {"token": message.token, "callbackURL": "/welcome"}
    claims = verification.read_email_token(message.token, SECRET)
    assert claims == EmailClaims(email, user_id=user["id"])


async def test_anonymous_request_for_unknown_email_sends_nothing(
    mailer: httpx.AsyncClient, outbox: Outbox
) -> None:
    response = await _send(mailer, unique_email("nobody"))
    assert (response.status_code, response.json()) == (200, {"status": True})
    assert outbox.messages == []


async def test_signed_in_user_gets_their_own_link(
    mailer: httpx.AsyncClient, outbox: Outbox
) -> None:
    email = unique_email()
    await sign_up(mailer, email)
    response = await _send(mailer, email.upper())
    assert response.json() == {"status": True}
    assert outbox.only().to == email
    assert query_of(outbox.only().url)["callbackURL"] == "/"


async def test_signed_in_user_may_not_ask_for_another_address(
    mailer: httpx.AsyncClient,
) -> None:
    await sign_up(mailer, unique_email())
    response = await _send(mailer, unique_email("other"))
    assert (response.status_code, response.json()) == (
        400,
        {"message": "Email mismatch", "code": "EMAIL_MISMATCH"},
    )


async def test_verified_user_is_told_so(
    mailer: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    email = unique_email()
    await sign_up(mailer, email)
    async with pool.connection() as conn:
        await conn.execute(
            'UPDATE better_auth.user SET "emailVerified" = true WHERE email = %s',
            (email,),
        )
    response = await _send(mailer, email)
    assert (response.status_code, response.json()["code"]) == (
        400,
        "EMAIL_ALREADY_VERIFIED",
    )


async def test_sending_is_disabled_without_a_hook(client: httpx.AsyncClient) -> None:
    response = await _send(client, unique_email())
    assert (response.status_code, response.json()) == (
        400,
        {
            "message": "Verification email isn't enabled",
            "code": "VERIFICATION_EMAIL_NOT_ENABLED",
        },
    )


# -- verify-email ---------------------------------------------------------


async def test_following_the_link_verifies_and_redirects(
    mailer: httpx.AsyncClient, outbox: Outbox, pool: AsyncConnectionPool
) -> None:
    email = unique_email()
    await sign_up(mailer, email)
    await _send(mailer, email, callbackURL="/welcome")
    response = await mailer.get(local_path(outbox.only().url))
    assert response.status_code == 302
    assert response.headers["location"] == "/welcome"
    assert response.content == b""
    assert await _is_verified(pool, email)


async def test_without_callback_the_answer_is_json_and_repeatable(
    mailer: httpx.AsyncClient, outbox: Outbox, pool: AsyncConnectionPool
) -> None:
    email = unique_email()
    await sign_up(mailer, email)
    await _send(mailer, email)
    params = {"token": outbox.only().token}
    first = await mailer.get("/api/auth/verify-email", params=params)
    second = await mailer.get("/api/auth/verify-email", params=params)
    assert first.json() == second.json() == {"status": True, "user": None}
    assert await _is_verified(pool, email)


async def test_bad_token_is_401_or_an_error_redirect(mailer: httpx.AsyncClient) -> None:
    bare = await mailer.get("/api/auth/verify-email", params={"token": "junk"})
    redirected = await mailer.get(
        "/api/auth/verify-email", params={"token": "junk", "callbackURL": "/v?a=1"}
    )
    assert (bare.status_code, bare.json()) == (
        401,
        {"message": "Invalid token", "code": "INVALID_TOKEN"},
    )
    assert redirected.status_code == 302
    assert redirected.headers["location"] == "/v?a=1&error=INVALID_TOKEN"


async def test_expired_token_is_token_expired(mailer: httpx.AsyncClient) -> None:
    response = await mailer.get(
        "/api/auth/verify-email", params={"token": BETTER_AUTH_EXPIRED}
    )
    assert (response.status_code, response.json()) == (
        401,
        {"message": "Token expired", "code": "TOKEN_EXPIRED"},
    )


async def test_token_for_an_unknown_user_is_user_not_found(
    mailer: httpx.AsyncClient,
) -> None:
    token = verification.create_email_token(
        SECRET, EmailClaims(unique_email("ghost")), 3600
    )
    response = await mailer.get("/api/auth/verify-email", params={"token": token})
    assert (response.status_code, response.json()["code"]) == (401, "USER_NOT_FOUND")


async def test_token_bound_to_another_user_id_is_invalid(
    mailer: httpx.AsyncClient,
) -> None:
    email = unique_email()
    await sign_up(mailer, email)
    claims = EmailClaims(email, user_id="SomeoneElse000000000000000000000")
    token = verification.create_email_token(SECRET, claims, 3600)
    response = await mailer.get("/api/auth/verify-email", params={"token": token})
    assert (response.status_code, response.json()["code"]) == (401, "INVALID_TOKEN")


async def test_untrusted_callback_is_refused(mailer: httpx.AsyncClient) -> None:
    response = await mailer.get(
        "/api/auth/verify-email",
        params={"token": "junk", "callbackURL": "https://evil.example/"},
    )
    assert (response.status_code, response.json()["code"]) == (
        403,
        "INVALID_CALLBACK_URL",
    )


async def test_token_is_required(mailer: httpx.AsyncClient) -> None:
    response = await mailer.get("/api/auth/verify-email")
    assert (response.status_code, response.json()["message"]) == (
        400,
        "[query.token] Invalid input: expected string, received undefined",
    )


async def test_auto_sign_in_after_verification(
    pool: AsyncConnectionPool, outbox: Outbox
) -> None:
    email = unique_email()
    async with mail_client(pool, outbox, auto_sign_in_after_verification=True) as c:
        await sign_up(c, email)
        c.cookies.clear()
        await _send(c, email)
        response = await c.get(
            "/api/auth/verify-email", params={"token": outbox.only().token}
        )
        (cookie,) = set_cookies(response)
        session = await c.get("/api/auth/get-session")
    assert cookie.startswith("better-auth.session_token=")
    assert session.json()["user"]["email"] == email
    assert session.json()["user"]["emailVerified"] is True


async def test_anonymous_answers_wait_out_the_floor(
    mailer: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(email_verification, "ANONYMOUS_MIN_SECONDS", 60)
    monkeypatch.setattr(email_verification.anyio, "sleep", record)
    await _send(mailer, unique_email("nobody"))
    (wait,) = waits
    assert 0 < wait <= 60


# -- email changes finished through verify-email ----------------------------


async def _change_token(
    pool: AsyncConnectionPool, email: str, new_email: str, request_type: str | None
) -> tuple[str, str]:
    """(user id, token) for an email change of the user with ``email``."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT id FROM better_auth.user WHERE email = %s", (email,)
        )
        row = await cursor.fetchone()
    assert row is not None
    claims = EmailClaims(
        email, user_id=row[0], update_to=new_email, request_type=request_type
    )
    return row[0], verification.create_email_token(SECRET, claims, 3600)


async def test_confirmation_step_mails_the_new_address(
    mailer: httpx.AsyncClient, outbox: Outbox, pool: AsyncConnectionPool
) -> None:
    email, new_email = unique_email(), unique_email("new")
    await sign_up(mailer, email)
    user_id, token = await _change_token(
        pool, email, new_email, verification.CHANGE_EMAIL_CONFIRMATION
    )
    response = await mailer.get("/api/auth/verify-email", params={"token": token})
    assert response.json() == {"status": True}
    message = outbox.only()
    claims = verification.read_email_token(message.token, SECRET)
    assert message.to == new_email
    assert claims == EmailClaims(
        email, user_id, new_email, verification.CHANGE_EMAIL_VERIFICATION
    )

    finished = await mailer.get(local_path(message.url))
    assert finished.headers["location"] == "/"
    assert (await mailer.get("/api/auth/get-session")).json()["user"]["email"] == (
        new_email
    )


async def test_one_step_change_moves_the_email_and_asks_to_verify_it(
    mailer: httpx.AsyncClient, outbox: Outbox, pool: AsyncConnectionPool
) -> None:
    email, new_email = unique_email(), unique_email("new")
    await sign_up(mailer, email)
    user_id, token = await _change_token(pool, email, new_email, None)
    response = await mailer.get("/api/auth/verify-email", params={"token": token})
    body = response.json()
    assert (body["status"], body["user"]["id"], body["user"]["email"]) == (
        True,
        user_id,
        new_email,
    )
    assert body["user"]["emailVerified"] is False
    assert outbox.only().to == new_email


async def test_email_change_token_needs_the_matching_session(
    mailer: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    email = unique_email()
    await sign_up(mailer, email)
    _, token = await _change_token(pool, email, unique_email("new"), None)
    mailer.cookies.clear()
    await sign_up(mailer, unique_email("intruder"))
    response = await mailer.get(
        "/api/auth/verify-email", params={"token": token, "callbackURL": "/x"}
    )
    assert response.headers["location"] == "/x?error=INVALID_USER"
