"""The bounded mixed-load test: sign-in, get-session, bridge and data
API reads and writes on loopback for a fixed time.

A fixed number of virtual users each loop over one round of their own: now and
then a real sign-in (whose new cookie they then use), get-session, a bridge
token, a read of their posts, and an insert, update and delete of one post.
Every answer is checked (status, and that reads return only the user's own
rows). Meanwhile the servers' resident memory is sampled once a second and
``pg_stat_activity`` is counted before, during, after the load and after the
servers stop. The run passes with no errors, no leaked connections (none left
once the servers stop, none idle in a transaction, never more than the pools'
bound) and memory that does not grow over the run. Rate limits are off (as in
the benchmarks): every request comes from one loopback address, and a refused
sign-in would be an error here.

``python -m benchmarks.load [--duration S] [--users N]`` (or ``benchmarks/run
load``) runs it against a throwaway database and writes ``results/load.json``;
``run_load`` is what the test suite's smoke version calls.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import stack
from benchmarks.loadgen import Connection, HttpError, Reply

# The app's pool (10), the backend's data API pool (10), Studio's pool (2) and
# the schema-reload listener (1): more connections than this means a leak.
CONNECTION_BOUND = 23
SIGN_IN_EVERY = 10
MEMORY_GROWTH_LIMIT = 0.15
MEMORY_GROWTH_FLOOR_MIB = 8.0
POSTS = "/api/database/records/posts"
JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass
class Tally:
    requests: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    def count(self, kind: str) -> None:
        self.requests[kind] = self.requests.get(kind, 0) + 1

    def fail(self, kind: str, detail: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 20:
            self.error_samples.append(f"{kind}: {detail}")


@dataclass
class LoadReport:
    seconds: float
    users: int
    requests: dict[str, int]
    errors: int
    error_samples: list[str]
    connections_before: int
    connections_peak: int
    connections_after_load: dict[str, int]
    connections_after_stop: int
    rss_mib: dict[str, list[float]]
    rss_growth_mib: dict[str, float]

    @property
    def leaked_connections(self) -> int:
        """Connections the servers left behind, plus any stuck in a transaction."""
        stuck = sum(
            n
            for state, n in self.connections_after_load.items()
            if "transaction" in state
        )
        over = max(0, self.connections_peak - CONNECTION_BOUND)
        return self.connections_after_stop + stuck + over

    @property
    def memory_flat(self) -> bool:
        for name, growth in self.rss_growth_mib.items():
            samples = self.rss_mib[name]
            allowed = max(MEMORY_GROWTH_FLOOR_MIB, MEMORY_GROWTH_LIMIT * samples[0])
            if growth > allowed:
                return False
        return True

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.leaked_connections == 0 and self.memory_flat

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            leaked_connections=self.leaked_connections,
            memory_flat=self.memory_flat,
            ok=self.ok,
        )
        return data


class VirtualUser:
    """One user's two keep-alive connections (app and backend) and its checks."""

    def __init__(
        self,
        user: stack.SeedUser,
        app: stack.Server,
        backend: stack.Server,
        tally: Tally,
    ) -> None:
        self.user = user
        self.cookie = user.cookie_header()
        self.app = Connection("127.0.0.1", app.port)
        self.backend = Connection("127.0.0.1", backend.port)
        self.tally = tally

    async def run(self, deadline: float) -> None:
        rounds = 0
        try:
            while time.monotonic() < deadline:
                if rounds % SIGN_IN_EVERY == 0:
                    await self._step("sign-in", self.sign_in)
                await self._round()
                rounds += 1
        finally:
            await self.app.close()
            await self.backend.close()

    async def _round(self) -> None:
        await self._step("get-session", self.get_session)
        token = await self._step("bridge", self.bridge)
        if token is None:
            return
        auth = {"Authorization": f"Bearer {token}"}
        await self._step("data read", lambda: self.read(auth))
        post_id = await self._step("data insert", lambda: self.insert(auth))
        if post_id is None:
            return
        await self._step("data update", lambda: self.update(auth, post_id))
        await self._step("data delete", lambda: self.delete(auth, post_id))

    async def _step(self, kind: str, action: Any) -> Any:
        self.tally.count(kind)
        try:
            return await action()
        except (OSError, asyncio.IncompleteReadError, HttpError, ValueError) as exc:
            self.tally.fail(kind, f"{type(exc).__name__}: {exc}")
            return None

    async def sign_in(self) -> None:
        body = stack.sign_in_body(self.user.email).encode()
        reply = await self.app.request(
            "POST", "/api/auth/sign-in/email", JSON_HEADERS, body
        )
        _expect(reply, 200)
        for header in reply.all("set-cookie"):
            name, _, rest = header.partition("=")
            if name == stack.COOKIE:
                self.cookie = f"{stack.COOKIE}={rest.split(';', 1)[0]}"
                return
        raise ValueError("sign-in set no session cookie")

    async def get_session(self) -> None:
        reply = await self.app.request(
            "GET", "/api/auth/get-session", {"Cookie": self.cookie}
        )
        _expect(reply, 200)
        found = reply.json()
        if not found or found["user"]["id"] != self.user.id:
            raise ValueError(f"get-session answered for someone else: {found!r}")

    async def bridge(self) -> str:
        reply = await self.app.request(
            "GET", "/api/insforge-token", {"Cookie": self.cookie}
        )
        _expect(reply, 200)
        token: str = reply.json()["token"]
        return token

    async def read(self, auth: dict[str, str]) -> None:
        reply = await self.backend.request("GET", f"{POSTS}?select=id,user_id", auth)
        _expect(reply, 200)
        owners = {row["user_id"] for row in reply.json()}
        if owners - {self.user.id}:
            raise ValueError(f"read rows of other users: {sorted(owners)}")

    async def insert(self, auth: dict[str, str]) -> int:
        headers = {**auth, **JSON_HEADERS, "Prefer": "return=representation"}
        body = json.dumps({"title": "load", "body": "mixed load"}).encode()
        reply = await self.backend.request("POST", POSTS, headers, body)
        _expect(reply, 201)
        row = reply.json()[0]
        if row["user_id"] != self.user.id:
            raise ValueError("inserted a row owned by someone else")
        post_id: int = row["id"]
        return post_id

    async def update(self, auth: dict[str, str], post_id: int) -> None:
        body = json.dumps({"title": "load, edited"}).encode()
        path = f"{POSTS}?id=eq.{post_id}"
        reply = await self.backend.request(
            "PATCH", path, {**auth, **JSON_HEADERS}, body
        )
        _expect(reply, 204)

    async def delete(self, auth: dict[str, str], post_id: int) -> None:
        reply = await self.backend.request("DELETE", f"{POSTS}?id=eq.{post_id}", auth)
        _expect(reply, 204)


