"""The cookie cache: Better Auth's ``session_data`` encodings byte for byte, and
get-session answering from the copy."""

from __future__ import annotations

import json

import httpx
from psycopg_pool import AsyncConnectionPool

from rowgate.auth import cookie_cache
from rowgate.auth.cookie_cache import b64url_decode, decode_compact, decode_jwt
from rowgate.auth.options import AuthOptions, CookieCacheOptions, CookieCacheStrategy
from tests.auth.support import (
    SECRET,
    client_for,
    make_options,
    set_cookies,
    sign_in,
    sign_up,
    unique_email,
)

# session_data values written by better-auth 1.7.29 with SECRET, on sign-up
# (compact) and sign-in (jwt) of the user 'Zoë "Q" Test'.
COMPACT = (
    "eyJzZXNzaW9uIjp7InNlc3Npb24iOnsiZXhwaXJlc0F0IjoiMjAyNi0xMi0xMVQxNTo0NTo0OC44MjVa"
    "IiwidG9rZW4iOiJ5ckJqN2FwNXpSZTdwOUVYdW5KcXJhQWlYdVJlN1lvSSIsImNyZWF0ZWRBdCI6IjIw"
    "MjYtMTItMDRUMTU6NDU6NDguODI1WiIsInVwZGF0ZWRBdCI6IjIwMjYtMTItMDRUMTU6NDU6NDguODI1"
    "WiIsImlwQWRkcmVzcyI6IiIsInVzZXJBZ2VudCI6ImN1cmwvNy44OC4xIiwidXNlcklkIjoiOVcwcEpi"
    "NjZseFNFZjJOUnhSaUdPaEt0cDQySHlDS0QiLCJpZCI6IlF2TTkxVzlwM0RTQVdlVkYxSEwzUXNzRFJH"
    "Zm9rVmhQIn0sInVzZXIiOnsibmFtZSI6Ilpvw6sgXCJRXCIgVGVzdCIsImVtYWlsIjoidmVjQGV4YW1w"
    "bGUuY29tIiwiZW1haWxWZXJpZmllZCI6ZmFsc2UsImltYWdlIjpudWxsLCJjcmVhdGVkQXQiOiIyMDI2"
    "LTEyLTA0VDE1OjQ1OjQ4LjgxMVoiLCJ1cGRhdGVkQXQiOiIyMDI2LTEyLTA0VDE1OjQ1OjQ4LjgxMVoi"
    "LCJpZCI6IjlXMHBKYjY2bHhTRWYyTlJ4UmlHT2hLdHA0Mkh5Q0tEIn0sInVwZGF0ZWRBdCI6MTc5NjM5"
    "OTE0ODgyOCwidmVyc2lvbiI6IjEifSwiZXhwaXJlc0F0IjoxNzk2Mzk5NDQ4ODI4LCJzaWduYXR1cmUi"
    "OiJTSlB5SEphV3J6RnVnQWpMUjBfdGxjUEdCYTlwUmFBUUZzMGNWbUx1a1ZjIn0"
)
COMPACT_EXPIRES_AT = 1796399448828
JWT = (
    "eyJhbGciOiJIUzI1NiJ9.eyJzZXNzaW9uIjp7ImV4cGlyZXNBdCI6IjIwMjYtMTItMTFUMTU6NDU6NTQu"
    "NDkyWiIsInRva2VuIjoiM1dqQjZaS2pReVlacVF3aHVEcklSNG5nMjlmc05oeUkiLCJjcmVhdGVkQXQi"
    "OiIyMDI2LTEyLTA0VDE1OjQ1OjU0LjQ5MloiLCJ1cGRhdGVkQXQiOiIyMDI2LTEyLTA0VDE1OjQ1OjU0"
    "LjQ5MloiLCJpcEFkZHJlc3MiOiIiLCJ1c2VyQWdlbnQiOiJjdXJsLzcuODguMSIsInVzZXJJZCI6IjlX"
    "MHBKYjY2bHhTRWYyTlJ4UmlHT2hLdHA0Mkh5Q0tEIiwiaWQiOiJGdjloeUlwT1U1RzNlanlta09wZXdF"
    "OVNVODJDMFpGVCJ9LCJ1c2VyIjp7Im5hbWUiOiJab8OrIFwiUVwiIFRlc3QiLCJlbWFpbCI6InZlY0Bl"
    "eGFtcGxlLmNvbSIsImVtYWlsVmVyaWZpZWQiOmZhbHNlLCJpbWFnZSI6bnVsbCwiY3JlYXRlZEF0Ijoi"
    "MjAyNi0xMi0wNFQxNTo0NTo0OC44MTFaIiwidXBkYXRlZEF0IjoiMjAyNi0xMi0wNFQxNTo0NTo0OC44"
    "MTFaIiwiaWQiOiI5VzBwSmI2Nmx4U0VmMk5SeFJpR09oS3RwNDJIeUNLRCJ9LCJ1cGRhdGVkQXQiOjE3"
    "OTYzOTkxNTQ1MDAsInZlcnNpb24iOiIxIiwiaWF0IjoxNzk2Mzk5MTU0LCJleHAiOjE3OTYzOTk0NTR9"
    ".4d66asgi-KbsrOQe5r3cVXI0-Giafc7Ug-FNRgL4Ytc"
)
JWT_IAT = 1796399154
OTHER_SECRET = "some-other-secret-that-signed-nothing-here-0123"
DATA = "better-auth.session_data"


