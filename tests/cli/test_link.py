"""``rowgate link``: scaffold into empty and existing projects, safe re-runs, and a
generated app that passes the demo against a real backend."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from rowgate.admin.routes import admin_routes
from rowgate.config import (
    Settings,
    load_settings,
    new_admin_key,
    new_anon_key,
    new_secret,
    parse_env_file,
)
from tests.servers import free_port, serving

ROWGATE = Path(sys.executable).with_name("rowgate")


def backend_env(database_url: str, backend_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "BETTER_AUTH_SECRET": new_secret(),
        "INSFORGE_JWT_SECRET": new_secret(),
        "INSFORGE_ANON_KEY": new_anon_key(),
        "INSFORGE_API_KEY": new_admin_key(),
        "INSFORGE_BASE_URL": backend_url,
        "ROWGATE_PROJECT_ID": "proj-42",
        "ROWGATE_PROJECT_NAME": "Forty Two",
    }


@pytest.fixture
def backend(tmp_path: Path, empty_database_url: str) -> Iterator[Settings]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = load_settings(tmp_path, backend_env(empty_database_url, url))
    with serving(Starlette(routes=admin_routes(settings)), port=port):
        yield settings


def link(
    project: Path, backend: Settings, *extra: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INSFORGE", "PG"))}
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [
            str(ROWGATE),
            "link",
            "--project-id",
            backend.project_id,
            "--auth",
            "better-auth",
            "--api-base-url",
            backend.insforge_base_url,
            "--api-key",
            backend.insforge_api_key,
            "--skip-install",
            "--skip-setup",
            "-C",
            str(project),
            *extra,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_link_into_an_empty_folder_writes_a_complete_app(
    tmp_path: Path, backend: Settings
) -> None:
    project = tmp_path / "empty"
    project.mkdir()
    result = link(project, backend)

    assert result.returncode == 0, result.stderr
    for name in (
        "app.py",
        "auth_server.py",
        "bridge.py",
        "pages.py",
        "data_client.py",
        "static/rowgate-data.js",
        "migrations/0001_better-auth-bootstrap.sql",
        "migrations/0002_posts.sql",
        ".env.example",
        ".env.local",
        "pyproject.toml",
    ):
        assert (project / name).is_file(), name
    env = parse_env_file((project / ".env.local").read_text())
    assert env["INSFORGE_ANON_KEY"] == backend.insforge_anon_key
    assert env["INSFORGE_JWT_SECRET"] == backend.insforge_jwt_secret
    assert env["INSFORGE_BASE_URL"] == backend.insforge_base_url
    assert "dbname=" in env["DATABASE_URL"] or "/" in env["DATABASE_URL"]
    assert len(env["BETTER_AUTH_SECRET"]) == 64
    assert (project / ".env.local").stat().st_mode & 0o077 == 0
    pyproject = (project / "pyproject.toml").read_text()
    assert '"rowgate"' in pyproject
    assert 'app = "app:app"' in pyproject
    assert "created" in result.stdout


def test_link_into_an_existing_starlette_app_keeps_it(
    tmp_path: Path, backend: Settings
) -> None:
    project = tmp_path / "existing"
    project.mkdir()
    main = "from starlette.applications import Starlette\n\napi = Starlette()\n"
    (project / "main.py").write_text(main)
    (project / "requirements.txt").write_text("starlette>=0.40\n")

    result = link(project, backend)

    assert result.returncode == 0, result.stderr
    assert (project / "main.py").read_text() == main
    assert not (project / "app.py").exists()
    assert "rowgate" in (project / "requirements.txt").read_text().splitlines()
    assert "kept your app main:api" in result.stdout


def test_rerunning_link_never_overwrites_what_the_user_changed(
    tmp_path: Path, backend: Settings
) -> None:
    project = tmp_path / "again"
    project.mkdir()
    assert link(project, backend).returncode == 0
    (project / "pages.py").write_text("# my own pages\n")
    local = project / ".env.local"
    text = local.read_text()
    text = text.replace(
        f"INSFORGE_JWT_SECRET={backend.insforge_jwt_secret}",
        "INSFORGE_JWT_SECRET=replace-with-the-backend-JWT_SECRET",
    )
    local.write_text(text + "BETTER_AUTH_URL_EXTRA=1\n")
    before = parse_env_file(local.read_text())

    second = link(project, backend)
    after = parse_env_file(local.read_text())

    assert second.returncode == 0, second.stderr
    assert (project / "pages.py").read_text() == "# my own pages\n"
    assert (project / "pages.py.new").is_file()
    assert "kept" in second.stdout
    assert after["BETTER_AUTH_SECRET"] == before["BETTER_AUTH_SECRET"]
    assert after["INSFORGE_JWT_SECRET"] == backend.insforge_jwt_secret
    assert after["BETTER_AUTH_URL_EXTRA"] == "1"


def test_rerunning_link_refreshes_a_rotated_key_unless_the_user_set_it(
    tmp_path: Path, empty_database_url: str
) -> None:
    port = free_port()
    env = backend_env(empty_database_url, f"http://127.0.0.1:{port}")
    first_backend = load_settings(tmp_path, env)
    rotated = load_settings(tmp_path, {**env, "INSFORGE_ANON_KEY": new_anon_key()})
    plain, edited = tmp_path / "plain", tmp_path / "edited"
    mine = new_anon_key()
    with serving(Starlette(routes=admin_routes(first_backend)), port=port):
        for project in (plain, edited):
            project.mkdir()
            assert link(project, first_backend).returncode == 0
    local = edited / ".env.local"
    local.write_text(local.read_text().replace(first_backend.insforge_anon_key, mine))
    secrets_before = {
        p: parse_env_file((p / ".env.local").read_text())["BETTER_AUTH_SECRET"]
        for p in (plain, edited)
    }
    with serving(Starlette(routes=admin_routes(rotated)), port=port):
        for project in (plain, edited):
            assert link(project, rotated).returncode == 0

    refreshed = parse_env_file((plain / ".env.local").read_text())
    kept = parse_env_file(local.read_text())
    assert refreshed["INSFORGE_ANON_KEY"] == rotated.insforge_anon_key
    assert kept["INSFORGE_ANON_KEY"] == mine
    for project in (plain, edited):
        after = parse_env_file((project / ".env.local").read_text())
        assert after["BETTER_AUTH_SECRET"] == secrets_before[project]
        assert ".env.local" in (project / ".gitignore").read_text().splitlines()


def test_link_json_report(tmp_path: Path, backend: Settings) -> None:
    project = tmp_path / "json"
    project.mkdir()
    result = link(project, backend, "--json")
    report = json.loads(result.stdout)
    assert report["success"] is True
    assert "auth_server.py" in report["created"]
    # Every file link writes is reported, the project's manifest included.
    written = {p.relative_to(project).as_posix() for p in project.rglob("*")}
    written = {name for name in written if (project / name).is_file()}
    reported = {*report["created"], *report["replaced"]}
    assert {".env.example", "pyproject.toml", ".gitignore"} <= reported
    # .rowgate/ is link's own record and .env.local is reported key by key.
    project_files = {
        name for name in written if not name.startswith((".rowgate/", ".env.local"))
    }
    assert project_files <= reported


def test_link_json_reports_a_failure_as_json(tmp_path: Path, backend: Settings) -> None:
    project = tmp_path / "json-wrong"
    project.mkdir()
    result = subprocess.run(
        [
            str(ROWGATE),
            "link",
            "--project-id",
            "not-this-one",
            "--api-base-url",
            backend.insforge_base_url,
            "--api-key",
            backend.insforge_api_key,
            "--json",
            "-C",
            str(project),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    report = json.loads(result.stdout)
    assert result.returncode == 1
    assert report["success"] is False
    assert "not-this-one" in report["error"]


def test_link_refuses_a_wrong_project_or_provider(
    tmp_path: Path, backend: Settings
) -> None:
    project = tmp_path / "wrong"
    project.mkdir()
    wrong = subprocess.run(
        [
            str(ROWGATE),
            "link",
            "--project-id",
            "someone-else",
            "--api-base-url",
            backend.insforge_base_url,
            "--api-key",
            backend.insforge_api_key,
            "-C",
            str(project),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    provider = subprocess.run(
        [
            str(ROWGATE),
            "link",
            "--project-id",
            "x",
            "--auth",
            "clerk",
            "-C",
            str(project),
        ],
        capture_output=True,
        text=True,
        check=False,
    )

    assert wrong.returncode == 1
    assert "no access to project someone-else" in wrong.stderr
    assert provider.returncode == 1
    assert 'invalid --auth "clerk"' in provider.stderr
    assert list(project.iterdir()) == []


def test_the_generated_app_passes_the_demo(
    tmp_path: Path, empty_database_url: str
) -> None:
    backend_dir, project = tmp_path / "backend", tmp_path / "app"
    backend_dir.mkdir()
    project.mkdir()
    backend_port, app_port = free_port(), free_port()
    backend_url = f"http://127.0.0.1:{backend_port}"
    env = backend_env(empty_database_url, backend_url)
    env["BETTER_AUTH_URL"] = f"http://127.0.0.1:{app_port}"
    (backend_dir / ".env.local").write_text(
        "".join(f"{k}={v}\n" for k, v in env.items())
    )
    settings = load_settings(backend_dir, {})
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("INSFORGE", "PG", "BETTER_AUTH")) and k != "DATABASE_URL"
    }

    setup = subprocess.run(
        [str(ROWGATE), "setup", "-C", str(backend_dir)],
        env=clean, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert setup.returncode == 0, setup.stdout + setup.stderr
    servers = [
        subprocess.Popen(
            [str(ROWGATE), "serve", "-C", str(backend_dir)],
            env=clean, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    ]  # fmt: skip
    _wait(f"{backend_url}/api/health")
    linked = subprocess.run(
        [
            str(ROWGATE), "link", "--project-id", "proj-42",
            "--api-base-url", backend_url, "--api-key", settings.insforge_api_key,
            "--skip-install", "-C", str(project),
        ],
        env=clean, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    local = project / ".env.local"
    if linked.returncode == 0:
        local.write_text(
            local.read_text().replace(
                "BETTER_AUTH_URL=http://127.0.0.1:3000",
                f"BETTER_AUTH_URL=http://127.0.0.1:{app_port}",
            )
        )
        servers.append(
            subprocess.Popen(
                [str(ROWGATE), "run", "-C", str(project)],
                env=clean, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
    app_url = f"http://127.0.0.1:{app_port}"
    try:
        assert linked.returncode == 0, linked.stdout + linked.stderr
        _wait(f"{app_url}/api/auth/ok")
        first, second = _user(app_url), _user(app_url)
        token = first.get("/api/insforge-token").json()["token"]
        created = httpx.post(
            f"{backend_url}/api/database/records/posts",
            json={"title": "linked"},
            headers={"Authorization": f"Bearer {token}"},
        )
        other = second.get("/api/insforge-token").json()["token"]
        seen = httpx.get(
            f"{backend_url}/api/database/records/posts",
            headers={"Authorization": f"Bearer {other}"},
        )
        page = first.get("/")
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)

    assert created.status_code == 201
    assert seen.json() == []
    assert page.status_code == 200


def _user(app_url: str) -> httpx.Client:
    client = httpx.Client(base_url=app_url, headers={"Origin": app_url}, timeout=30)
    response = client.post(
        "/api/auth/sign-up/email",
        json={
            "name": "L",
            "email": f"l-{secrets.token_hex(4)}@example.com",
            "password": "linked password",
        },
    )
    assert response.status_code == 200, response.text
    return client


def _wait(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer")