def _expect(reply: Reply, status: int) -> None:
    if reply.status != status:
        raise ValueError(
            f"status {reply.status}, expected {status}: {reply.body[:200]!r}"
        )


async def _sample_memory(
    servers: list[stack.Server], samples: dict[str, list[float]], stop: asyncio.Event
) -> None:
    while not stop.is_set():
        for server in servers:
            samples[server.name].append(server.rss_mib())
        try:
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        except TimeoutError:
            continue


async def _watch_connections(url: str, peak: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        counts = await asyncio.to_thread(stack.count_connections, url)
        peak[0] = max(peak[0], sum(counts.values()))
        try:
            await asyncio.wait_for(stop.wait(), timeout=0.5)
        except TimeoutError:
            continue


async def _drive(
    url: str,
    users: list[stack.SeedUser],
    servers: tuple[stack.Server, stack.Server],
    duration: float,
) -> tuple[Tally, dict[str, list[float]], int]:
    app, backend = servers
    tally = Tally()
    samples: dict[str, list[float]] = {app.name: [], backend.name: []}
    peak = [0]
    stop = asyncio.Event()
    watchers = [
        asyncio.create_task(_sample_memory([app, backend], samples, stop)),
        asyncio.create_task(_watch_connections(url, peak, stop)),
    ]
    deadline = time.monotonic() + duration
    await asyncio.gather(
        *(VirtualUser(u, app, backend, tally).run(deadline) for u in users)
    )
    stop.set()
    await asyncio.gather(*watchers)
    return tally, samples, peak[0]


def _growth(samples: list[float]) -> float:
    """Median of the last quarter minus median of the first quarter, in MiB."""
    if len(samples) < 4:
        return 0.0
    quarter = len(samples) // 4
    return round(
        statistics.median(samples[-quarter:]) - statistics.median(samples[:quarter]),
        1,
    )


def run_load(url: str, *, duration: float, users: int) -> LoadReport:
    """Set up ``url`` (an empty or already set-up database), run the load on it
    and report; the servers are stopped before this returns."""
    stack.prepare_database(url)
    keys = stack.Secrets.fresh()
    seeded = stack.seed_users(
        url, keys.auth, users=users, sessions_each=1, posts_each=3
    )
    before = sum(stack.count_connections(url).values())
    app = stack.start_rowgate("app", url, keys)
    try:
        backend = stack.start_rowgate("backend", url, keys)
    except Exception:
        app.stop()
        raise
    started = time.monotonic()
    try:
        tally, samples, peak = asyncio.run(
            _drive(url, seeded, (app, backend), duration)
        )
        time.sleep(0.5)
        after_load = stack.count_connections(url)
    finally:
        app.stop()
        backend.stop()
    seconds = round(time.monotonic() - started, 1)
    return LoadReport(
        seconds=seconds,
        users=users,
        requests=tally.requests,
        errors=tally.errors,
        error_samples=tally.error_samples,
        connections_before=before,
        connections_peak=peak,
        connections_after_load=after_load,
        connections_after_stop=_settled_count(url),
        rss_mib=samples,
        rss_growth_mib={name: _growth(s) for name, s in samples.items()},
    )


def _settled_count(url: str, wait: float = 5.0) -> int:
    """Connections left once the servers are gone (backends take a moment to
    exit after their client closes)."""
    deadline = time.monotonic() + wait
    while True:
        count = sum(stack.count_connections(url).values())
        if count == 0 or time.monotonic() > deadline:
            return count
        time.sleep(0.1)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument(
        "--out", type=Path, default=stack.ROOT / "results" / "load.json"
    )
    args = parser.parse_args(argv)
    with stack.throwaway_database() as url:
        report = run_load(url, duration=args.duration, users=args.users)
    document = report.as_json()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    summary = {k: v for k, v in document.items() if k != "rss_mib"}
    print(json.dumps(summary, indent=2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