def _jwt_claims() -> dict[str, object]:
    claims: dict[str, object] = json.loads(b64url_decode(JWT.split(".")[1]))
    return claims


# -- the encodings -----------------------------------------------------------


def test_compact_value_from_better_auth_decodes() -> None:
    copy = decode_compact(COMPACT, [SECRET], now_ms=COMPACT_EXPIRES_AT - 1000)
    assert copy is not None
    assert copy.user["name"] == 'Zoë "Q" Test'
    assert copy.session["token"] == "yrBj7ap5zRe7p9EXunJqraAiXuRe7YoI"
    typed = copy.to_session_with_user()
    assert typed.user.id == typed.session.user_id == "9W0pJb66lxSEf2NRxRiGOhKtp42HyCKD"


def test_compact_encoding_matches_better_auth_byte_for_byte() -> None:
    data = json.loads(b64url_decode(COMPACT))["session"]
    assert cookie_cache.encode_compact(data, SECRET, COMPACT_EXPIRES_AT) == COMPACT


def test_compact_refused_when_expired_forged_or_signed_with_another_secret() -> None:
    assert decode_compact(COMPACT, [SECRET], now_ms=COMPACT_EXPIRES_AT + 1) is None
    assert decode_compact(COMPACT, [OTHER_SECRET], now_ms=0) is None
    outer = json.loads(b64url_decode(COMPACT))
    outer["session"]["user"]["email"] = "attacker@example.com"
    forged = cookie_cache.b64url(json.dumps(outer).encode())
    assert decode_compact(forged, [SECRET], now_ms=0) is None
    assert decode_compact("not base64 !", [SECRET], now_ms=0) is None


def test_compact_verifies_against_a_previous_secret() -> None:
    now = COMPACT_EXPIRES_AT - 1000
    assert decode_compact(COMPACT, [OTHER_SECRET, SECRET], now_ms=now) is not None


def test_jwt_value_from_better_auth_decodes_and_re_encodes_identically() -> None:
    copy = decode_jwt(JWT, [OTHER_SECRET, SECRET], now_ms=JWT_IAT * 1000)
    assert copy is not None
    assert copy.user["email"] == "vec@example.com"
    claims = _jwt_claims()
    data = {k: v for k, v in claims.items() if k not in ("iat", "exp")}
    assert cookie_cache.encode_jwt(data, SECRET, 300, now_s=JWT_IAT) == JWT


def test_jwt_refused_when_expired_unsigned_or_wrong_key() -> None:
    assert decode_jwt(JWT, [SECRET], now_ms=(JWT_IAT + 301) * 1000) is None
    assert decode_jwt(JWT, [OTHER_SECRET], now_ms=JWT_IAT * 1000) is None
    header = cookie_cache.b64url(b'{"alg":"none"}')
    unsigned = f"{header}.{JWT.split('.')[1]}."
    assert decode_jwt(unsigned, [SECRET], now_ms=JWT_IAT * 1000) is None


def test_js_json_escapes_as_json_stringify() -> None:
    value = {"a": 'q"\\\n\u2028é', "b": None, "c": [True, 1], "d": "\ud800"}
    assert cookie_cache.js_json(value) == (
        '{"a":"q\\"\\\\\\n\u2028é","b":null,"c":[true,1],"d":"\\ud800"}'
    )


# -- over HTTP ---------------------------------------------------------------


def cached_options(strategy: CookieCacheStrategy = "compact") -> AuthOptions:
    return make_options(
        cookie_cache=CookieCacheOptions(enabled=True, strategy=strategy)
    )


def data_cookie(response: httpx.Response) -> str | None:
    for header in set_cookies(response):
        if header.startswith(DATA + "="):
            return header
    return None


async def test_sign_up_sets_the_copy_and_get_session_serves_it_without_the_row(
    pool: AsyncConnectionPool,
) -> None:
    async with client_for(pool, cached_options()) as http:
        signed_up = await sign_up(http, unique_email("cache"))
        header = data_cookie(signed_up)
        token = signed_up.json()["token"]
        await _delete_session(pool, token)
        cached = await http.get("/api/auth/get-session")
        fresh = await http.get("/api/auth/get-session?disableCookieCache=true")

    assert header is not None and "Max-Age=300; Path=/; HttpOnly" in header
    assert cached.json()["session"]["token"] == token
    assert cached.json()["user"] == signed_up.json()["user"]
    assert "set-cookie" not in cached.headers
    assert fresh.json() is None


