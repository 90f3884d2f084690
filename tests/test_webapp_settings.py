"""The app's auth settings from the environment: secret rotation, rate limits, mail."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import httpx
import pytest

from rowgate.config import ConfigError, Settings, load_settings, new_anon_key
from rowgate.demo.app import create_app
from rowgate.webapp import rate_limit_options
from tests.servers import serving

OLD = "o" * 40
NEW = "n" * 40


def settings_for(tmp_path: Path, database_url: str, **env: str) -> Settings:
    base = {
        "DATABASE_URL": database_url,
        "INSFORGE_JWT_SECRET": "j" * 40,
        "INSFORGE_ANON_KEY": new_anon_key(),
        "BETTER_AUTH_URL": "http://127.0.0.1:3000",
    }
    return load_settings(tmp_path, {**base, **env})


def test_versioned_secrets_put_the_current_one_first(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path, "postgresql:///x", BETTER_AUTH_SECRETS=f"2:{NEW},1:{OLD}"
    )
    assert settings.better_auth_secret == NEW
    assert settings.previous_auth_secrets == (OLD,)
    assert "n" * 40 not in str(settings.masked())


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("BETTER_AUTH_SECRETS", "no-version", "BETTER_AUTH_SECRETS"),
        ("BETTER_AUTH_SECRETS", f"1:{NEW},1:{OLD}", "BETTER_AUTH_SECRETS"),
        ("ROWGATE_RATE_LIMIT", "sometimes", "ROWGATE_RATE_LIMIT"),
    ],
)
def test_bad_auth_settings_are_one_clear_error(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_for(tmp_path, "postgresql:///x", **{name: value})


@pytest.mark.parametrize(
    ("configured", "development", "enabled", "storage"),
    [
        (None, True, False, "memory"),
        (None, False, True, "memory"),
        ("off", False, False, "memory"),
        ("memory", True, True, "memory"),
        ("database", False, True, "database"),
        ("redis", False, True, "redis"),
    ],
)
def test_rate_limits_are_on_outside_development_unless_configured(
    tmp_path: Path,
    configured: str | None,
    development: bool,
    enabled: bool,
    storage: str,
) -> None:
    env = {"ROWGATE_RATE_LIMIT": configured} if configured else {}
    settings = settings_for(tmp_path, "postgresql:///x", **env)
    options = rate_limit_options(settings, development=development)
    assert (options.enabled, options.storage) == (enabled, storage)


def sign_up(base: str, email: str) -> httpx.Response:
    return httpx.post(
        f"{base}/api/auth/sign-up/email",
        json={"email": email, "password": "correct horse battery", "name": "R"},
    )


def test_a_cookie_signed_with_a_previous_secret_still_works(
    tmp_path: Path, database_url: str
) -> None:
    email = f"rotate-{secrets.token_hex(4)}@example.com"
    before = settings_for(tmp_path, database_url, BETTER_AUTH_SECRET=OLD)
    with serving(create_app(before, pool_size=2)) as base:
        cookies = sign_up(base, email).cookies

    rotated = settings_for(
        tmp_path, database_url, BETTER_AUTH_SECRETS=f"2:{NEW},1:{OLD}"
    )
    forgotten = settings_for(tmp_path, database_url, BETTER_AUTH_SECRET=NEW)
    with serving(create_app(rotated, pool_size=2)) as base:
        kept = httpx.get(f"{base}/api/auth/get-session", cookies=cookies)
    with serving(create_app(forgotten, pool_size=2)) as base:
        lost = httpx.get(f"{base}/api/auth/get-session", cookies=cookies)

    assert kept.json()["user"]["email"] == email
    assert lost.json() is None


def test_the_app_rate_limits_sign_ins_outside_development(
    tmp_path: Path, database_url: str
) -> None:
    settings = settings_for(tmp_path, database_url, BETTER_AUTH_SECRET=OLD)
    body = {"email": "nobody@example.com", "password": "wrong password!"}
    with serving(create_app(settings, pool_size=2)) as base:
        answers = [
            httpx.post(f"{base}/api/auth/sign-in/email", json=body) for _ in range(4)
        ]
    with serving(create_app(settings, pool_size=2, development=True)) as base:
        relaxed = [
            httpx.post(f"{base}/api/auth/sign-in/email", json=body) for _ in range(4)
        ]

    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert int(answers[-1].headers["X-Retry-After"]) > 0
    assert [a.status_code for a in relaxed] == [401] * 4


def test_development_logs_reset_links_and_production_needs_a_mailer(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    email = f"reset-{secrets.token_hex(4)}@example.com"
    settings = settings_for(
        tmp_path, database_url, BETTER_AUTH_SECRET=OLD, ROWGATE_RATE_LIMIT="off"
    )
    ask = {"email": email, "redirectTo": "/reset"}
    caplog.set_level(logging.INFO, logger="rowgate.auth.mail")
    with serving(create_app(settings, pool_size=2, development=True)) as base:
        sign_up(base, email)
        logged = httpx.post(f"{base}/api/auth/request-password-reset", json=ask)
        offered = httpx.get(f"{base}/sign-in").text
    with serving(create_app(settings, pool_size=2)) as base:
        refused = httpx.post(f"{base}/api/auth/request-password-reset", json=ask)
        not_offered = httpx.get(f"{base}/sign-in").text
        no_page = httpx.get(f"{base}/forgot-password")

    assert logged.status_code == 200
    assert "/forgot-password" in offered
    assert "/forgot-password" not in not_offered
    assert no_page.status_code == 404
    assert any("/api/auth/reset-password/" in r.getMessage() for r in caplog.records)
    assert refused.status_code >= 400
    assert refused.json()["code"] == "RESET_PASSWORD_DISABLED"
