"""AuthOptions: misconfiguration fails when the options are built."""

from __future__ import annotations

import pytest

from rowgate.auth.errors import AuthConfigError
from rowgate.auth.options import AuthOptions
from rowgate.errors import RowgateError
from tests.auth.support import SECRET


def test_defaults_are_better_auths() -> None:
    options = AuthOptions(secret=SECRET, base_url="http://127.0.0.1:3000/")
    assert (options.expires_in, options.update_age, options.fresh_age) == (
        604800,
        86400,
        86400,
    )
    assert options.cookie_prefix == "better-auth"
    assert (options.min_password_length, options.max_password_length) == (8, 128)
    assert options.origin == "http://127.0.0.1:3000"
    assert options.secure_cookies is False


def test_short_secret_is_refused() -> None:
    with pytest.raises(AuthConfigError, match="32"):
        AuthOptions(secret="x" * 31, base_url="http://localhost:3000")


@pytest.mark.parametrize("url", ["localhost:3000", "/api", "ftp://host", "https://"])
def test_base_url_must_be_absolute_http(url: str) -> None:
    with pytest.raises(RowgateError):
        AuthOptions(secret=SECRET, base_url=url)


def test_https_base_url_turns_on_secure_cookies_unless_overridden() -> None:
    assert AuthOptions(secret=SECRET, base_url="https://a.example").secure_cookies
    assert not AuthOptions(
        secret=SECRET, base_url="https://a.example", use_secure_cookies=False
    ).secure_cookies


def test_trusted_origins_become_a_tuple() -> None:
    options = AuthOptions(
        secret=SECRET,
        base_url="http://localhost:3000",
        trusted_origins=["http://a.example"],  # type: ignore[arg-type]
    )
    assert options.trusted_origins == ("http://a.example",)
