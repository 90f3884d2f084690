"""Interoperability with Better Auth itself, on loopback.

(a) Better Auth's JS client (``createAuthClient``) runs one scenario against
rowgate and against a real Better Auth server; every call must answer the
same. (b) Better Auth and rowgate share one ``better_auth`` schema: users,
password hashes, session cookies and cookie-cache copies made by either are
accepted by the other.

The Node side lives in ``tests/interop`` (``npm ci --prefix tests/interop``);
these tests skip only when ``node`` itself is missing. Every server they
start listens on a free 127.0.0.1 port and is stopped when the test ends.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest
import uvicorn
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.routing import Mount

from rowgate.auth.app import Auth
from rowgate.auth.options import (
    AuthOptions,
    CookieCacheOptions,
    CookieCacheStrategy,
    RateLimitOptions,
)
from tests.conftest import throwaway_database

INTEROP = Path(__file__).resolve().parents[1] / "interop"
NODE = shutil.which("node")
SECRET = "interop-shared-secret-0123456789abcdefghijklmnop"
PASSWORD = "correct horse battery staple"
START_TIMEOUT = 20.0

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


@pytest.fixture(scope="module", autouse=True)
def node_modules() -> None:
    if not (INTEROP / "node_modules" / "better-auth").is_dir():
        pytest.fail(
            "the interop packages are not installed: run "
            "npm ci --prefix tests/interop (scripts/test does it)"
        )


def node_url(conninfo: str) -> str:
    """A ``postgresql://`` URL for node-postgres from a libpq conninfo string."""
    params = conninfo_to_dict(conninfo)
    user = quote(str(params.get("user", "postgres")), safe="")
    password = params.get("password")
    auth = f"{user}:{quote(str(password), safe='')}" if password else user
    host, port = params.get("host", "127.0.0.1"), params.get("port", "5432")
    return f"postgresql://{auth}@{host}:{port}/{quote(str(params['dbname']), safe='')}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# -- servers -----------------------------------------------------------------


