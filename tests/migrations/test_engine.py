"""The migration engine against a real server: ordering, atomicity, drift, locking."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

from rowgate.migrations import files as mf
from rowgate.migrations.engine import MigrationError, Status, status, up
from rowgate.migrations.transport import DirectTransport


def write(folder: Path, filename: str, text: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / filename).write_text(text)


def project(tmp_path: Path, **extra: str) -> list[mf.MigrationFile]:
    folder = tmp_path / "migrations"
    for filename, text in extra.items():
        write(folder, filename, text)
    return mf.sort_and_check([mf.bootstrap(), *mf.discover(folder)])


def history(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT version, name FROM rowgate.schema_migrations ORDER BY 1::numeric"
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


def table_exists(url: str, name: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()
    return row is not None and row[0] is not None


def test_up_all_applies_in_order_and_a_rerun_applies_nothing(
    empty_database_url: str, tmp_path: Path
) -> None:
    files = project(
        tmp_path,
        **{
            "0002_notes.sql": "CREATE TABLE public.notes (id int PRIMARY KEY);",
            "10_more.sql": "ALTER TABLE public.notes ADD COLUMN body text;",
        },
    )
    with DirectTransport(empty_database_url) as transport:
        first = up(transport, files)
        second = up(transport, files)

    assert [m.version for m in first] == [1, 2, 10]
    assert second == []
    assert history(empty_database_url) == [
        ("1", "better-auth-bootstrap"),
        ("2", "notes"),
        ("10", "more"),
    ]


def test_files_run_as_project_admin_and_the_bootstrap_as_owner(
    empty_database_url: str, tmp_path: Path
) -> None:
    files = project(tmp_path, **{"0002_t.sql": "CREATE TABLE public.t (id int);"})
    with DirectTransport(empty_database_url) as transport:
        up(transport, files)
    with psycopg.connect(empty_database_url) as conn:
        owner = conn.execute(
            "SELECT tableowner FROM pg_tables WHERE tablename = 't'"
        ).fetchone()
        grants = conn.execute(
            "SELECT has_table_privilege('authenticated', 'public.t', 'SELECT')"
        ).fetchone()
    assert owner == ("project_admin",)
    assert grants == (True,)


def test_up_to_an_applied_target_with_later_pending_succeeds(
    empty_database_url: str, tmp_path: Path
) -> None:
    files = project(tmp_path, **{"0002_a.sql": "CREATE TABLE public.a (id int);"})
    with DirectTransport(empty_database_url) as transport:
        assert [m.version for m in up(transport, files, to=1)] == [1]
        assert up(transport, files, to=1) == []
        assert [m.version for m in up(transport, files)] == [2]


def test_a_failing_statement_leaves_no_schema_and_no_history(
    empty_database_url: str, tmp_path: Path
) -> None:
    files = project(
        tmp_path,
        **{
            "0002_broken.sql": (
                "CREATE TABLE public.half (id int);\nSELECT no_such_function();\n"
            )
        },
    )
    with DirectTransport(empty_database_url) as transport:
        up(transport, files, to=1)
        with pytest.raises(MigrationError, match=r"0002_broken\.sql failed"):
            up(transport, files)

    assert not table_exists(empty_database_url, "public.half")
    assert history(empty_database_url) == [("1", "better-auth-bootstrap")]


def test_an_edited_applied_file_is_refused_unless_accepted(
    empty_database_url: str, tmp_path: Path
) -> None:
    files = project(tmp_path, **{"0002_a.sql": "CREATE TABLE public.a (id int);"})
    with DirectTransport(empty_database_url) as transport:
        up(transport, files)
    edited = project(
        tmp_path, **{"0002_a.sql": "CREATE TABLE public.a (id int, x int);"}
    )

    with DirectTransport(empty_database_url) as transport:
        entries = status(edited, transport.applied())
        with pytest.raises(MigrationError, match="edited after it was applied"):
            up(transport, edited)
        assert up(transport, edited, accept_drift=True) == []
        accepted = status(edited, transport.applied())

    assert [e.status for e in entries] == [Status.APPLIED, Status.DRIFTED]
    assert [e.status for e in accepted] == [Status.APPLIED, Status.APPLIED]


def test_a_version_older_than_the_applied_head_is_refused(
    empty_database_url: str, tmp_path: Path
) -> None:
    files = project(tmp_path, **{"0005_e.sql": "CREATE TABLE public.e (id int);"})
    with DirectTransport(empty_database_url) as transport:
        up(transport, files)
    late = project(tmp_path, **{"0003_c.sql": "CREATE TABLE public.c (id int);"})

    with (
        DirectTransport(empty_database_url) as transport,
        pytest.raises(MigrationError, match="older than the applied head"),
    ):
        up(transport, late)
    assert not table_exists(empty_database_url, "public.c")


def test_a_no_transaction_file_runs_outside_a_transaction(
    empty_database_url: str, tmp_path: Path
) -> None:
    files = project(
        tmp_path,
        **{
            "0002_t.sql": "CREATE TABLE public.big (id int, v text);",
            "0003_idx.sql": (
                "-- rowgate: no-transaction\n"
                "CREATE INDEX CONCURRENTLY big_v_idx ON public.big (v);\n"
                "CREATE INDEX CONCURRENTLY big_id_idx ON public.big (id);\n"
            ),
        },
    )
    with DirectTransport(empty_database_url) as transport:
        up(transport, files)
    assert table_exists(empty_database_url, "public.big_v_idx")
    assert table_exists(empty_database_url, "public.big_id_idx")


def test_two_runners_at_once_apply_each_file_exactly_once(
    empty_database_url: str, tmp_path: Path
) -> None:
    files = project(
        tmp_path,
        **{
            "0002_slow.sql": (
                "SELECT pg_sleep(0.5);\nCREATE TABLE public.once (id int);\n"
            )
        },
    )
    results: list[list[int]] = []
    failures: list[BaseException] = []

    def run() -> None:
        try:
            with DirectTransport(empty_database_url) as transport:
                results.append([m.version for m in up(transport, files)])
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    assert sorted(results) == [[], [1, 2]]
    assert len(history(empty_database_url)) == 2


def test_bad_names_duplicates_and_empty_files_are_clear_errors(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    write(folder, "0002_Bad_Name.sql", "select 1;")
    with pytest.raises(mf.MigrationFileError, match="Invalid migration filename"):
        mf.discover(folder)

    (folder / "0002_Bad_Name.sql").unlink()
    write(folder, "0002_a.sql", "select 1;")
    write(folder, "02_b.sql", "select 1;")
    with pytest.raises(mf.MigrationFileError, match="Duplicate migration version 2"):
        mf.discover(folder)

    (folder / "02_b.sql").unlink()
    write(folder, "0003_empty.sql", "  \n")
    with pytest.raises(mf.MigrationFileError, match="empty"):
        mf.discover(folder)


def test_versions_compare_numerically_and_targets_resolve(tmp_path: Path) -> None:
    files = project(tmp_path, **{"0009_a.sql": "select 1;", "10_b.sql": "select 1;"})
    assert [f.version for f in files] == [1, 9, 10]
    assert mf.resolve_target(files, "0001") == 1
    assert mf.resolve_target(files, "10_b.sql") == 10
    assert mf.next_filename(files, "next-one", applied_head=0) == "0011_next-one.sql"
    with pytest.raises(mf.MigrationFileError):
        mf.next_filename(files, "Bad Name", applied_head=0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("select 1; select 2;", ["select 1", "select 2"]),
        ("select ';'; select 2", ["select ';'", "select 2"]),
        ('select 1 as "a;b"', ['select 1 as "a;b"']),
        (
            "create function f() returns int as $x$ select 1; $x$ language sql;",
            ["create function f() returns int as $x$ select 1; $x$ language sql"],
        ),
        ("-- only a comment;\n", []),
        ("/* a; b */ select 1", ["/* a; b */ select 1"]),
    ],
)
def test_split_statements_respects_quotes_and_comments(
    text: str, expected: list[str]
) -> None:
    assert mf.split_statements(text) == expected


def test_each_applied_file_tells_the_data_api_to_reload_its_schema(
    empty_database_url: str, tmp_path: Path
) -> None:
    files = project(
        tmp_path,
        **{"0002_notes.sql": "CREATE TABLE public.notes (id int PRIMARY KEY);"},
    )
    with psycopg.connect(empty_database_url, autocommit=True) as listener:
        listener.execute("LISTEN pgrst")
        with DirectTransport(empty_database_url) as transport:
            up(transport, files)
        heard = [n.payload for n in listener.notifies(timeout=2, stop_after=2)]

    assert heard == ["reload schema", "reload schema"]
