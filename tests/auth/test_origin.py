"""Trusted origins and the CSRF gates, as pure functions and over HTTP."""

from __future__ import annotations

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from rowgate.auth.errors import APIError
from rowgate.auth.origin import (
    TrustedOrigins,
    check_cookie_request,
    check_login_request,
    is_safe_relative_path,
    matches_origin_pattern,
)
from tests.auth.support import ORIGIN, client_for, sign_up, unique_email

TRUSTED = TrustedOrigins.of(ORIGIN, ("https://*.example.com", "http://10.0.*.*"))


@pytest.mark.parametrize(
    ("url", "pattern", "expected"),
    [
        ("http://127.0.0.1:3000/page", "http://127.0.0.1:3000", True),
        ("http://127.0.0.1:3001", "http://127.0.0.1:3000", False),
        ("https://127.0.0.1:3000", "http://127.0.0.1:3000", False),
        ("https://a.example.com", "https://*.example.com", True),
        ("https://a.b.example.com", "https://*.example.com", True),
        ("http://a.example.com", "https://*.example.com", False),
        ("https://example.com.evil.net", "https://*.example.com", False),
        ("http://10.0.1.2", "http://10.0.*.*", True),
        ("http://10.0.evil.com", "http://10.0.*.*", False),
        ("https://HOST.test:443", "https://host.test", True),
        # A browser reads the backslash as a slash: the host is evil.com.
        ("http://evil.com\\@127.0.0.1:3000/x", "http://127.0.0.1:3000", False),
        ("http://127.0.0.1:3000\\path", "http://127.0.0.1:3000", True),
    ],
)
def test_origin_patterns(url: str, pattern: str, expected: bool) -> None:
    assert matches_origin_pattern(url, pattern) is expected


@pytest.mark.parametrize(
    ("path", "safe"),
    [
        ("/dashboard?x=1", True),
        ("//evil.com", False),
        ("/\\evil.com", False),
        ("/%2F%2Fevil.com", False),
        ("dashboard", False),
    ],
)
def test_relative_callback_paths(path: str, safe: bool) -> None:
    assert is_safe_relative_path(path) is safe


def _code(call: object) -> str | None:
    try:
        call()  # type: ignore[operator]
    except APIError as error:
        return error.code
    return None


def test_cookie_bearing_post_needs_trusted_origin() -> None:
    def check(headers: dict[str, str]) -> str | None:
        return _code(lambda: check_cookie_request("POST", headers, TRUSTED))

    assert check({"cookie": "a=b"}) == "MISSING_OR_NULL_ORIGIN"
    assert check({"cookie": "a=b", "origin": "null"}) == "MISSING_OR_NULL_ORIGIN"
    assert check({"cookie": "a=b", "origin": "http://evil.test"}) == "INVALID_ORIGIN"
    assert check({"cookie": "a=b", "origin": ORIGIN}) is None
    assert check({"cookie": "a=b", "referer": ORIGIN + "/sign-in"}) is None
    assert check({"origin": "http://evil.test"}) is None
    assert _code(lambda: check_cookie_request("GET", {"cookie": "a"}, TRUSTED)) is None


def test_login_gate_uses_fetch_metadata() -> None:
    def check(headers: dict[str, str]) -> str | None:
        return _code(lambda: check_login_request(headers, TRUSTED))

    navigate = {"sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate"}
    assert check(navigate) == "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED"
    assert check({"sec-fetch-mode": "cors"}) == "MISSING_OR_NULL_ORIGIN"
    assert check({"origin": "http://evil.test"}) == "INVALID_ORIGIN"
    assert check({"sec-fetch-site": "same-origin", "origin": ORIGIN}) is None
    assert check({}) is None


async def test_sign_out_with_cookie_from_untrusted_origin_is_refused(
    pool: AsyncConnectionPool,
) -> None:
    async with client_for(pool) as client:
        await sign_up(client, unique_email())
        response = await client.post(
            "/api/auth/sign-out", json={}, headers={"Origin": "http://evil.test"}
        )
        missing = await client.post(
            "/api/auth/sign-out", json={}, headers={"Origin": "null"}
        )
        still = await client.get("/api/auth/get-session")
    assert (response.status_code, response.json()) == (
        403,
        {"message": "Invalid origin", "code": "INVALID_ORIGIN"},
    )
    assert missing.json()["code"] == "MISSING_OR_NULL_ORIGIN"
    assert still.json() is not None


async def test_cross_site_form_login_is_blocked(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/sign-in/email",
        data={"email": unique_email(), "password": "whatever1"},
        headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"},
    )
    assert response.status_code == 403
    assert response.json()["code"] == "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED"


async def test_untrusted_callback_url_is_refused(client: httpx.AsyncClient) -> None:
    response = await sign_up(client, unique_email(), callbackURL="https://evil.test/")
    assert response.status_code == 403
    assert response.json() == {
        "message": "Invalid callbackURL",
        "code": "INVALID_CALLBACK_URL",
    }


async def test_server_side_sign_up_without_origin_passes(
    pool: AsyncConnectionPool,
) -> None:
    async with client_for(pool) as client:
        del client.headers["Origin"]
        response = await sign_up(client, unique_email())
    assert response.status_code == 200
