"""Signed cookies: Better Auth's wire format, byte for byte."""

from __future__ import annotations

from rowgate.auth import cookies
from tests.auth.support import SECRET, make_options

TOKEN = "dW4bChviQIOPcjq97cDvMDT922ldRrmA"
# Set-Cookie values produced by better-call 1.4.6 (better-auth 1.7.29) with SECRET.
BETTER_AUTH_SESSION_COOKIE = (
    "better-auth.session_token=dW4bChviQIOPcjq97cDvMDT922ldRrmA."
    "d9Kt%2BkSHJsOgX0q2Vul%2BTDswbXhbuGXR%2BmOUkHxMQNg%3D; Max-Age=604800; "
    "Path=/; HttpOnly; SameSite=Lax"
)
BETTER_AUTH_DONT_REMEMBER_SECURE = (
    "better-auth.dont_remember=true.eiZY3aORzKCNN8N92xzPELkXD7uIFC9nCBhQH7l3IKU%3D;"
    " Path=/; HttpOnly; Secure; SameSite=Lax"
)


def test_session_cookie_matches_better_auth_byte_for_byte() -> None:
    assert cookies.session_cookie(TOKEN, make_options()) == [BETTER_AUTH_SESSION_COOKIE]


def test_dont_remember_cookie_matches_with_secure_cookies() -> None:
    options = make_options(use_secure_cookies=True)
    headers = cookies.session_cookie(TOKEN, options, remember=False)
    assert headers[1] == "__Secure-" + BETTER_AUTH_DONT_REMEMBER_SECURE
    assert headers[0].startswith("__Secure-better-auth.session_token=")
    assert "Max-Age" not in headers[0]


def test_https_base_url_prefixes_and_secures() -> None:
    names = cookies.cookie_names(make_options(base_url="https://app.example.com"))
    assert names.session_token == "__Secure-better-auth.session_token"
    plain = cookies.cookie_names(make_options())
    assert plain.session_token == "better-auth.session_token"


def test_better_auth_cookie_value_unsigns() -> None:
    raw = BETTER_AUTH_SESSION_COOKIE.split(";")[0].split("=", 1)[1]
    jar = cookies.parse_cookie_header(f"better-auth.session_token={raw}")
    assert cookies.read_signed(jar, "better-auth.session_token", SECRET) == TOKEN


def test_tampered_or_unsigned_values_are_refused() -> None:
    signed = f"{TOKEN}.d9Kt+kSHJsOgX0q2Vul+TDswbXhbuGXR+mOUkHxMQNg="
    assert cookies.unsign(signed, SECRET) == TOKEN
    assert cookies.unsign("X" + signed[1:], SECRET) is None
    assert cookies.unsign(TOKEN, SECRET) is None
    assert cookies.unsign(signed, "another-secret-that-is-long-enough-000") is None


def test_first_duplicate_cookie_wins() -> None:
    jar = cookies.parse_cookie_header('a=1; a=2; b="quoted"; c=%41')
    assert jar == {"a": "1", "b": "quoted", "c": "A"}


def test_expiry_headers_cover_three_cookies() -> None:
    assert cookies.expired_session_cookies(make_options()) == [
        "better-auth.session_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
        "better-auth.session_data=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
        "better-auth.dont_remember=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
    ]
