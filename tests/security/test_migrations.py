"""Migrations under failure, concurrency and crashes (#7, area 5).

Runners are real ``rowgate db migrations up`` processes against a throwaway
database, so two of them really race and one can really be killed with SIGKILL.
A file that should sleep reads how long from ``rowgate_test.sleep``, which only
the runner meant to sleep sets (through ``PGOPTIONS``): every runner applies the
very same file, so no checksum changes between them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from rowgate.migrations import files as mf
from rowgate.migrations.engine import up
from rowgate.migrations.transport import DirectTransport
from tests.conftest import url_for

ROWGATE = Path(sys.executable).with_name("rowgate")
SLEEP = "SELECT pg_sleep(current_setting('rowgate_test.sleep', true)::float);\n"
# Generous: a runner's start-up and a migration each take well under a second.
PROCESS_TIMEOUT = 120


def write(project: Path, **files: str) -> None:
    folder = project / "migrations"
    folder.mkdir(exist_ok=True)
    for filename, text in files.items():
        (folder / filename).write_text(text, newline="")


def runner(
    project: Path, database_url: str, *args: str, sleep: float | None = None
) -> subprocess.Popen[str]:
    """``rowgate db migrations up`` (or ``args``) as a process of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["DATABASE_URL"] = database_url
    if sleep is not None:
        env["PGOPTIONS"] = f"-c rowgate_test.sleep={sleep}"
    command = args or ("up", "--all")
    return subprocess.Popen(
        [str(ROWGATE), "db", "migrations", *command, "--project-dir", str(project)],
        env=env,
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run(project: Path, database_url: str, *args: str) -> tuple[int, str]:
    process = runner(project, database_url, *args)
    output, _ = process.communicate(timeout=PROCESS_TIMEOUT)
    return process.returncode, output


def history(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT version FROM rowgate.schema_migrations ORDER BY version::numeric"
        ).fetchall()
    return [row[0] for row in rows]


def exists(url: str, *names: str) -> list[bool]:
    with psycopg.connect(url) as conn:
        return [
            conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
            == (True,)
            for name in names
        ]


def test_a_failing_file_leaves_nothing_of_itself_and_stops_the_run(
    empty_database_url: str, tmp_path: Path
) -> None:
    write(
        tmp_path,
        **{
            "0002_first.sql": "CREATE TABLE public.first (id int);",
            "0003_broken.sql": (
                "CREATE TABLE public.half (id int);\n"
                "CREATE INDEX half_idx ON public.half (id);\n"
                "INSERT INTO public.first VALUES (1);\n"
                "SELECT no_such_function();\n"
            ),
            "0004_after.sql": "CREATE TABLE public.after (id int);",
        },
    )

    code, output = run(tmp_path, empty_database_url)

    assert code == 1
    assert "0003_broken.sql failed and was not applied" in output
    assert "SQLSTATE 42883" in output
    assert history(empty_database_url) == ["1", "2"]
    assert exists(
        empty_database_url, "public.first", "public.half", "public.half_idx"
    ) == [True, False, False]
    assert exists(empty_database_url, "public.after") == [False]
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute("SELECT count(*) FROM public.first").fetchone() == (0,)


def test_a_file_that_ends_its_own_transaction_is_refused_before_it_runs(
    empty_database_url: str, tmp_path: Path
) -> None:
    # Without the check, the COMMIT made public.early permanent and the failure
    # after it left a half-applied file with no history row.
    write(
        tmp_path,
        **{
            "0002_early.sql": (
                "CREATE TABLE public.early (id int);\n"
                "COMMIT;\n"
                "CREATE TABLE public.late (id int);\n"
                "SELECT no_such_function();\n"
            )
        },
    )

    code, output = run(tmp_path, empty_database_url)

    assert code == 1
    assert "0002_early.sql was not applied" in output
    assert "'COMMIT'" in output
    assert "no-transaction" in output
    assert history(empty_database_url) == ["1"]
    assert exists(empty_database_url, "public.early", "public.late") == [False, False]


@pytest.mark.parametrize(
    "text",
    [
        "CREATE TABLE t (id int);\nCOMMIT;",
        "BEGIN;\nCREATE TABLE t (id int);",
        "begin work; select 1",
        "select 1;\n-- done\ncommit",
        "select 1; /* stop */ END;",
        "ROLLBACK;",
        "ROLLBACK AND CHAIN;",
        "ABORT;",
        "START TRANSACTION ISOLATION LEVEL SERIALIZABLE;",
        "PREPARE TRANSACTION 'x';",
        "COMMIT PREPARED 'x';",
    ],
)
def test_transaction_control_is_found(text: str) -> None:
    assert mf.transaction_control(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "SAVEPOINT a; SELECT 1; ROLLBACK TO SAVEPOINT a; RELEASE a;",
        "DO $$ BEGIN PERFORM 1; END $$;",
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $f$ BEGIN RETURN 1; "
        "END $f$;",
        "CREATE FUNCTION g() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n"
        "  SELECT 2;\nEND;\nSELECT 3;",
        "CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC END; SELECT 1;",
        "COMMENT ON TABLE t IS 'COMMIT; BEGIN;'; SELECT 'END';",
        "-- COMMIT;\nSELECT 1;",
    ],
)
def test_ordinary_sql_is_not_transaction_control(text: str) -> None:
    assert mf.transaction_control(text) is None


