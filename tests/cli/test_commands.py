"""The CLI as a user meets it: subprocesses for the exit codes and the one-line
errors, in-process runs for the rest."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from rowgate.cli.main import app

ROWGATE = Path(sys.executable).with_name("rowgate")
runner = CliRunner()


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "DATABASE_URL" and not k.startswith("PG")
    }
    env.update(extra)
    return env


def run(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROWGATE), *args, "--project-dir", str(project)],
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_setup_against_an_unreachable_database_prints_one_line(tmp_path: Path) -> None:
    result = run(
        tmp_path, "setup", DATABASE_URL="postgresql://nobody@127.0.0.1:1/nothing"
    )

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "DATABASE_URL" in lines[0]
    assert "127.0.0.1" in lines[0]
    assert "rowgate setup" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_commands_needing_a_database_say_how_to_set_one(tmp_path: Path) -> None:
    result = run(tmp_path, "db", "migrations", "status")
    assert result.returncode == 1
    assert "DATABASE_URL is not set" in result.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(ROWGATE), "--debug", "db", "migrations", "status", "-C", str(tmp_path)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_up_needs_exactly_one_mode(tmp_path: Path) -> None:
    result = run(tmp_path, "db", "migrations", "up", DATABASE_URL="postgresql:///x")
    assert result.returncode == 1
    assert "exactly one apply mode" in result.stderr


def test_setup_is_idempotent_and_applies_only_new_files(
    empty_database_url: str, tmp_path: Path
) -> None:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "0002_a.sql").write_text("CREATE TABLE public.a (id int);")
    env = {"DATABASE_URL": empty_database_url}

    first = run(tmp_path, "setup", **env)
    second = run(tmp_path, "setup", **env)
    (migrations / "0003_b.sql").write_text("CREATE TABLE public.b (id int);")
    third = run(tmp_path, "setup", **env)
    status = run(tmp_path, "db", "migrations", "status", **env)

    assert first.returncode == 0, first.stderr
    assert "2 migration(s) applied" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "0 migration(s) applied" in second.stdout
    assert third.returncode == 0, third.stderr
    assert "1 migration(s) applied" in third.stdout
    assert status.stdout.count("applied") == 3
    with psycopg.connect(empty_database_url) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'better_auth'"
            " ORDER BY 1"
        ).fetchall()
    assert [t[0] for t in tables] == [
        "account",
        "rateLimit",
        "session",
        "user",
        "verification",
    ]


def test_a_drifted_file_is_reported(empty_database_url: str, tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "0002_a.sql").write_text("CREATE TABLE public.a (id int);")
    env = {"DATABASE_URL": empty_database_url}
    assert run(tmp_path, "setup", **env).returncode == 0
    (migrations / "0002_a.sql").write_text("CREATE TABLE public.a (id bigint);")

    status = run(tmp_path, "db", "migrations", "status", **env)
    up = run(tmp_path, "db", "migrations", "up", "--all", **env)

    assert "drifted" in status.stdout
    assert up.returncode == 1
    assert "edited after it was applied" in up.stderr


def test_new_creates_the_next_empty_file(tmp_path: Path) -> None:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0007_x.sql").write_text("select 1;")
    result = runner.invoke(
        app, ["db", "migrations", "new", "add-posts", "-C", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    created = tmp_path / "migrations" / "0008_add-posts.sql"
    assert created.read_text() == ""


def test_the_first_new_file_keeps_the_migrations_already_applied(
    tmp_path: Path, empty_database_url: str
) -> None:
    env = {"DATABASE_URL": empty_database_url}
    assert run(tmp_path, "setup", **env).returncode == 0
    created = run(tmp_path, "db", "migrations", "new", "add-comments", **env)
    (tmp_path / "migrations" / "0003_add-comments.sql").write_text(
        "CREATE TABLE public.comments (id int);"
    )
    applied = run(tmp_path, "db", "migrations", "up", "--all", **env)
    status = run(tmp_path, "db", "migrations", "status", **env)

    assert created.returncode == 0, created.stderr
    assert sorted(p.name for p in (tmp_path / "migrations").iterdir()) == [
        "0001_better-auth-bootstrap.sql",
        "0002_posts.sql",
        "0003_add-comments.sql",
    ]
    assert applied.returncode == 0, applied.stderr
    assert "Applied 1 migration file(s)." in applied.stdout
    assert "drift" not in status.stdout + status.stderr
    assert status.stdout.count("applied") == 3


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:7130x", "http://127.0.0.1:99999"],
)
def test_a_bad_port_in_a_url_setting_is_one_line(tmp_path: Path, url: str) -> None:
    line = one_line_error(run(tmp_path, "serve", INSFORGE_BASE_URL=url))
    assert "INSFORGE_BASE_URL has no valid port" in line


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["dev", "--help"],
        ["serve", "--help"],
        ["setup", "--help"],
        ["db", "migrations", "up", "--help"],
        ["auth", "migrate", "--help"],
    ],
)
def test_every_command_has_help(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_config_masks_secrets(tmp_path: Path) -> None:
    secret = "s" * 40
    (tmp_path / ".env.local").write_text(
        f"BETTER_AUTH_SECRET={secret}\nDATABASE_URL=postgresql://u:hunter2@h/db\n"
    )
    result = run(tmp_path, "config")
    assert result.returncode == 0, result.stderr
    assert secret not in result.stdout
    assert "hunter2" not in result.stdout
    assert "better_auth_secret = ssss…" in result.stdout


def test_version_prints_the_version() -> None:
    result = subprocess.run(
        [str(ROWGATE), "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("rowgate ")


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_malformed_database_url_is_one_line(tmp_path: Path) -> None:
    result = run(tmp_path, "db", "migrations", "status", DATABASE_URL="not a url")
    line = one_line_error(result)
    assert "DATABASE_URL is not a connection string" in line


def test_an_unreachable_database_names_the_reason(tmp_path: Path) -> None:
    line = one_line_error(
        run(tmp_path, "setup", DATABASE_URL="postgresql://nobody@127.0.0.1:1/x")
    )
    assert "Connection refused" in line
    assert "?." not in line


@pytest.mark.parametrize(
    ("command", "setting"),
    [
        (("serve",), "INSFORGE_BASE_URL"),
        (("run",), "BETTER_AUTH_URL"),
        (("dev",), "INSFORGE_BASE_URL"),
    ],
)
def test_a_busy_port_is_one_line_before_anything_starts(
    tmp_path: Path, database_url: str, command: tuple[str, ...], setting: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        result = run(
            tmp_path,
            *command,
            DATABASE_URL=database_url,
            INSFORGE_BASE_URL=url,
            BETTER_AUTH_URL=url,
            BETTER_AUTH_SECRET="b" * 40,
            INSFORGE_JWT_SECRET="j" * 40,
            INSFORGE_ANON_KEY="anon_" + "0" * 64,
            INSFORGE_API_KEY="ik_" + "0" * 64,
        )

    line = one_line_error(result)
    assert f"127.0.0.1:{port} is not free" in line
    assert setting in line


def test_run_without_an_app_says_to_link_first(
    tmp_path: Path, database_url: str
) -> None:
    line = one_line_error(
        run(
            tmp_path,
            "run",
            DATABASE_URL=database_url,
            BETTER_AUTH_URL="http://127.0.0.1:1",
        )
    )
    assert "cannot load the app 'app:app'" in line
    assert "rowgate link" in line


def test_rotating_without_an_admin_key_says_how_to_give_one(tmp_path: Path) -> None:
    line = one_line_error(run(tmp_path, "keys", "rotate-anon"))
    assert "--api-key" in line
