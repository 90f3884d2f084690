"""What a benchmark runs against: a throwaway database, seeded users and sessions,
and the servers, each in its own process.

The database is created on the server named by ``ROWGATE_BENCH_DATABASE_URL``
(default: the local one), brought to the demo's state by the product's own
``setup`` chain, and dropped with ``FORCE`` at the end. Sessions are written
straight into ``better_auth.session`` and their cookies signed with the product's
cookie code, so seeding costs no password hashing; the users that sign in get
real password hashes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import psutil
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from rowgate.auth import cookies
from rowgate.auth.passwords import hash_password_blocking
from rowgate.auth.tokens import generate_id, generate_session_token
from rowgate.bridge.token import mint_token
from rowgate.config import new_admin_key, new_anon_key, new_secret
from rowgate.provision import project_migrations, setup

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
NODE_DIR = ROOT / "node"
SERVER_URL = os.environ.get(
    "ROWGATE_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
PASSWORD = "correct horse battery staple"  # noqa: S105 (seeded test users)
COOKIE = "better-auth.session_token"
START_TIMEOUT = 30.0
_ROUTINE = re.compile(r'HTTP/1\.1" \d{3}|^INFO: | INFO |listening on|^\s*$')


def url_for(database_url: str, **changes: str) -> str:
    """``database_url`` with some parameters replaced, as a ``postgresql://`` URL
    (the one form both libpq and Node's ``pg`` read)."""
    params = {k: str(v) for k, v in conninfo_to_dict(database_url).items()}
    params.update(changes)
    user = quote(params.pop("user", "postgres"), safe="")
    password = params.pop("password", None)
    userinfo = user if password is None else f"{user}:{quote(password, safe='')}"
    host = params.pop("host", "127.0.0.1")
    port = params.pop("port", "5432")
    dbname = quote(params.pop("dbname", "postgres"), safe="")
    query = f"?{urlencode(params)}" if params else ""
    return f"postgresql://{userinfo}@{host}:{port}/{dbname}{query}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def throwaway_database() -> Iterator[str]:
    """A new database set up as ``rowgate setup`` leaves one; dropped on exit."""
    name = f"rowgate_bench_{secrets.token_hex(4)}"
    with psycopg.connect(SERVER_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = url_for(SERVER_URL, dbname=name)
    try:
        prepare_database(url)
        yield url
    finally:
        with psycopg.connect(SERVER_URL, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )


def prepare_database(url: str) -> None:
    """Bootstrap, auth tables and the demo's posts table, by the product's setup."""
    with tempfile.TemporaryDirectory() as empty:
        setup(url, project_migrations(Path(empty)))


@dataclass(frozen=True)
class Secrets:
    auth: str
    jwt: str
    anon_key: str
    api_key: str

    @classmethod
    def fresh(cls) -> Secrets:
        return cls(new_secret(), new_secret(), new_anon_key(), new_admin_key())


@dataclass(frozen=True)
class SeedUser:
    id: str
    email: str
    cookies: list[str]
    tokens: list[str]

    def cookie_header(self, index: int = 0) -> str:
        return f"{COOKIE}={self.cookies[index % len(self.cookies)]}"

    def bearer(self, jwt_secret: str) -> str:
        return "Bearer " + mint_token(self.id, jwt_secret, lifetime=86400)


def seed_users(
    url: str, secret: str, *, users: int, sessions_each: int, posts_each: int = 0
) -> list[SeedUser]:
    """Users with a real password hash, live sessions and (optionally) posts."""
    password_hash = hash_password_blocking(PASSWORD)
    made: list[SeedUser] = []
    with psycopg.connect(url) as conn:
        for _ in range(users):
            user_id = generate_id()
            email = f"bench-{user_id.lower()}@example.com"
            _insert_user(conn, user_id, email, password_hash)
            tokens = [generate_session_token() for _ in range(sessions_each)]
            conn.cursor().executemany(
                'INSERT INTO better_auth.session (id, token, "userId", '
                '"expiresAt", "createdAt", "updatedAt", "ipAddress", '
                "\"userAgent\") VALUES (%s, %s, %s, now() + interval '7 days', "
                "now(), now(), '', '')",
                [(generate_id(), token, user_id) for token in tokens],
            )
            _insert_posts(conn, user_id, posts_each)
            signed = [cookies.sign(token, secret) for token in tokens]
            made.append(SeedUser(user_id, email, signed, tokens))
    return made


def _insert_user(
    conn: psycopg.Connection[Any], user_id: str, email: str, password_hash: str
) -> None:
    conn.execute(
        'INSERT INTO better_auth."user" (id, name, email, "emailVerified", '
        '"createdAt", "updatedAt") VALUES (%s, %s, %s, false, now(), now())',
        (user_id, "Bench User", email),
    )
    conn.execute(
        'INSERT INTO better_auth.account (id, "accountId", "providerId", "userId", '
        'password, "createdAt", "updatedAt") '
        "VALUES (%s, %s, 'credential', %s, %s, now(), now())",
        (generate_id(), user_id, user_id, password_hash),
    )


def _insert_posts(conn: psycopg.Connection[Any], user_id: str, count: int) -> None:
    if count:
        conn.execute(
            "INSERT INTO public.posts (user_id, title, body) SELECT %s, "
            "'post ' || n, repeat('lorem ipsum ', 8) FROM generate_series(1, %s) n",
            (user_id, count),
        )


def copy_auth_rows(source: str, target: str) -> None:
    """Copy users, accounts and sessions from ``source`` to ``target``, so the
    same cookies are valid against both databases."""
    with psycopg.connect(source) as src, psycopg.connect(target) as dst:
        for table in ("user", "account", "session"):
            name = sql.Identifier("better_auth", table)
            out = sql.SQL("COPY {} TO STDOUT (FORMAT BINARY)").format(name)
            into = sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(name)
            with src.cursor().copy(out) as reader, dst.cursor().copy(into) as writer:
                for data in reader:
                    writer.write(data)


def pad_sessions(url: str, total: int) -> int:
    """Add filler sessions (spread over the existing users) until
    ``better_auth.session`` holds ``total`` rows; returns the count reached.

    The table is vacuumed and the cluster checkpointed before returning: left to
    themselves, autovacuum and the checkpointer would work through the new rows
    during the measured rounds and bill the larger table for the machine's noise.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM better_auth.session").fetchone()
        have = int(row[0]) if row else 0
        if have < total:
            conn.execute(
                'INSERT INTO better_auth.session (id, token, "userId", '
                '"expiresAt", "createdAt", "updatedAt", "ipAddress", "userAgent") '
                "SELECT md5('id' || n), md5('token' || n) || md5('salt' || n), "
                "u.ids[1 + n %% cardinality(u.ids)], now() + interval '7 days', "
                "now(), now(), '', '' FROM generate_series(1, %s) n, "
                '(SELECT array_agg(id) AS ids FROM better_auth."user") u',
                (total - have,),
            )
            conn.execute("VACUUM (ANALYZE) better_auth.session")
            conn.execute("CHECKPOINT")
        row = conn.execute("SELECT count(*) FROM better_auth.session").fetchone()
        return int(row[0]) if row else 0


def count_sessions(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM better_auth.session").fetchone()
    return int(row[0]) if row else 0


def lookup_ms(url: str, tokens: list[str], repeat: int = 2000) -> float:
    """Median milliseconds of the session-by-token lookup get-session makes
    (session joined to its user), run ``repeat`` times on one connection,
    prepared as the server's driver prepares it (planned once, not per query:
    planning reads the table's statistics, which grow with it)."""
    query = (
        'SELECT s.*, u.* FROM better_auth.session AS s JOIN better_auth."user" '
        'AS u ON u.id = s."userId" WHERE s.token = %s'
    )
    timings: list[float] = []
    with psycopg.connect(url) as conn:
        for index in range(repeat):
            started = time.perf_counter()
            conn.execute(query, (tokens[index % len(tokens)],), prepare=True).fetchone()
            timings.append(time.perf_counter() - started)
            conn.rollback()
    return round(1000.0 * statistics.median(timings), 4)


def count_connections(url: str) -> dict[str, int]:
    """Backends connected to ``url``'s database other than this one, by state."""
    dbname = conninfo_to_dict(url).get("dbname")
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT coalesce(state, 'none'), count(*) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend' GROUP BY 1",
            (dbname,),
        ).fetchall()
    return {str(state): int(n) for state, n in rows}


class Server:
    """A server process on a loopback port, stopped by SIGTERM (then SIGKILL)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int):
        self.name = name
        self.port = port
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed in stop)
            prefix=f"bench-{name}-", suffix=".log", delete=False
        )
        self.process = subprocess.Popen(
            argv,
            env=env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_listening()

    @property
    def log_path(self) -> str:
        return self._log.name

    def rss_mib(self) -> float:
        """Resident memory of the server and its children, in MiB."""
        parent = psutil.Process(self.process.pid)
        total = parent.memory_info().rss
        total += sum(child.memory_info().rss for child in parent.children(True))
        return round(total / 2**20, 1)

    def cpu_seconds(self) -> float:
        """CPU time the server (and its children) has used so far."""
        parent = psutil.Process(self.process.pid)
        total = 0.0
        for process in (parent, *parent.children(True)):
            times = process.cpu_times()
            total += times.user + times.system
        return total

    def problems(self, limit: int = 40) -> list[str]:
        """The log's lines other than start-up chatter and access lines."""
        found: list[str] = []
        with open(self._log.name, encoding="utf-8", errors="replace") as log:
            for line in log:
                if not _ROUTINE.search(line):
                    found.append(line.rstrip())
                    if len(found) >= limit:
                        break
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self._log.close()
        os.unlink(self._log.name)

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                text = Path(self._log.name).read_text(errors="replace")
                self.stop()
                raise RuntimeError(f"{self.name} exited at start:\n{text[-3000:]}")
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not listen within {START_TIMEOUT}s")


def rowgate_env(
    url: str, keys: Secrets, app_port: int, backend_port: int
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(
        DATABASE_URL=url,
        BETTER_AUTH_SECRET=keys.auth,
        BETTER_AUTH_URL=f"http://127.0.0.1:{app_port}",
        INSFORGE_JWT_SECRET=keys.jwt,
        INSFORGE_BASE_URL=f"http://127.0.0.1:{backend_port}",
        INSFORGE_ANON_KEY=keys.anon_key,
        INSFORGE_API_KEY=keys.api_key,
        # Off as in the Better Auth server beside it: a benchmark from one
        # loopback address measures work, not refusals.
        ROWGATE_RATE_LIMIT="off",
    )
    return env


def start_rowgate(kind: str, url: str, keys: Secrets) -> Server:
    """``app`` (auth and bridge) or ``backend`` (data API) on a free port."""
    port = free_port()
    env = rowgate_env(url, keys, port, port)
    argv = [sys.executable, "-m", "benchmarks.serve", kind, str(port)]
    return Server(f"rowgate-{kind}", argv, env, port)


def node_ready() -> bool:
    return (NODE_DIR / "node_modules" / "better-auth" / "package.json").is_file()


def install_node() -> None:
    """``npm ci`` from the lock file, with the project's npm cache."""
    cache = REPO / ".cache" / "npm"
    subprocess.run(
        ["npm", "ci", "--cache", str(cache), "--no-audit", "--no-fund"],
        cwd=NODE_DIR,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def start_better_auth(url: str, keys: Secrets) -> Server:
    """The reference Better Auth server (one Node process) on a free port."""
    if not node_ready():
        install_node()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(
        DATABASE_URL=url,
        BETTER_AUTH_SECRET=keys.auth,
        BETTER_AUTH_URL=f"http://127.0.0.1:{port}",
        PORT=str(port),
        NODE_ENV="production",
    )
    argv = ["node", str(NODE_DIR / "server.mjs")]
    return Server("better-auth", argv, env, port)


def sign_in_body(email: str) -> str:
    return json.dumps({"email": email, "password": PASSWORD})