def test_an_edited_applied_file_is_refused_with_a_clear_error(
    empty_database_url: str, tmp_path: Path
) -> None:
    original = "CREATE TABLE public.a (id int);\n-- the first version\n"
    write(tmp_path, **{"0002_a.sql": original})
    assert run(tmp_path, empty_database_url)[0] == 0
    # Line endings alone are not an edit: a checkout on Windows must not drift.
    write(
        tmp_path,
        **{
            "0002_a.sql": original.replace("\n", "\r\n"),
            "0003_b.sql": "CREATE TABLE public.b (id int);",
        },
    )
    crlf = run(tmp_path, empty_database_url)
    write(
        tmp_path,
        **{
            "0002_a.sql": original.replace("first", "second"),
            "0004_c.sql": "CREATE TABLE public.c (id int);",
        },
    )

    code, output = run(tmp_path, empty_database_url)
    shown = run(tmp_path, empty_database_url, "status")[1]

    assert crlf[0] == 0, crlf[1]
    assert code == 1
    assert "0002_a.sql was edited after it was applied" in output
    assert "checksum differs" in output
    assert "--accept-drift" in output
    assert "drifted" in shown
    assert history(empty_database_url) == ["1", "2", "3"]
    assert exists(empty_database_url, "public.c") == [False]


def test_a_no_transaction_file_runs_statement_by_statement(
    empty_database_url: str, tmp_path: Path
) -> None:
    write(
        tmp_path,
        **{
            "0002_xids.sql": (
                "CREATE TABLE public.xids (file text, xid xid8);\n"
                "INSERT INTO public.xids VALUES ('wrapped', pg_current_xact_id());\n"
                "INSERT INTO public.xids VALUES ('wrapped', pg_current_xact_id());\n"
            ),
            "0003_outside.sql": (
                "-- rowgate: no-transaction\n"
                "INSERT INTO public.xids VALUES ('outside', pg_current_xact_id());\n"
                "INSERT INTO public.xids VALUES ('outside', pg_current_xact_id());\n"
                "VACUUM public.xids;\n"
                "CREATE INDEX CONCURRENTLY xids_idx ON public.xids (file);\n"
            ),
        },
    )

    code, output = run(tmp_path, empty_database_url)

    assert code == 0, output
    with psycopg.connect(empty_database_url) as conn:
        rows = conn.execute(
            "SELECT file, count(DISTINCT xid) FROM public.xids GROUP BY file"
        ).fetchall()
    assert dict(rows) == {"wrapped": 1, "outside": 2}
    assert exists(empty_database_url, "public.xids_idx") == [True]
    assert history(empty_database_url) == ["1", "2", "3"]