@contextmanager
def better_auth_server(
    database_url: str,
    *,
    cache: str = "off",
    migrate: bool = False,
    rate_limit: str = "",
) -> Iterator[str]:
    """A real Better Auth server on ``database_url``; yields its base URL."""
    assert NODE is not None
    port = free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "BA_DATABASE_URL": node_url(database_url),
        "BA_SECRET": SECRET,
        "BA_PORT": str(port),
        "BA_COOKIE_CACHE": cache,
        "BA_MIGRATE": "1" if migrate else "0",
        "BA_RATE_LIMIT": rate_limit,
    }
    process = subprocess.Popen(
        [NODE, str(INTEROP / "better_auth_server.mjs")],
        cwd=INTEROP,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("listening"):
            _, err = process.communicate(timeout=START_TIMEOUT)
            raise RuntimeError(f"Better Auth server did not start: {line}{err}")
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.stdin:
        process.stdin.close()
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    for stream in (process.stdout, process.stderr):
        if stream:
            stream.close()


@contextmanager
def rowgate_server(
    database_url: str,
    *,
    cache: CookieCacheOptions | None = None,
    rate_limit: RateLimitOptions | None = None,
    trusted_proxies: tuple[str, ...] = (),
) -> Iterator[str]:
    """rowgate's auth core under uvicorn in a thread; yields its base URL."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    options = AuthOptions(
        secret=SECRET,
        base_url=base_url,
        cookie_cache=cache or CookieCacheOptions(),
        rate_limit=rate_limit or RateLimitOptions(),
        trusted_proxies=trusted_proxies,
    )
    pool = AsyncConnectionPool(database_url, min_size=1, max_size=4, open=False)
    auth = Auth(options, pool)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await pool.open(wait=True, timeout=15)
        try:
            yield
        finally:
            await pool.close()

    app = Starlette(routes=[Mount("/api/auth", app=auth)], lifespan=lifespan)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("rowgate server did not start")
            time.sleep(0.05)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@contextmanager
def better_auth_database() -> Iterator[str]:
    """An empty database with a ``better_auth`` schema for Better Auth to fill."""
    with throwaway_database(bootstrap=False) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE SCHEMA better_auth")
        yield url


# -- (a) the JS client against both servers -----------------------------------


def run_client(base_url: str) -> list[dict[str, Any]]:
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(INTEROP / "better_auth_client.mjs"), base_url],
        cwd=INTEROP,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    steps: list[dict[str, Any]] = json.loads(done.stdout)
    return steps


def test_js_client_gets_the_same_answers_from_rowgate_and_better_auth() -> None:
    with better_auth_database() as theirs, throwaway_database(bootstrap=True) as ours:
        with better_auth_server(theirs, migrate=True) as url:
            expected = run_client(url)
        with rowgate_server(ours) as url:
            got = run_client(url)

    assert [s["step"] for s in got] == [s["step"] for s in expected]
    differences = [
        f"{want['step']}:\n  Better Auth: {json.dumps(want)}\n  rowgate:     "
        f"{json.dumps(have)}"
        for want, have in zip(expected, got, strict=True)
        if want != have
    ]
    assert not differences, "\n".join(differences)
    # The scenario itself went as Better Auth says it should.
    by_step = {s["step"]: s for s in expected}
    assert by_step["sign-up-duplicate"]["error"]["status"] == 422
    assert by_step["get-session-after-update"]["data"]["user"]["name"] == (
        "Renamed User"
    )
    assert by_step["sign-in-old-password"]["error"]["status"] == 401
    assert len(by_step["list-sessions"]["data"]) == 3
    assert by_step["revoke-kept-the-current-session"]["data"] is True
    assert by_step["second-browser-get-session"]["data"] is None
    assert by_step["get-session-after-sign-out"]["data"] is None


def test_rate_limit_answers_as_better_auths(shared_database: str) -> None:
    body = {"email": "nobody-here@example.com", "password": PASSWORD}
    answers: list[list[httpx.Response]] = []
    with (
        better_auth_server(shared_database, rate_limit="memory") as theirs,
        rowgate_server(
            shared_database, rate_limit=RateLimitOptions(enabled=True)
        ) as ours,
        httpx.Client(timeout=30) as http,
    ):
        for url in (theirs, ours):
            answers.append(
                [
                    http.post(f"{url}/api/auth/sign-in/email", json=body)
                    for _ in range(4)
                ]
            )
    expected, got = answers
    assert [r.status_code for r in got] == [r.status_code for r in expected]
    assert [r.status_code for r in got] == [401, 401, 401, 429]
    assert got[3].json() == expected[3].json()
    assert got[3].headers["content-type"] == expected[3].headers["content-type"]
    assert 1 <= int(got[3].headers["x-retry-after"]) <= 10
    assert 1 <= int(expected[3].headers["x-retry-after"]) <= 10


# -- (b) one database, two servers ----------------------------------------------


def sign_up(
    client: httpx.Client, base_url: str, email: str, **extra: str
) -> httpx.Response:
    body = {"name": "Shared User", "email": email, "password": PASSWORD, **extra}
    return client.post(
        f"{base_url}/api/auth/sign-up/email", json=body, headers={"Origin": base_url}
    )


def sign_in(client: httpx.Client, base_url: str, email: str) -> httpx.Response:
    body = {"email": email, "password": PASSWORD}
    return client.post(
        f"{base_url}/api/auth/sign-in/email", json=body, headers={"Origin": base_url}
    )


def get_session(
    client: httpx.Client, base_url: str, cookies: dict[str, str], query: str = ""
) -> Any:
    header = "; ".join(f"{k}={v}" for k, v in cookies.items())
    response = client.get(
        f"{base_url}/api/auth/get-session{query}", headers={"Cookie": header}
    )
    assert response.status_code == 200, response.text
    return response.json()


def cookies_of(response: httpx.Response) -> dict[str, str]:
    jar: dict[str, str] = {}
    for line in response.headers.get_list("set-cookie"):
        name, _, rest = line.partition("=")
        jar[name] = rest.split(";", 1)[0]
    return jar


@pytest.fixture(scope="module")
def shared_database() -> Iterator[str]:
    """A database whose auth tables rowgate created; Better Auth uses them."""
    with throwaway_database(bootstrap=True) as url:
        yield url


def test_better_auth_finds_nothing_to_migrate_in_rowgates_schema(
    shared_database: str,
) -> None:
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(INTEROP / "better_auth_migrations.mjs")],
        cwd=INTEROP,
        env={"PATH": "/usr/bin:/bin", "BA_DATABASE_URL": node_url(shared_database)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"toBeCreated": [], "toBeAdded": []}


def test_users_sign_in_across_servers_both_ways(shared_database: str) -> None:
    stamp = time.time_ns()
    from_node, from_python = f"node-{stamp}@example.com", f"py-{stamp}@example.com"
    with (
        better_auth_server(shared_database) as theirs,
        rowgate_server(shared_database) as ours,
        httpx.Client(timeout=30) as http,
    ):
        assert sign_up(http, theirs, from_node).status_code == 200
        assert sign_up(http, ours, from_python).status_code == 200
        in_ours = sign_in(http, ours, from_node)
        in_theirs = sign_in(http, theirs, from_python)
    assert in_ours.status_code == 200, in_ours.text
    assert in_theirs.status_code == 200, in_theirs.text
    assert in_ours.json()["user"]["email"] == from_node
    assert in_theirs.json()["user"]["email"] == from_python


def test_session_cookies_are_accepted_by_the_other_server(
    shared_database: str,
) -> None:
    stamp = time.time_ns()
    with (
        better_auth_server(shared_database) as theirs,
        rowgate_server(shared_database) as ours,
        httpx.Client(timeout=30) as http,
    ):
        node_cookies = cookies_of(sign_up(http, theirs, f"c-node-{stamp}@example.com"))
        py_cookies = cookies_of(sign_up(http, ours, f"c-py-{stamp}@example.com"))
        seen_by_ours = get_session(http, ours, node_cookies)
        seen_by_theirs = get_session(http, theirs, py_cookies)
        # Rows rowgate wrote load in Better Auth's other endpoints too.
        header = {
            "Cookie": "; ".join(f"{k}={v}" for k, v in py_cookies.items()),
            "Origin": theirs,
        }
        accounts = http.get(f"{theirs}/api/auth/list-accounts", headers=header)
        listed = http.get(f"{theirs}/api/auth/list-sessions", headers=header)
    assert seen_by_ours["user"]["email"] == f"c-node-{stamp}@example.com"
    assert seen_by_theirs["user"]["email"] == f"c-py-{stamp}@example.com"
    assert accounts.status_code == 200, accounts.text
    assert [a["providerId"] for a in accounts.json()] == ["credential"]
    assert listed.status_code == 200, listed.text
    assert [s["token"] for s in listed.json()] == [seen_by_theirs["session"]["token"]]


@pytest.mark.parametrize("strategy", ["compact", "jwt", "jwe"])
def test_cookie_cache_copies_are_read_by_the_other_server(
    shared_database: str, strategy: CookieCacheStrategy
) -> None:
    stamp = time.time_ns()
    cache = CookieCacheOptions(enabled=True, strategy=strategy)
    with (
        better_auth_server(shared_database, cache=strategy) as theirs,
        rowgate_server(shared_database, cache=cache) as ours,
        httpx.Client(timeout=30) as http,
    ):
        node_cookies = cookies_of(sign_up(http, theirs, f"k-node-{stamp}@example.com"))
        py_cookies = cookies_of(sign_up(http, ours, f"k-py-{stamp}@example.com"))
        # With the rows gone, only a copy the server could verify can answer.
        with psycopg.connect(shared_database, autocommit=True) as conn:
            conn.execute('DELETE FROM better_auth."session"')
        seen_by_ours = get_session(http, ours, node_cookies)
        seen_by_theirs = get_session(http, theirs, py_cookies)
        uncached = get_session(http, ours, node_cookies, "?disableCookieCache=true")
    assert "better-auth.session_data" in node_cookies
    assert "better-auth.session_data" in py_cookies
    assert seen_by_ours["user"]["email"] == f"k-node-{stamp}@example.com"
    assert seen_by_theirs["user"]["email"] == f"k-py-{stamp}@example.com"
    assert uncached is None


@pytest.mark.parametrize("strategy", ["compact", "jwt", "jwe"])
def test_chunked_cookie_cache_copies_are_read_by_the_other_server(
    shared_database: str, strategy: CookieCacheStrategy
) -> None:
    # A 6000-character image makes each copy about 8 KB: two chunks on both.
    image = "https://img.example/" + "x" * 6000
    stamp = time.time_ns()
    cache = CookieCacheOptions(enabled=True, strategy=strategy)
    with (
        better_auth_server(shared_database, cache=strategy) as theirs,
        rowgate_server(shared_database, cache=cache) as ours,
        httpx.Client(timeout=30) as http,
    ):
        node = sign_up(http, theirs, f"big-node-{stamp}@example.com", image=image)
        py = sign_up(http, ours, f"big-py-{stamp}@example.com", image=image)
        node_cookies, py_cookies = cookies_of(node), cookies_of(py)
        with psycopg.connect(shared_database, autocommit=True) as conn:
            conn.execute('DELETE FROM better_auth."session"')
        seen_by_ours = get_session(http, ours, node_cookies)
        seen_by_theirs = get_session(http, theirs, py_cookies)

    chunks = {f"better-auth.session_data.{n}" for n in range(3)}
    assert set(node_cookies) & chunks == set(py_cookies) & chunks
    assert "better-auth.session_data.1" in py_cookies
    assert "better-auth.session_data" not in py_cookies
    assert all(len(line) <= 4050 for line in py.headers.get_list("set-cookie"))
    assert seen_by_ours["user"]["image"] == image
    assert seen_by_theirs["user"]["email"] == f"big-py-{stamp}@example.com"


def test_rate_limit_table_is_shared_with_better_auth(shared_database: str) -> None:
    # Behind a trusted proxy (here: loopback) both servers name the bucket
    # "<client ip>|/sign-in/email" and count it in the same rateLimit row.
    body = {"email": "nobody-shared@example.com", "password": PASSWORD}
    client_ip = f"198.51.100.{time.time_ns() % 250 + 1}"
    headers = {"X-Forwarded-For": client_ip}
    rate_limit = RateLimitOptions(enabled=True, storage="database")
    with (
        better_auth_server(shared_database, rate_limit="database") as theirs,
        rowgate_server(
            shared_database, rate_limit=rate_limit, trusted_proxies=("127.0.0.1",)
        ) as ours,
        httpx.Client(timeout=30) as http,
    ):
        order = [theirs, ours, theirs, ours, theirs]
        codes = [
            http.post(
                f"{url}/api/auth/sign-in/email", json=body, headers=headers
            ).status_code
            for url in order
        ]
    with psycopg.connect(shared_database) as conn:
        rows = conn.execute(
            'SELECT count FROM better_auth."rateLimit" WHERE key = %s',
            (f"{client_ip}|/sign-in/email",),
        ).fetchall()
    assert codes == [401, 401, 401, 429, 429]
    assert rows == [(3,)]
