"""update-user, change-password, change-email, delete-user, unlink-account."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from rowgate.auth import passwords
from tests.auth.outbox import Outbox, local_path, mail_client, query_of
from tests.auth.support import (
    PASSWORD,
    client_for,
    make_options,
    set_cookies,
    sign_in,
    sign_up,
    unique_email,
)

NEW_PASSWORD = "another correct horse"
UNAUTHORIZED = {"message": "Unauthorized", "code": "UNAUTHORIZED"}


async def _user_row(pool: AsyncConnectionPool, user_id: str) -> dict[str, Any] | None:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            'SELECT name, email, "emailVerified", image, "updatedAt"'
            " FROM better_auth.user WHERE id = %s",
            (user_id,),
        )
        row = await cursor.fetchone()
    if row is None:
        return None
    keys = ("name", "email", "emailVerified", "image", "updatedAt")
    return dict(zip(keys, row, strict=True))


async def _age_session(pool: AsyncConnectionPool, token: str) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE better_auth.session SET \"createdAt\" = now() - interval '2 days'"
            " WHERE token = %s",
            (token,),
        )


async def _post(client: httpx.AsyncClient, path: str, body: object) -> httpx.Response:
    return await client.post(f"/api/auth/{path}", json=body)


# -- update-user ------------------------------------------------------------


async def test_update_user_sets_name_and_image(
    client: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    signed_up = (await sign_up(client, unique_email())).json()
    before = await _user_row(pool, signed_up["user"]["id"])
    response = await _post(
        client, "update-user", {"name": "New Name", "image": "https://img.example/a"}
    )
    assert (response.status_code, response.json()) == (200, {"status": True})
    (cookie,) = set_cookies(response)
    assert cookie.startswith(f"better-auth.session_token={signed_up['token']}.")
    after = await _user_row(pool, signed_up["user"]["id"])
    assert before is not None and after is not None
    assert (after["name"], after["image"]) == ("New Name", "https://img.example/a")
    assert after["updatedAt"] > before["updatedAt"]


async def test_update_user_refuses_an_email(client: httpx.AsyncClient) -> None:
    await sign_up(client, unique_email())
    response = await _post(client, "update-user", {"email": unique_email()})
    assert (response.status_code, response.json()) == (
        400,
        {"message": "Email can not be updated", "code": "EMAIL_CAN_NOT_BE_UPDATED"},
    )


async def test_update_user_with_nothing_to_update(client: httpx.AsyncClient) -> None:
    await sign_up(client, unique_email())
    response = await _post(client, "update-user", {"emailVerified": True})
    assert (response.status_code, response.json()) == (
        400,
        {"message": "No fields to update"},
    )


async def test_update_user_checks_types(client: httpx.AsyncClient) -> None:
    await sign_up(client, unique_email())
    response = await _post(client, "update-user", {"name": 7})
    assert (response.status_code, response.json()["message"]) == (
        400,
        "[body.name] Invalid input: expected string, received number",
    )


@pytest.mark.parametrize("body", [{"name": "x"}, {"email": "x@example.com"}, {}])
async def test_update_user_needs_a_session(
    client: httpx.AsyncClient, body: dict[str, str]
) -> None:
    response = await _post(client, "update-user", body)
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


async def test_update_user_needs_an_object(client: httpx.AsyncClient) -> None:
    response = await _post(client, "update-user", ["name"])
    assert (response.status_code, response.json()) == (
        400,
        {
            "message": "[body] Invalid input: expected record, received array",
            "code": "VALIDATION_ERROR",
        },
    )


# -- change-password --------------------------------------------------------


async def test_change_password_keeps_sessions_by_default(
    client: httpx.AsyncClient,
) -> None:
    email = unique_email()
    user = (await sign_up(client, email)).json()["user"]
    response = await _post(
        client,
        "change-password",
        {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
    )
    assert (response.status_code, response.json()) == (
        200,
        {"token": None, "user": user},
    )
    assert set_cookies(response) == []
    assert (await client.get("/api/auth/get-session")).json() is not None
    assert (await sign_in(client, email, NEW_PASSWORD)).status_code == 200
    assert (await sign_in(client, email)).status_code == 401


async def test_change_password_can_revoke_other_sessions(
    client: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    email = unique_email()
    first = (await sign_up(client, email)).json()
    current = (await sign_in(client, email)).json()["token"]
    response = await _post(
        client,
        "change-password",
        {
            "currentPassword": PASSWORD,
            "newPassword": NEW_PASSWORD,
            "revokeOtherSessions": True,
        },
    )
    token = response.json()["token"]
    assert token not in (None, first["token"], current)
    (cookie,) = set_cookies(response)
    assert cookie.startswith(f"better-auth.session_token={token}.")
    async with pool.connection() as conn:
        cursor = await conn.execute(
            'SELECT token FROM better_auth.session WHERE "userId" = %s',
            (first["user"]["id"],),
        )
        assert [row[0] for row in await cursor.fetchall()] == [token]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            {"currentPassword": "wrong password", "newPassword": NEW_PASSWORD},
            "INVALID_PASSWORD",
        ),
        ({"currentPassword": PASSWORD, "newPassword": "short"}, "PASSWORD_TOO_SHORT"),
        ({"currentPassword": PASSWORD, "newPassword": "x" * 129}, "PASSWORD_TOO_LONG"),
        (
            {"currentPassword": "x" * 129, "newPassword": NEW_PASSWORD},
            "PASSWORD_TOO_LONG",
        ),
    ],
)
async def test_change_password_refusals(
    client: httpx.AsyncClient, body: dict[str, str], code: str
) -> None:
    email = unique_email()
    await sign_up(client, email)
    response = await _post(client, "change-password", body)
    assert (response.status_code, response.json()["code"]) == (400, code)
    assert (await sign_in(client, email)).status_code == 200


async def test_change_password_checks_lengths_before_hashing(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sign_up(client, unique_email())

    def forbidden(*_: object) -> None:
        raise AssertionError("hashed a password of a refused length")

    monkeypatch.setattr(passwords, "derive_key", forbidden)
    response = await _post(
        client,
        "change-password",
        {"currentPassword": PASSWORD, "newPassword": "1234567"},
    )
    assert response.json()["code"] == "PASSWORD_TOO_SHORT"


async def test_change_password_without_credential_account(
    client: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    user = (await sign_up(client, unique_email())).json()["user"]
    async with pool.connection() as conn:
        await conn.execute(
            'DELETE FROM better_auth.account WHERE "userId" = %s', (user["id"],)
        )
    response = await _post(
        client,
        "change-password",
        {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
    )
    assert (response.status_code, response.json()["code"]) == (
        400,
        "CREDENTIAL_ACCOUNT_NOT_FOUND",
    )


async def test_change_password_validates_and_needs_a_session(
    client: httpx.AsyncClient,
) -> None:
    anonymous = await _post(
        client,
        "change-password",
        {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
    )
    invalid = await _post(client, "change-password", {"newPassword": NEW_PASSWORD})
    assert (anonymous.status_code, anonymous.json()) == (401, UNAUTHORIZED)
    assert invalid.json()["message"] == (
        "[body.currentPassword] Invalid input: expected string, received undefined"
    )


# -- change-email -----------------------------------------------------------


async def test_change_email_is_off_by_default(client: httpx.AsyncClient) -> None:
    await sign_up(client, unique_email())
    response = await _post(client, "change-email", {"newEmail": unique_email()})
    assert (response.status_code, response.json()) == (
        400,
        {"message": "Change email is disabled", "code": "CHANGE_EMAIL_DISABLED"},
    )


async def test_change_email_to_the_same_address(pool: AsyncConnectionPool) -> None:
    email = unique_email()
    async with mail_client(pool, Outbox(), change_email_enabled=True) as client:
        await sign_up(client, email)
        response = await _post(client, "change-email", {"newEmail": email.upper()})
    assert (response.status_code, response.json()) == (
        400,
        {"message": "Email is the same"},
    )


async def test_change_email_needs_a_way_to_verify(pool: AsyncConnectionPool) -> None:
    async with client_for(pool, make_options(change_email_enabled=True)) as client:
        await sign_up(client, unique_email())
        response = await _post(client, "change-email", {"newEmail": unique_email()})
    assert (response.status_code, response.json()) == (
        400,
        {"message": "Verification email isn't enabled"},
    )


async def test_change_email_mails_the_new_address_and_the_link_finishes_it(
    pool: AsyncConnectionPool,
) -> None:
    outbox = Outbox()
    new_email = unique_email("new")
    async with mail_client(pool, outbox, change_email_enabled=True) as client:
        user = (await sign_up(client, unique_email())).json()["user"]
        response = await _post(
            client,
            "change-email",
            {"newEmail": new_email.upper(), "callbackURL": "/me"},
        )
        assert response.json() == {"status": True}
        assert (await _user_row(pool, user["id"]) or {})["email"] == user["email"]
        message = outbox.only()
        assert (message.to, message.user.email) == (new_email, new_email)
        followed = await client.get(local_path(message.url))
    assert (followed.status_code, followed.headers["location"]) == (302, "/me")
    row = await _user_row(pool, user["id"])
    assert row is not None
    assert (row["email"], row["emailVerified"]) == (new_email, False)


async def test_a_verified_user_confirms_from_the_old_address_first(
    pool: AsyncConnectionPool,
) -> None:
    outbox = Outbox()
    new_email = unique_email("new")
    async with mail_client(
        pool,
        outbox,
        change_email_enabled=True,
        send_change_email_confirmation=outbox,
    ) as client:
        user = (await sign_up(client, unique_email())).json()["user"]
        async with pool.connection() as conn:
            await conn.execute(
                'UPDATE better_auth.user SET "emailVerified" = true WHERE id = %s',
                (user["id"],),
            )
        response = await _post(
            client, "change-email", {"newEmail": new_email, "callbackURL": "/me"}
        )
        confirmation = outbox.only()
        approved = await client.get(local_path(confirmation.url))
        unchanged = await _user_row(pool, user["id"])
        verification = outbox.messages[-1]
        finished = await client.get(local_path(verification.url))

    assert response.json() == {"status": True}
    assert (confirmation.kind, confirmation.to) == (
        "change-email-confirmation",
        user["email"],
    )
    assert confirmation.new_email == new_email
    assert (approved.status_code, approved.headers["location"]) == (302, "/me")
    assert (unchanged or {})["email"] == user["email"]
    assert (verification.kind, verification.to) == ("verify-email", new_email)
    assert (finished.status_code, finished.headers["location"]) == (302, "/me")
    row = await _user_row(pool, user["id"])
    assert row is not None
    assert (row["email"], row["emailVerified"]) == (new_email, True)


async def test_change_email_to_a_taken_address_sends_nothing(
    pool: AsyncConnectionPool,
) -> None:
    outbox = Outbox()
    taken = unique_email("taken")
    async with mail_client(pool, outbox, change_email_enabled=True) as client:
        await sign_up(client, taken)
        client.cookies.clear()
        await sign_up(client, unique_email())
        response = await _post(client, "change-email", {"newEmail": taken})
    assert response.json() == {"status": True}
    assert outbox.messages == []


async def test_unverified_user_may_switch_at_once_when_allowed(
    pool: AsyncConnectionPool,
) -> None:
    outbox = Outbox()
    new_email = unique_email("new")
    async with mail_client(
        pool,
        outbox,
        change_email_enabled=True,
        update_email_without_verification=True,
    ) as client:
        user = (await sign_up(client, unique_email())).json()["user"]
        response = await _post(client, "change-email", {"newEmail": new_email})
        session = (await client.get("/api/auth/get-session")).json()
    assert response.json() == {"status": True}
    assert len(set_cookies(response)) == 1
    assert (await _user_row(pool, user["id"]) or {})["email"] == new_email
    assert session["user"]["email"] == new_email
    assert outbox.only().to == new_email


# -- delete-user ------------------------------------------------------------


async def _delete_client(pool: AsyncConnectionPool) -> httpx.AsyncClient:
    return client_for(pool, make_options(delete_user_enabled=True))


async def test_delete_user_is_404_unless_enabled(client: httpx.AsyncClient) -> None:
    await sign_up(client, unique_email())
    response = await _post(client, "delete-user", {"password": PASSWORD})
    assert (response.status_code, response.content) == (404, b"")


async def test_delete_user_with_password(pool: AsyncConnectionPool) -> None:
    async with await _delete_client(pool) as client:
        user = (await sign_up(client, unique_email())).json()["user"]
        response = await _post(client, "delete-user", {"password": PASSWORD})
    assert (response.status_code, response.json()) == (
        200,
        {"success": True, "message": "User deleted"},
    )
    assert len(set_cookies(response)) == 3
    assert await _user_row(pool, user["id"]) is None


async def test_delete_user_with_a_wrong_password(pool: AsyncConnectionPool) -> None:
    async with await _delete_client(pool) as client:
        user = (await sign_up(client, unique_email())).json()["user"]
        wrong = await _post(client, "delete-user", {"password": "not my password"})
        long = await _post(client, "delete-user", {"password": "x" * 129})
    assert (wrong.status_code, wrong.json()["code"]) == (400, "INVALID_PASSWORD")
    assert (long.status_code, long.json()["code"]) == (400, "PASSWORD_TOO_LONG")
    assert await _user_row(pool, user["id"]) is not None


async def test_delete_user_without_password_needs_a_fresh_session(
    pool: AsyncConnectionPool,
) -> None:
    async with await _delete_client(pool) as client:
        signed_up = (await sign_up(client, unique_email())).json()
        await _age_session(pool, signed_up["token"])
        stale = await _post(client, "delete-user", {})
        await sign_in(client, signed_up["user"]["email"])
        fresh = await _post(client, "delete-user", {})
    assert (stale.status_code, stale.json()["code"]) == (400, "SESSION_EXPIRED")
    assert fresh.json() == {"success": True, "message": "User deleted"}
    assert await _user_row(pool, signed_up["user"]["id"]) is None


async def test_delete_user_with_a_delete_account_token(
    pool: AsyncConnectionPool,
) -> None:
    async with await _delete_client(pool) as client:
        signed_up = (await sign_up(client, unique_email())).json()
        user_id = signed_up["user"]["id"]
        await _age_session(pool, signed_up["token"])
        async with pool.connection() as conn:
            await conn.execute(
                "INSERT INTO better_auth.verification"
                ' (id, identifier, value, "expiresAt", "createdAt", "updatedAt")'
                " VALUES (%s, %s, %s, now() + interval '1 day', now(), now())",
                ("deltokenrow" + user_id[:21], "delete-account-abc123", user_id),
            )
        wrong = await _post(client, "delete-user", {"token": "nope"})
        right = await _post(client, "delete-user", {"token": "abc123"})
    assert (wrong.status_code, wrong.json()["code"]) == (404, "INVALID_TOKEN")
    assert right.json() == {"success": True, "message": "User deleted"}


@asynccontextmanager
async def _mailed_delete_link(
    pool: AsyncConnectionPool, outbox: Outbox, body: dict[str, str]
) -> AsyncIterator[tuple[httpx.AsyncClient, str, httpx.Response]]:
    """A signed-in client whose delete-user asked for the emailed link."""
    options = make_options(
        delete_user_enabled=True, send_delete_account_verification=outbox
    )
    async with client_for(pool, options) as client:
        user = (await sign_up(client, unique_email())).json()["user"]
        asked = await _post(client, "delete-user", body)
        yield client, user["id"], asked


async def test_delete_user_with_a_mail_hook_waits_for_the_link(
    pool: AsyncConnectionPool, outbox: Outbox
) -> None:
    async with _mailed_delete_link(pool, outbox, {}) as (client, user_id, asked):
        link = outbox.only()
        still_there = await _user_row(pool, user_id)
        opened = await client.get(local_path(link.url))
        again = await client.get(local_path(link.url))

    assert asked.json() == {"success": True, "message": "Verification email sent"}
    assert (link.kind, link.to) == ("delete-account", link.user.email)
    assert link.url.startswith("http://127.0.0.1:3000/api/auth/delete-user/callback?")
    assert query_of(link.url) == {"token": link.token, "callbackURL": "/"}
    assert len(link.token) == 32 and link.token.isalnum() and link.token.islower()
    assert still_there is not None
    # callbackURL "/" is given: the link deletes, then goes there signed out.
    assert (opened.status_code, opened.headers["location"]) == (302, "/")
    assert len(set_cookies(opened)) == 3
    assert await _user_row(pool, user_id) is None
    # Signed out by the first visit: the link cannot be spent twice.
    assert (again.status_code, again.json()["code"]) == (
        404,
        "FAILED_TO_GET_USER_INFO",
    )


async def test_delete_link_without_callback_answers_json(
    pool: AsyncConnectionPool, outbox: Outbox
) -> None:
    async with _mailed_delete_link(pool, outbox, {}) as (client, user_id, _asked):
        token = outbox.only().token
        response = await client.get(f"/api/auth/delete-user/callback?token={token}")

    assert response.json() == {"success": True, "message": "User deleted"}
    assert await _user_row(pool, user_id) is None


async def test_delete_link_refusals(pool: AsyncConnectionPool, outbox: Outbox) -> None:
    body = {"callbackURL": "/bye"}
    async with _mailed_delete_link(pool, outbox, body) as (client, user_id, _asked):
        token = outbox.only().token
        wrong = await client.get("/api/auth/delete-user/callback?token=nope")
        foreign = await client.get(
            f"/api/auth/delete-user/callback?token={token}"
            "&callbackURL=https://evil.example/"
        )
        missing = await client.get("/api/auth/delete-user/callback")
        # Another user's session cannot spend the token.
        other = client_for(
            pool,
            make_options(
                delete_user_enabled=True, send_delete_account_verification=outbox
            ),
        )
        async with other:
            await sign_up(other, unique_email())
            stolen = await other.get(f"/api/auth/delete-user/callback?token={token}")
        anonymous = client_for(pool, make_options(delete_user_enabled=True))
        async with anonymous:
            signed_out = await anonymous.get(
                f"/api/auth/delete-user/callback?token={token}"
            )

    assert query_of(outbox.only().url)["callbackURL"] == "/bye"
    assert (wrong.status_code, wrong.json()["code"]) == (404, "INVALID_TOKEN")
    assert (foreign.status_code, foreign.json()["code"]) == (
        403,
        "INVALID_CALLBACK_URL",
    )
    assert missing.status_code == 400
    assert (stolen.status_code, stolen.json()["code"]) == (404, "INVALID_TOKEN")
    assert (signed_out.status_code, signed_out.json()["code"]) == (
        404,
        "FAILED_TO_GET_USER_INFO",
    )
    assert await _user_row(pool, user_id) is not None


async def test_delete_link_is_404_unless_enabled(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/auth/delete-user/callback?token=x")

    assert (response.status_code, response.json()) == (
        404,
        {"message": "Not found", "code": "NOT_FOUND"},
    )


async def test_delete_user_needs_a_session(pool: AsyncConnectionPool) -> None:
    async with await _delete_client(pool) as client:
        response = await _post(client, "delete-user", {})
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


# -- unlink-account ---------------------------------------------------------


async def _add_social_account(pool: AsyncConnectionPool, user_id: str) -> str:
    account_id = "SocialAccountRow" + user_id[:16]
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO better_auth.account"
            ' (id, "accountId", "providerId", "userId", "createdAt", "updatedAt")'
            " VALUES (%s, 'g-123', 'google', %s, now(), now())",
            (account_id, user_id),
        )
    return account_id


async def test_unlink_refuses_the_last_account(client: httpx.AsyncClient) -> None:
    await sign_up(client, unique_email())
    (account,) = (await client.get("/api/auth/list-accounts")).json()
    response = await _post(client, "unlink-account", {"accountId": account["id"]})
    assert (response.status_code, response.json()) == (
        400,
        {
            "message": "You can't unlink your last account",
            "code": "FAILED_TO_UNLINK_LAST_ACCOUNT",
        },
    )


async def test_unlink_removes_one_of_several(
    client: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    user = (await sign_up(client, unique_email())).json()["user"]
    social = await _add_social_account(pool, user["id"])
    unknown = await _post(client, "unlink-account", {"accountId": "nope"})
    response = await _post(client, "unlink-account", {"accountId": social})
    assert (unknown.status_code, unknown.json()["code"]) == (400, "ACCOUNT_NOT_FOUND")
    assert response.json() == {"status": True}
    accounts = (await client.get("/api/auth/list-accounts")).json()
    assert [a["providerId"] for a in accounts] == ["credential"]


async def test_unlink_needs_a_fresh_session(
    client: httpx.AsyncClient, pool: AsyncConnectionPool
) -> None:
    signed_up = (await sign_up(client, unique_email())).json()
    social = await _add_social_account(pool, signed_up["user"]["id"])
    await _age_session(pool, signed_up["token"])
    response = await _post(client, "unlink-account", {"accountId": social})
    assert (response.status_code, response.json()["code"]) == (403, "SESSION_NOT_FRESH")