async def test_copy_alone_without_a_signed_token_is_no_session(
    pool: AsyncConnectionPool,
) -> None:
    async with client_for(pool, cached_options()) as http:
        await sign_up(http, unique_email("cache-alone"))
        del http.cookies["better-auth.session_token"]
        response = await http.get("/api/auth/get-session")
    assert response.json() is None


async def test_get_session_from_the_database_refreshes_the_copy(
    pool: AsyncConnectionPool,
) -> None:
    async with client_for(pool, cached_options("jwt")) as http:
        email = unique_email("cache-jwt")
        await sign_up(http, email)
        del http.cookies[DATA]
        response = await http.get("/api/auth/get-session")
    header = data_cookie(response)
    assert header is not None
    value = header.split(";", 1)[0].split("=", 1)[1]
    copy = decode_jwt(value, [SECRET], now_ms=0)
    assert copy is not None and copy.user["email"] == email


async def test_without_remember_me_the_copy_is_a_browser_session_cookie(
    pool: AsyncConnectionPool,
) -> None:
    async with client_for(pool, cached_options()) as http:
        email = unique_email("cache-forget")
        await sign_up(http, email)
        signed_in = await sign_in(http, email, rememberMe=False)
    header = data_cookie(signed_in)
    assert header is not None and "Max-Age" not in header


async def test_sign_out_expires_the_copy(pool: AsyncConnectionPool) -> None:
    async with client_for(pool, cached_options()) as http:
        await sign_up(http, unique_email("cache-out"))
        signed_out = await http.post("/api/auth/sign-out", json={})
        after = await http.get("/api/auth/get-session")
    assert data_cookie(signed_out) == (
        "better-auth.session_data=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
    )
    assert after.json() is None


async def test_a_big_copy_is_chunked_and_read_back(pool: AsyncConnectionPool) -> None:
    image = "https://img.example/" + "x" * 5000
    async with client_for(pool, cached_options()) as http:
        signed_up = await sign_up(http, unique_email("big"), image=image)
        async with pool.connection() as conn:
            await conn.execute(
                "DELETE FROM better_auth.session WHERE token = %s",
                (signed_up.json()["token"],),
            )
        from_copy = await http.get("/api/auth/get-session")
        signed_out = await http.post("/api/auth/sign-out")

    lines = set_cookies(signed_up)
    chunks = [line for line in lines if line.startswith(DATA + ".")]
    assert [line.split("=", 1)[0] for line in chunks] == [DATA + ".0", DATA + ".1"]
    assert data_cookie(signed_up) is None
    assert all(len(line) <= cookie_cache.MAX_COOKIE_SIZE for line in lines)
    # Only the joined chunks can answer: the session row is gone.
    assert from_copy.json()["user"]["image"] == image
    expired = [line for line in set_cookies(signed_out) if "Max-Age=0" in line]
    assert {line.split("=", 1)[0] for line in expired} >= {DATA + ".0", DATA + ".1"}


async def test_a_copy_too_big_for_a_hundred_chunks_is_left_out(
    pool: AsyncConnectionPool,
) -> None:
    image = "https://img.example/" + "x" * 420_000
    async with client_for(pool, cached_options()) as http:
        signed_up = await sign_up(http, unique_email("huge"), image=image)

    assert signed_up.status_code == 200
    # No copy is set; an older one the browser might hold is expired.
    copies = [line for line in set_cookies(signed_up) if line.startswith(DATA)]
    assert copies == [DATA + "=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"]


async def test_stale_chunks_are_expired_when_the_copy_shrinks(
    pool: AsyncConnectionPool,
) -> None:
    async with client_for(pool, cached_options()) as http:
        await sign_up(http, unique_email("shrink"))
        http.cookies.set(DATA + ".0", "stale")
        http.cookies.set(DATA + ".1", "stale")
        refreshed = await http.get("/api/auth/get-session?disableCookieCache=true")

    lines = set_cookies(refreshed)
    expired = {line.split("=", 1)[0] for line in lines if "Max-Age=0" in line}
    assert expired == {DATA + ".0", DATA + ".1"}
    assert data_cookie(refreshed) is not None


def test_a_copy_nested_too_deep_is_refused_not_raised() -> None:
    forged = cookie_cache.b64url(b"[" * 5000)

    assert decode_compact(forged, [SECRET], now_ms=0) is None


async def test_cache_off_sets_no_copy(pool: AsyncConnectionPool) -> None:
    async with client_for(pool) as http:
        signed_up = await sign_up(http, unique_email("no-cache"))
    assert data_cookie(signed_up) is None


async def _delete_session(pool: AsyncConnectionPool, token: str) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            'DELETE FROM better_auth."session" WHERE token = %s', (token,)
        )
