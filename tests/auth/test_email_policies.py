"""Sign-up and sign-in under the email options: required verification, no
automatic sign-in, verification mails on sign-up and sign-in."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from tests.auth.outbox import Outbox, local_path, mail_client
from tests.auth.support import set_cookies, sign_in, sign_up, unique_email

NOT_VERIFIED = {"message": "Email not verified", "code": "EMAIL_NOT_VERIFIED"}


async def _session_count(pool: AsyncConnectionPool, user_id: str) -> int:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            'SELECT count(*) FROM better_auth.session WHERE "userId" = %s', (user_id,)
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def test_required_verification_signs_up_without_a_session(
    pool: AsyncConnectionPool,
) -> None:
    outbox = Outbox()
    email = unique_email()
    async with mail_client(pool, outbox, require_email_verification=True) as client:
        response = await sign_up(client, email, callbackURL="/hello")
    body = response.json()
    assert (response.status_code, body["token"]) == (200, None)
    assert set_cookies(response) == []
    assert await _session_count(pool, body["user"]["id"]) == 0
    assert outbox.only().to == email
    assert "callbackURL=%2Fhello" in outbox.only().url


async def test_required_verification_refuses_sign_in_until_verified(
    pool: AsyncConnectionPool,
) -> None:
    outbox = Outbox()
    email = unique_email()
    async with mail_client(pool, outbox, require_email_verification=True) as client:
        await sign_up(client, email)
        refused = await sign_in(client, email)
        await client.get(local_path(outbox.only().url))
        accepted = await sign_in(client, email)
    assert (refused.status_code, refused.json()) == (403, NOT_VERIFIED)
    assert set_cookies(refused) == []
    assert accepted.status_code == 200
    assert accepted.json()["user"]["emailVerified"] is True


async def test_wrong_password_is_still_401_when_unverified(
    pool: AsyncConnectionPool,
) -> None:
    email = unique_email()
    async with mail_client(pool, Outbox(), require_email_verification=True) as client:
        await sign_up(client, email)
        response = await sign_in(client, email, "not the password")
    assert response.status_code == 401


async def test_send_on_sign_in_mails_a_fresh_link(pool: AsyncConnectionPool) -> None:
    outbox = Outbox()
    email = unique_email()
    async with mail_client(
        pool,
        outbox,
        require_email_verification=True,
        send_on_sign_up=False,
        send_on_sign_in=True,
    ) as client:
        await sign_up(client, email)
        assert outbox.messages == []
        response = await sign_in(client, email)
    assert response.status_code == 403
    assert outbox.only().to == email


async def test_required_verification_hides_taken_emails(
    pool: AsyncConnectionPool,
) -> None:
    email = unique_email()
    async with mail_client(pool, Outbox(), require_email_verification=True) as client:
        first = await sign_up(client, email)
        second = await sign_up(client, email)
    assert second.status_code == 200
    assert second.json()["token"] is None
    assert second.json()["user"]["email"] == email
    assert second.json()["user"]["id"] != first.json()["user"]["id"]


async def test_auto_sign_in_off_gives_no_session(pool: AsyncConnectionPool) -> None:
    outbox = Outbox()
    async with mail_client(pool, outbox, auto_sign_in=False) as client:
        response = await sign_up(client, unique_email())
        signed_in = await sign_in(client, response.json()["user"]["email"])
    assert response.json()["token"] is None
    assert set_cookies(response) == []
    assert outbox.messages == []  # send_on_sign_up follows require_email_verification
    assert signed_in.status_code == 200


async def test_send_on_sign_up_alone_mails_and_signs_in(
    pool: AsyncConnectionPool,
) -> None:
    outbox = Outbox()
    async with mail_client(pool, outbox, send_on_sign_up=True) as client:
        response = await sign_up(client, unique_email())
    assert response.json()["token"] is not None
    assert outbox.only().kind == "verify-email"


async def test_a_failing_hook_does_not_fail_sign_up(pool: AsyncConnectionPool) -> None:
    outbox = Outbox(fail=True)
    async with mail_client(pool, outbox, send_on_sign_up=True) as client:
        response = await sign_up(client, unique_email())
    assert response.status_code == 200
