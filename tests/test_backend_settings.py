"""The backend's data API settings from the environment (PostgREST's names)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import jwt
import psycopg
import pytest

from rowgate.backend.app import create_backend
from rowgate.bridge.token import mint_token
from rowgate.config import ConfigError, Settings, load_settings
from rowgate.dataapi.errors import DataApiConfigError
from tests.admin.test_admin_api import JWT_SECRET, make_settings
from tests.servers import serving


def with_env(tmp_path: Path, database_url: str, **env: str) -> Settings:
    base = make_settings(tmp_path, database_url)
    values = {
        "DATABASE_URL": database_url,
        "BETTER_AUTH_SECRET": base.better_auth_secret,
        "INSFORGE_JWT_SECRET": JWT_SECRET,
        "INSFORGE_ANON_KEY": base.insforge_anon_key,
        "INSFORGE_API_KEY": base.insforge_api_key,
    }
    return load_settings(tmp_path, {**values, **env})


def test_a_configured_audience_refuses_tokens_minted_for_another(
    tmp_path: Path, database_url: str
) -> None:
    settings = with_env(tmp_path, database_url, ROWGATE_JWT_AUD="insforge-api")
    now = int(time.time())
    foreign = jwt.encode(
        {"sub": "u1", "role": "authenticated", "aud": "other", "exp": now + 60},
        JWT_SECRET,
        "HS256",
    )
    bridge = mint_token("u1", JWT_SECRET)
    with serving(create_backend(settings, pool_size=2)) as base:
        refused = httpx.get(
            f"{base}/api/database/", headers={"Authorization": f"Bearer {foreign}"}
        )
        accepted = httpx.get(
            f"{base}/api/database/", headers={"Authorization": f"Bearer {bridge}"}
        )

    assert refused.status_code == 401
    assert refused.json()["code"] == "PGRST301"
    assert refused.json()["message"] == "JWT not in audience"
    assert accepted.status_code == 200


def test_defaults_match_postgrest_and_public_only(tmp_path: Path) -> None:
    settings = with_env(tmp_path, "postgresql:///x")
    assert settings.db_schemas == ("public",)
    assert (settings.db_tx_end, settings.db_max_rows, settings.jwt_aud) == (
        "commit",
        None,
        None,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ROWGATE_DB_SCHEMAS", "public,pg_catalog"),
        ("ROWGATE_DB_TX_END", "sometimes"),
        ("ROWGATE_DB_PRE_REQUEST", "public."),
    ],
)
def test_unsafe_data_api_settings_stop_the_backend_before_it_serves(
    tmp_path: Path, name: str, value: str
) -> None:
    settings = with_env(tmp_path, "postgresql:///x", **{name: value})
    with pytest.raises(DataApiConfigError):
        create_backend(settings)


def test_a_malformed_row_limit_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ROWGATE_DB_MAX_ROWS"):
        with_env(tmp_path, "postgresql:///x", ROWGATE_DB_MAX_ROWS="lots")


@pytest.mark.parametrize(
    ("value", "enabled"), [("", False), ("false", False), ("true", True), ("1", True)]
)
def test_aggregates_setting(tmp_path: Path, value: str, enabled: bool) -> None:
    settings = with_env(
        tmp_path, "postgresql:///x", ROWGATE_DB_AGGREGATES_ENABLED=value
    )

    assert settings.db_aggregates is enabled


def test_a_malformed_aggregates_setting_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ROWGATE_DB_AGGREGATES_ENABLED"):
        with_env(tmp_path, "postgresql:///x", ROWGATE_DB_AGGREGATES_ENABLED="maybe")


def test_the_backend_serves_aggregates_when_enabled(
    tmp_path: Path, database_url: str
) -> None:
    settings = with_env(tmp_path, database_url, ROWGATE_DB_AGGREGATES_ENABLED="true")
    bridge = mint_token("u1", JWT_SECRET)
    with psycopg.connect(database_url, autocommit=True) as owner:
        owner.execute("CREATE TABLE public.agg_probe AS SELECT generate_series(1, 3) n")
        owner.execute("GRANT SELECT ON public.agg_probe TO authenticated")
        try:
            with serving(create_backend(settings, pool_size=2)) as base:
                response = httpx.get(
                    f"{base}/api/database/records/agg_probe?select=n.sum(),count()",
                    headers={"Authorization": f"Bearer {bridge}"},
                )
        finally:
            owner.execute("DROP TABLE public.agg_probe")

    assert (response.status_code, response.json()) == (200, [{"sum": 6, "count": 3}])