def test_a_failing_no_transaction_file_is_not_recorded(
    empty_database_url: str, tmp_path: Path
) -> None:
    # Such a file is not all-or-nothing: what ran before the failure stays, and
    # with no history row the next `up` runs the file again.
    write(
        tmp_path,
        **{
            "0002_loose.sql": (
                "-- rowgate: no-transaction\n"
                "CREATE TABLE IF NOT EXISTS public.loose (id int);\n"
                "SELECT no_such_function();\n"
            )
        },
    )

    code, output = run(tmp_path, empty_database_url)

    assert code == 1
    assert "0002_loose.sql failed and was not applied" in output
    assert history(empty_database_url) == ["1"]
    assert exists(empty_database_url, "public.loose") == [True]


def watch_for_a_waiting_runner(url: str, runners: list[subprocess.Popen[str]]) -> bool:
    """Whether, while the runners ran, one of them waited for the other's lock."""
    waited = False
    deadline = time.monotonic() + PROCESS_TIMEOUT
    with psycopg.connect(url, autocommit=True) as conn:
        while any(r.poll() is None for r in runners) and time.monotonic() < deadline:
            blocked = conn.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_database d"
                " ON d.oid = l.database WHERE d.datname = current_database()"
                " AND l.locktype = 'advisory' AND NOT l.granted"
            ).fetchone()
            waited = waited or blocked != (0,)
            time.sleep(0.05)
    return waited


def test_two_runner_processes_apply_each_file_exactly_once(
    empty_database_url: str, tmp_path: Path
) -> None:
    write(
        tmp_path,
        **{
            "0002_slow.sql": SLEEP + "CREATE TABLE public.once (id int);\n",
            "0003_next.sql": "INSERT INTO public.once VALUES (1);\n",
        },
    )

    runners = [runner(tmp_path, empty_database_url, sleep=2) for _ in range(2)]
    waited = watch_for_a_waiting_runner(empty_database_url, runners)
    outputs = [r.communicate(timeout=PROCESS_TIMEOUT)[0] for r in runners]

    assert [r.returncode for r in runners] == [0, 0], outputs
    assert waited, "the runners never overlapped"
    together = "".join(outputs)
    for filename in ("0001_better-auth-bootstrap", "0002_slow", "0003_next"):
        assert together.count(f"applying {filename}.sql") == 1, outputs
    assert history(empty_database_url) == ["1", "2", "3"]
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute("SELECT count(*) FROM public.once").fetchone() == (1,)


def wait_for_sleep(url: str, process: subprocess.Popen[str]) -> None:
    """Until the runner's server process is inside the migration's pg_sleep."""
    deadline = time.monotonic() + PROCESS_TIMEOUT
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[0]
            found = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname ="
                " current_database() AND state = 'active' AND wait_event = 'PgSleep'"
            ).fetchone()
            if found != (0,):
                return
            time.sleep(0.1)
    pytest.fail("the runner never reached the migration's pg_sleep")


def test_a_runner_killed_mid_migration_leaves_a_state_the_next_up_completes(
    empty_database_url: str, tmp_path: Path
) -> None:
    write(
        tmp_path,
        **{
            "0002_long.sql": (
                "CREATE TABLE public.before_sleep (id int);\n"
                + SLEEP
                + "CREATE TABLE public.after_sleep (id int);\n"
            ),
            "0003_last.sql": "CREATE TABLE public.last (id int);\n",
        },
    )
    doomed = runner(tmp_path, empty_database_url, sleep=3600)
    wait_for_sleep(empty_database_url, doomed)

    doomed.send_signal(signal.SIGKILL)
    doomed.communicate(timeout=PROCESS_TIMEOUT)
    # Bounded so that a lock the dead runner still holds fails the test rather
    # than hanging it for the hour the migration would have slept.
    patient = url_for(empty_database_url, options="-c lock_timeout=30s")
    files = mf.sort_and_check([mf.bootstrap(), *mf.discover(tmp_path / "migrations")])
    with DirectTransport(patient) as transport:
        applied = up(transport, files)

    assert doomed.returncode == -signal.SIGKILL
    assert [m.version for m in applied] == [2, 3]
    assert history(empty_database_url) == ["1", "2", "3"]
    assert exists(
        empty_database_url, "public.before_sleep", "public.after_sleep", "public.last"
    ) == [True, True, True]
    with psycopg.connect(empty_database_url) as conn:
        sleeping = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event = 'PgSleep'"
        ).fetchone()
    assert sleeping == (0,)
