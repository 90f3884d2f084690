"""The embedded Postgres launcher, exercised against real server processes."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

import rowgate
from rowgate.db.embedded import SYSTEM_USER, EmbeddedPostgres, EmbeddedPostgresError

pytestmark = pytest.mark.embedded

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs to run as root")


def _new_base() -> Path:
    # pytest's tmp_path sits under a 0700 directory, which the server's
    # unprivileged account could not traverse when the tests run as root.
    base = Path(tempfile.mkdtemp(dir="/tmp", prefix="rowgate-embedded-"))
    base.chmod(0o755)
    return base


def _postmaster_pid(root: Path) -> int:
    return int((root / "pgdata" / "postmaster.pid").read_text().split()[0])


def _port(url: str) -> int:
    return int(conninfo_to_dict(url)["port"])


def _wait_until_stopped(server: EmbeddedPostgres, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while server.is_running():
        assert time.monotonic() < deadline, "server did not die"
        time.sleep(0.05)


def _run_child(code: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    src = str(Path(rowgate.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


@pytest.fixture(scope="module")
def shared_root() -> Iterator[Path]:
    """One cluster for most tests, so initdb runs once."""
    base = _new_base()
    root = base / ".rowgate"
    try:
        yield root
    finally:
        try:
            EmbeddedPostgres(root).stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg(shared_root: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(shared_root)
    try:
        yield server
    finally:
        server.stop()


def test_data_and_port_survive_a_restart(pg: EmbeddedPostgres) -> None:
    url = pg.start()
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE restart_check (note text)")
        conn.execute("INSERT INTO restart_check VALUES ('kept')")
    pg.stop()
    assert not pg.is_running()

    assert pg.start() == url
    assert _port(pg.url) == _port(url)
    with psycopg.connect(pg.url) as conn:
        row = conn.execute("SELECT note FROM restart_check").fetchone()
        assert row == ("kept",)
        db = conn.execute("SELECT current_database(), current_user").fetchone()
        assert db == ("rowgate", "rowgate")
        encoding = conn.execute("SHOW server_encoding").fetchone()
        assert encoding == ("UTF8",)


def test_start_twice_is_idempotent(pg: EmbeddedPostgres, shared_root: Path) -> None:
    first = pg.start()
    pid = _postmaster_pid(shared_root)
    assert pg.start() == first
    assert _postmaster_pid(shared_root) == pid
    assert pg.is_running()


def test_second_object_reuses_the_running_server(
    pg: EmbeddedPostgres, shared_root: Path
) -> None:
    url = pg.start()
    pid = _postmaster_pid(shared_root)
    other = EmbeddedPostgres(shared_root)
    assert other.is_running()
    assert other.start() == url
    assert _postmaster_pid(shared_root) == pid


def test_server_outlives_a_killed_parent_and_is_reused(
    pg: EmbeddedPostgres, shared_root: Path
) -> None:
    pg.stop()
    child = _run_child(
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from rowgate.db.embedded import EmbeddedPostgres\n"
        f"print(EmbeddedPostgres(Path({str(shared_root)!r})).start(), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    pid = _postmaster_pid(shared_root)
    assert pg.is_running()
    assert pg.start() == child.stdout.strip()
    assert _postmaster_pid(shared_root) == pid


def test_recovers_after_postmaster_is_killed(
    pg: EmbeddedPostgres, shared_root: Path
) -> None:
    url = pg.start()
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE crash_check (n int)")
        conn.execute("INSERT INTO crash_check SELECT generate_series(1, 1000)")
    pid = _postmaster_pid(shared_root)

    os.kill(pid, signal.SIGKILL)
    _wait_until_stopped(pg)
    assert (shared_root / "pgdata" / "postmaster.pid").exists()

    assert pg.start() == url
    assert _postmaster_pid(shared_root) != pid
    with psycopg.connect(pg.url) as conn:
        assert conn.execute("SELECT count(*) FROM crash_check").fetchone() == (1000,)


def test_recovers_when_the_pid_was_reused_by_another_program(
    pg: EmbeddedPostgres, shared_root: Path
) -> None:
    url = pg.start()
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE reuse_check (n int)")
        conn.execute("INSERT INTO reuse_check VALUES (7)")
    pid_path = shared_root / "pgdata" / "postmaster.pid"
    lines = pid_path.read_text().splitlines()
    owner = pid_path.stat()
    pg.stop()

    impostor = subprocess.Popen(["sleep", "60"])
    try:
        pid_path.write_text("\n".join([str(impostor.pid), *lines[1:]]) + "\n")
        os.chown(pid_path, owner.st_uid, owner.st_gid)
        assert not pg.is_running()

        assert pg.start() == url
        assert _postmaster_pid(shared_root) != impostor.pid
        with psycopg.connect(pg.url) as conn:
            assert conn.execute("SELECT n FROM reuse_check").fetchone() == (7,)
    finally:
        impostor.kill()
        impostor.wait()


def test_taken_port_is_replaced_and_remembered(
    pg: EmbeddedPostgres, shared_root: Path
) -> None:
    old_port = _port(pg.start())
    pg.stop()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", old_port))
        squatter.listen()
        new_port = _port(pg.start())
    assert new_port != old_port
    state = json.loads((shared_root / "embedded.json").read_text())
    assert state["port"] == new_port
    pg.stop()
    assert _port(pg.start()) == new_port


def test_tcp_access_needs_the_generated_password(
    pg: EmbeddedPostgres, shared_root: Path
) -> None:
    pg.start()
    state_file = shared_root / "embedded.json"
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    password = json.loads(state_file.read_text())["password"]
    assert password in pg.tcp_url

    with psycopg.connect(pg.tcp_url) as conn:
        row = conn.execute(
            "SELECT host(inet_server_addr()), current_setting('listen_addresses')"
        ).fetchone()
        assert row == ("127.0.0.1", "127.0.0.1")
    port = _port(pg.url)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(
            f"postgresql://rowgate@127.0.0.1:{port}/rowgate", connect_timeout=5
        ).close()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(
            f"postgresql://rowgate:wrong@127.0.0.1:{port}/rowgate", connect_timeout=5
        ).close()


def test_stop_when_not_running_is_a_no_op(
    pg: EmbeddedPostgres, shared_root: Path
) -> None:
    pg.start()
    pg.stop()
    pg.stop()
    assert not pg.is_running()
    never = shared_root.parent / "never-started"
    EmbeddedPostgres(never).stop()
    assert not EmbeddedPostgres(never).is_running()
    assert not never.exists()


def test_url_requires_start(shared_root: Path) -> None:
    with pytest.raises(EmbeddedPostgresError):
        _ = EmbeddedPostgres(shared_root).url


def test_context_manager_stops_on_exit(shared_root: Path) -> None:
    server = EmbeddedPostgres(shared_root, database="other_db")
    with server as url:
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("other_db",)
        assert server.is_running()
    assert not server.is_running()


@as_root
def test_runs_as_an_unprivileged_user_under_root(
    pg: EmbeddedPostgres, shared_root: Path
) -> None:
    before = shared_root.parent.stat()
    pg.start()
    account = pwd.getpwnam(SYSTEM_USER)
    assert (shared_root / "pgdata").stat().st_uid == account.pw_uid
    assert shared_root.stat().st_uid == 0
    after = shared_root.parent.stat()
    assert (after.st_uid, after.st_mode) == (before.st_uid, before.st_mode)
    status = Path(f"/proc/{_postmaster_pid(shared_root)}/status").read_text()
    uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    assert uid_line.split()[1:] == [str(account.pw_uid)] * 4


def test_long_root_falls_back_to_a_short_socket_dir() -> None:
    base = _new_base()
    root = base / ("a" * 50) / ("b" * 50) / ".rowgate"
    root.parent.mkdir(parents=True)
    for directory in (root.parent, root.parent.parent):
        directory.chmod(0o755)
    server = EmbeddedPostgres(root)
    socket_dir: str | None = None
    try:
        url = server.start()
        socket_dir = conninfo_to_dict(url)["host"]
        assert socket_dir is not None
        assert socket_dir.startswith("/tmp/rowgate-")  # noqa: S108
        assert stat.S_IMODE(os.stat(socket_dir).st_mode) == 0o700
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        server.stop()
        assert server.start() == url
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
        if socket_dir:
            shutil.rmtree(socket_dir, ignore_errors=True)


@as_root
def test_untraversable_parent_is_reported_not_chmodded() -> None:
    base = _new_base()
    private = base / "private"
    private.mkdir()
    private.chmod(0o700)
    try:
        with pytest.raises(EmbeddedPostgresError, match="cannot traverse") as caught:
            EmbeddedPostgres(private / ".rowgate").start()
        assert str(private) in str(caught.value)
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
        assert private.stat().st_uid == 0
    finally:
        shutil.rmtree(base, ignore_errors=True)
