"""Secret rotation: new signatures use the current secret, and cookies signed
with a previous secret still verify until that secret is dropped."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from psycopg_pool import AsyncConnectionPool

from rowgate.auth import cookies
from rowgate.auth.errors import AuthConfigError
from rowgate.auth.options import parse_versioned_secrets
from tests.auth.support import client_for, make_options, sign_in, sign_up, unique_email

OLD = "the-secret-before-rotation-0123456789abcdef"
NEW = "the-secret-after-rotation-0123456789abcdef!"
COOKIE = "better-auth.session_token"


def test_unsign_accepts_any_listed_secret_and_sign_uses_one() -> None:
    raw = unquote(cookies.sign("tok", OLD))
    assert cookies.unsign(raw, (NEW, OLD)) == "tok"
    assert cookies.unsign(raw, OLD) == "tok"
    assert cookies.unsign(raw, (NEW,)) is None


def test_previous_secrets_must_differ_from_the_current_one() -> None:
    with pytest.raises(AuthConfigError):
        make_options(secret=NEW, previous_secrets=(NEW,))
    with pytest.raises(AuthConfigError):
        make_options(secret=NEW, previous_secrets=("",))
    # A list where a tuple is declared, as a caller might pass one.
    listed = make_options(secret=NEW, previous_secrets=[OLD])
    assert listed.secrets == (NEW, OLD)


async def test_old_cookie_still_works_after_rotation(pool: AsyncConnectionPool) -> None:
    email = unique_email("rotate")
    async with client_for(pool, make_options(secret=OLD)) as before:
        await sign_up(before, email)
        old_cookie = before.cookies[COOKIE]

    rotated = make_options(secret=NEW, previous_secrets=(OLD,))
    async with client_for(pool, rotated) as after:
        after.cookies[COOKIE] = old_cookie
        found = (await after.get("/api/auth/get-session")).json()
        signed_in = await sign_in(after, email)
    new_cookie = signed_in.cookies[COOKIE]

    assert found["user"]["email"] == email
    token = signed_in.json()["token"]
    assert cookies.unsign(unquote(new_cookie), NEW) == token
    assert cookies.unsign(unquote(new_cookie), OLD) is None


async def test_dropped_secret_no_longer_verifies(pool: AsyncConnectionPool) -> None:
    async with client_for(pool, make_options(secret=OLD)) as before:
        await sign_up(before, unique_email("dropped"))
        old_cookie = before.cookies[COOKIE]
    async with client_for(pool, make_options(secret=NEW)) as after:
        after.cookies[COOKIE] = old_cookie
        response = await after.get("/api/auth/get-session")
    assert response.status_code == 200
    assert response.json() is None


def test_versioned_secrets_parse_as_better_auth_writes_them() -> None:
    parsed = parse_versioned_secrets(f" 2:{NEW} , 1:{OLD}")
    assert parsed == (NEW, OLD)
    options = make_options(secret=parsed[0], previous_secrets=parsed[1:])
    assert options.secrets == (NEW, OLD)


@pytest.mark.parametrize("text", ["nocolon", "x:secret", "1:a,1:b", "1:", "-1:a"])
def test_malformed_versioned_secrets_are_refused(text: str) -> None:
    with pytest.raises(AuthConfigError):
        parse_versioned_secrets(text)
