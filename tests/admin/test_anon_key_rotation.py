"""Rotating the anon key: a fresh key at once, the old one only for its grace period."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from rowgate.backend.app import create_backend
from rowgate.config import Settings
from tests.admin.test_admin_api import make_settings
from tests.conftest import throwaway_database
from tests.servers import serving

ROTATE = "/api/secrets/anon-key/rotate"


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Settings]:
    # A database of its own: rotation writes the project's key table.
    with throwaway_database(bootstrap=True) as url:
        yield make_settings(tmp_path, url)


def admin(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.insforge_api_key}"}


def data_api_status(base: str, key: str) -> int:
    response = httpx.get(
        f"{base}/api/database/", headers={"Authorization": f"Bearer {key}"}
    )
    return response.status_code


def test_rotation_without_grace_retires_the_old_key_at_once(
    project: Settings,
) -> None:
    old = project.insforge_anon_key
    with serving(create_backend(project, pool_size=2)) as base:
        before = data_api_status(base, old)
        rotated = httpx.post(
            base + ROTATE, json={"gracePeriodHours": 0}, headers=admin(project)
        )
        new = rotated.json()["anonKey"]
        current = httpx.get(base + "/api/metadata/anon-key", headers=admin(project))
        secret = httpx.get(base + "/api/secrets/ANON_KEY", headers=admin(project))
        after_old = data_api_status(base, old)
        after_new = data_api_status(base, new)
        retired = httpx.get(
            f"{base}/api/database/", headers={"Authorization": f"Bearer {old}"}
        )

    assert before == 200
    assert rotated.status_code == 200
    assert new.startswith("anon_") and len(new) == 69 and new != old
    assert current.json() == {"anonKey": new}
    assert secret.json()["value"] == new
    assert after_old == 401
    assert after_new == 200
    assert retired.json()["message"] == "Invalid or retired anon key"


def test_the_old_key_keeps_working_through_its_grace_period(
    project: Settings,
) -> None:
    old = project.insforge_anon_key
    with serving(create_backend(project, pool_size=2)) as base:
        rotated = httpx.post(base + ROTATE, headers=admin(project))
        new = rotated.json()["anonKey"]
        old_status = data_api_status(base, old)
        new_status = data_api_status(base, new)

    expires = datetime.fromisoformat(rotated.json()["previousKeyExpiresAt"])
    left = expires - datetime.now().astimezone()
    assert old_status == 200
    assert new_status == 200
    assert timedelta(hours=23) < left <= timedelta(hours=24)


def test_a_restart_does_not_revive_a_retired_key_still_in_the_environment(
    project: Settings,
) -> None:
    old = project.insforge_anon_key
    with serving(create_backend(project, pool_size=2)) as base:
        rotated = httpx.post(
            base + ROTATE, json={"gracePeriodHours": 0}, headers=admin(project)
        )
        new = rotated.json()["anonKey"]

    # The environment still names the old key; the database says it is retired.
    with serving(create_backend(project, pool_size=2)) as base:
        old_status = data_api_status(base, old)
        new_status = data_api_status(base, new)
        current = httpx.get(base + "/api/metadata/anon-key", headers=admin(project))

    assert old_status == 401
    assert new_status == 200
    assert current.json() == {"anonKey": new}


def test_rotation_refuses_bad_grace_periods_and_non_admins(project: Settings) -> None:
    old = project.insforge_anon_key
    with serving(create_backend(project, pool_size=2)) as base:
        bad = [
            httpx.post(base + ROTATE, json=body, headers=admin(project))
            for body in (
                {"gracePeriodHours": -1},
                {"gracePeriodHours": "24"},
                {"gracePeriodHours": True},
                {"gracePeriodHours": 24 * 31},
                [1],
            )
        ]
        garbled = httpx.post(
            base + ROTATE,
            content=b"{not json",
            headers={**admin(project), "Content-Type": "application/json"},
        )
        as_anon = httpx.post(base + ROTATE, headers={"Authorization": f"Bearer {old}"})
        still = data_api_status(base, old)

    for response in [*bad, garbled]:
        assert response.status_code == 400
        assert response.json()["error"] == "INVALID_INPUT"
    assert as_anon.status_code == 401
    assert still == 200
    with psycopg.connect(project.database_url) as conn:
        keys = conn.execute("SELECT key, expires_at FROM rowgate.anon_keys").fetchall()
    assert keys == [(old, None)]


def test_the_data_api_role_cannot_read_the_key_table(project: Settings) -> None:
    with serving(create_backend(project, pool_size=2)):
        pass
    with (
        psycopg.connect(project.authenticator_url()) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("SELECT key FROM rowgate.anon_keys")


def test_the_cli_rotates_and_rewrites_only_the_anon_key_line(
    project: Settings, tmp_path: Path
) -> None:
    from tests.cli.test_commands import run

    old = project.insforge_anon_key
    with serving(create_backend(project, pool_size=2)) as base:
        env_file = tmp_path / ".env.local"
        env_file.write_text(
            "# my settings\n"
            f"DATABASE_URL={project.database_url}\n"
            f"export INSFORGE_ANON_KEY={old}\n"
            f"INSFORGE_API_KEY={project.insforge_api_key}\n"
            f"INSFORGE_BASE_URL={base}\n"
        )
        rotated = run(tmp_path, "keys", "rotate-anon", "--grace-hours", "0")
        current = httpx.get(base + "/api/metadata/anon-key", headers=admin(project))
        unreachable = run(
            tmp_path, "keys", "rotate-anon", INSFORGE_BASE_URL="http://127.0.0.1:1"
        )

    new = current.json()["anonKey"]
    assert rotated.returncode == 0, rotated.stderr
    assert new != old
    assert env_file.read_text() == (
        "# my settings\n"
        f"DATABASE_URL={project.database_url}\n"
        f"export INSFORGE_ANON_KEY={new}\n"
        f"INSFORGE_API_KEY={project.insforge_api_key}\n"
        f"INSFORGE_BASE_URL={base}\n"
    )
    assert unreachable.returncode == 1
    assert len(unreachable.stderr.strip().splitlines()) == 1
    assert "cannot reach the backend" in unreachable.stderr
