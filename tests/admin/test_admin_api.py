"""The backend's admin API: only the admin key opens it; migrations over HTTP."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import psycopg
import pytest
from starlette.applications import Starlette

from rowgate.admin.routes import admin_routes
from rowgate.config import Settings, load_settings, new_admin_key, new_anon_key
from rowgate.migrations import files as mf
from rowgate.migrations.engine import MigrationError, Status, status, up
from rowgate.migrations.transport import HttpTransport
from tests.servers import serving

JWT_SECRET = "j" * 40


def make_settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(
        tmp_path,
        {
            "DATABASE_URL": database_url,
            "BETTER_AUTH_SECRET": "b" * 40,
            "INSFORGE_JWT_SECRET": JWT_SECRET,
            "INSFORGE_ANON_KEY": new_anon_key(),
            "INSFORGE_API_KEY": new_admin_key(),
            "ROWGATE_PROJECT_ID": "proj-1",
            "ROWGATE_PROJECT_NAME": "demo",
        },
    )


@pytest.fixture
def settings(tmp_path: Path, empty_database_url: str) -> Settings:
    return make_settings(tmp_path, empty_database_url)


@pytest.fixture
def backend(settings: Settings) -> Iterator[str]:
    with serving(Starlette(routes=admin_routes(settings))) as url:
        yield url


def admin(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.insforge_api_key}"}


def user_token(role: str) -> str:
    now = int(time.time())
    claims = {"sub": "u1", "role": role, "iat": now, "exp": now + 60}
    return jwt.encode(claims, JWT_SECRET, "HS256")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer anon_" + "0" * 64},
        {"Authorization": "Bearer ik_" + "0" * 64},
        {"Authorization": f"Bearer {user_token('project_admin')}"},
        {"Authorization": f"Bearer {user_token('authenticated')}"},
        {"x-api-key": "ik_wrong"},
    ],
    ids=["none", "anon-key", "wrong-admin-key", "admin-jwt", "user-jwt", "wrong-x"],
)
def test_every_admin_route_refuses_anything_but_the_admin_key(
    backend: str, headers: dict[str, str]
) -> None:
    for path in (
        "/api/metadata",
        "/api/metadata/anon-key",
        "/api/secrets/JWT_SECRET",
        "/api/metadata/database-connection-string",
        "/api/database/migrations",
    ):
        response = httpx.get(backend + path, headers=headers)
        assert response.status_code == 401, path
        assert response.json()["error"] == "AUTH_INVALID_API_KEY"


def test_metadata_keys_and_secrets_with_the_admin_key(
    backend: str, settings: Settings
) -> None:
    meta = httpx.get(f"{backend}/api/metadata", headers=admin(settings))
    anon = httpx.get(
        f"{backend}/api/metadata/anon-key",
        headers={"x-api-key": settings.insforge_api_key},
    )
    secret = httpx.get(f"{backend}/api/secrets/JWT_SECRET", headers=admin(settings))
    unknown = httpx.get(f"{backend}/api/secrets/NOPE", headers=admin(settings))
    conn = httpx.get(
        f"{backend}/api/metadata/database-connection-string", headers=admin(settings)
    )

    assert meta.json() == {"projectId": "proj-1", "projectName": "demo"}
    assert anon.json() == {"anonKey": settings.insforge_anon_key}
    assert secret.json() == {"key": "JWT_SECRET", "value": JWT_SECRET}
    assert unknown.status_code == 404
    assert "password" not in conn.json()["parameters"]


def test_migrations_over_http_apply_in_order_and_refuse_old_versions(
    backend: str, settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0002_items.sql").write_text("CREATE TABLE public.items (id int);")
    files = mf.sort_and_check([mf.bootstrap(), *mf.discover(folder)])

    with HttpTransport(backend, settings.insforge_api_key) as transport:
        applied = up(transport, files)
        again = up(transport, files)
        states = {e.status for e in status(files, transport.applied())}
    old = httpx.post(
        f"{backend}/api/database/migrations",
        json={"version": "1", "name": "again", "sql": "select 1"},
        headers=admin(settings),
    )

    assert [m.version for m in applied] == [1, 2]
    assert again == []
    assert states == {Status.APPLIED}
    assert old.status_code == 409


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"version": "x1", "name": "a", "sql": "select 1"}, "version"),
        ({"version": "5", "name": "Bad Name", "sql": "select 1"}, "name"),
        ({"version": "5", "name": "a", "sql": "   "}, "at least one statement"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_migration_requests_are_400(
    backend: str, settings: Settings, body: object, fragment: str
) -> None:
    response = httpx.post(
        f"{backend}/api/database/migrations", json=body, headers=admin(settings)
    )
    assert response.status_code == 400
    assert fragment in response.json()["message"]


def test_a_failing_migration_over_http_leaves_nothing(
    backend: str, settings: Settings, empty_database_url: str
) -> None:
    with HttpTransport(backend, settings.insforge_api_key) as transport:
        up(transport, [mf.bootstrap()])
    response = httpx.post(
        f"{backend}/api/database/migrations",
        json={
            "version": "7",
            "name": "broken",
            "sql": "CREATE TABLE public.half (id int); SELECT missing_fn();",
        },
        headers=admin(settings),
    )
    with psycopg.connect(empty_database_url) as conn:
        table = conn.execute("SELECT to_regclass('public.half')").fetchone()
        rows = conn.execute("SELECT version FROM rowgate.schema_migrations").fetchall()

    assert response.status_code == 400
    assert "missing_fn" in response.json()["message"]
    assert table == (None,)
    assert rows == [("1",)]


def test_http_transport_reports_a_backend_without_migrations(
    settings: Settings,
) -> None:
    with (
        serving(Starlette()) as url,
        HttpTransport(url, "ik_x") as transport,
        pytest.raises(MigrationError, match="not available on this backend"),
    ):
        transport.applied()


def test_a_migration_over_http_is_logged_under_its_file_name(
    backend: str, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rowgate.migrations")
    with HttpTransport(backend, settings.insforge_api_key) as transport:
        up(transport, [mf.bootstrap()])
    response = httpx.post(
        f"{backend}/api/database/migrations",
        json={"version": "3", "name": "comments", "sql": "SELECT 1"},
        headers=admin(settings),
    )

    assert response.status_code == 201, response.text
    assert "applying migration 0003_comments.sql" in caplog.text
