"""The six side-by-side measurements, each a function from a ``Bench`` to a
``PairResult`` that says what was compared, the ratio and whether its target
was met.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmarks import measure, stack
from benchmarks.loadgen import Call
from benchmarks.measure import Load, Side
from rowgate.db.embedded import EmbeddedPostgres

GET_SESSION = "/api/auth/get-session"
SIGN_IN = "/api/auth/sign-in/email"
BRIDGE = "/api/insforge-token"
POSTS = "/api/database/records/posts?select=*"
ROWS = 10


@dataclass(frozen=True)
class Settings:
    rounds: int = 3
    duration: float = 5.0
    warmup: float = 1.0
    concurrency: int = 32
    # Get-session beside sign-ins is a latency probe, not a throughput test.
    probe_concurrency: int = 4
    sign_in_concurrency: int = 4
    scale_rows: int = 1_000_000


@dataclass
class PairResult:
    key: str
    title: str
    sides: list[Side]
    ratio: float | None
    ratio_means: str
    target: str | None = None
    met: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "sides": [side.as_json() for side in self.sides],
            "ratio": self.ratio,
            "ratio_means": self.ratio_means,
            "target": self.target,
            "met": self.met,
            "extra": self.extra,
        }


@dataclass
class Bench:
    """Everything the pairs share: settings, database, servers and seeded users."""

    settings: Settings
    url: str
    keys: stack.Secrets
    users: list[stack.SeedUser]
    app: stack.Server
    backend: stack.Server
    better_auth: stack.Server
    logs: dict[str, list[str]]

    def session_calls(self, path: str = GET_SESSION) -> list[Call]:
        return [
            Call("GET", path, {"Cookie": user.cookie_header(i)})
            for i in range(4)
            for user in self.users
        ]

    def sign_in_calls(self) -> list[Call]:
        headers = {"Content-Type": "application/json"}
        return [
            Call("POST", SIGN_IN, headers, stack.sign_in_body(user.email))
            for user in self.users
        ]

    def load(
        self, server: stack.Server, calls: list[Call], concurrency: int | None = None
    ) -> Load:
        s = self.settings
        return measure.http_load(
            server,
            calls,
            concurrency=concurrency or s.concurrency,
            duration=s.duration,
            warmup=s.warmup,
        )


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def _throughput_pair(
    bench: Bench,
    key: str,
    title: str,
    loads: dict[str, Load],
    target: float,
) -> PairResult:
    sides = measure.alternate(loads, bench.settings.rounds)
    # The first side is rowgate, the second what it is held against; any
    # further side is shown for reference only.
    ours, theirs, *reference = sides.values()
    ratio = _ratio(ours.median("rps"), theirs.median("rps"))
    return PairResult(
        key=key,
        title=title,
        sides=[ours, theirs, *reference],
        ratio=ratio,
        ratio_means=f"{ours.label} rps / {theirs.label} rps",
        target=f">= {target:.2f}x",
        met=ratio is not None and ratio >= target and not ours.errors,
        extra={
            "server_cpu_ratio": _ratio(
                ours.median("server_cpu_ms"), theirs.median("server_cpu_ms")
            )
        },
    )


def get_session(bench: Bench) -> PairResult:
    calls = bench.session_calls()
    return _throughput_pair(
        bench,
        "get_session",
        "GET /api/auth/get-session, valid cookie",
        {
            "rowgate": bench.load(bench.app, calls),
            "better-auth": bench.load(bench.better_auth, calls),
        },
        target=1.0,
    )


def bridge(bench: Bench) -> PairResult:
    return _throughput_pair(
        bench,
        "bridge",
        "bridge token mint vs Better Auth get-session",
        {
            "rowgate bridge": bench.load(bench.app, bench.session_calls(BRIDGE)),
            "better-auth get-session": bench.load(
                bench.better_auth, bench.session_calls()
            ),
        },
        target=1.0,
    )


def under_sign_ins(bench: Bench, server: stack.Server) -> tuple[Side, Side, Side]:
    """Idle get-session rounds, and get-session rounds while sign-ins run."""
    s = bench.settings
    probe = bench.load(server, bench.session_calls(), s.probe_concurrency)
    sign_ins = measure.http_load(
        server,
        bench.sign_in_calls(),
        concurrency=s.sign_in_concurrency,
        duration=s.duration + s.warmup,
        warmup=0.5,
    )
    idle, busy, signing = Side("idle"), Side("during sign-ins"), Side("sign-in")
    # Beside sign-ins the server's CPU is mostly hashing: not the probe's cost.
    busy_probe = replace(probe, server=None)
    for _ in range(s.rounds):
        idle.rounds.append(measure.run(probe))
        background = measure.start(sign_ins)
        time.sleep(0.5)
        busy.rounds.append(measure.run(busy_probe))
        signing.rounds.append(measure.finish(background))
    return idle, busy, signing


def sign_in(bench: Bench) -> PairResult:
    ours = under_sign_ins(bench, bench.app)
    theirs = under_sign_ins(bench, bench.better_auth)
    idle, busy, signing = ours
    ratio = _ratio(busy.median("p99_ms"), idle.median("p99_ms"))
    for side, prefix in ((ours, "rowgate"), (theirs, "better-auth")):
        for part in side:
            part.label = f"{prefix} {part.label}"
    return PairResult(
        key="sign_in",
        title="POST /api/auth/sign-in/email; get-session p99 idle vs during sign-ins",
        sides=[*ours, *theirs],
        ratio=ratio,
        ratio_means="rowgate get-session p99 during sign-ins / idle",
        target="< 3.00x",
        met=ratio is not None and ratio < 3.0 and not signing.errors,
        extra={
            "sign_in_rps": {
                "rowgate": signing.median("rps"),
                "better-auth": theirs[2].median("rps"),
            },
            "better_auth_p99_ratio": _ratio(
                theirs[1].median("p99_ms"), theirs[0].median("p99_ms")
            ),
        },
    )


def data_api(bench: Bench) -> PairResult:
    s = bench.settings
    calls = [
        Call("GET", POSTS, {"Authorization": user.bearer(bench.keys.jwt)})
        for user in bench.users
    ]
    claims = [
        json.dumps({"sub": user.id, "role": "authenticated"}) for user in bench.users
    ]
    spec = {
        "url": stack.url_for(bench.url, user="authenticator"),
        "claims": claims,
        "rows": ROWS,
        "concurrency": s.concurrency,
        "duration": s.duration,
        "warmup": s.warmup,
        "pool_size": 10,
    }
    direct = Load("benchmarks.direct", spec)
    pipelined = Load("benchmarks.direct", {**spec, "pipeline": True})
    return _throughput_pair(
        bench,
        "data_api",
        f"data API GET of {ROWS} RLS rows vs the same transaction in psycopg",
        {
            "rowgate data API": bench.load(bench.backend, calls),
            "direct psycopg": direct,
            "direct psycopg, pipelined": pipelined,
        },
        target=0.60,
    )


def scale(bench: Bench, big: stack.Server, big_url: str, big_rows: int) -> PairResult:
    """get-session against the 1k-row database and a copy padded to 1M rows."""
    small_rows = stack.count_sessions(bench.url)
    calls = bench.session_calls()
    # The effect sought is a few percent, the size of this machine's noise from
    # one round to the next: twice the rounds, and each round's two sides
    # compared with each other (run back to back, they share the machine's
    # state) before taking the median.
    sides = measure.alternate(
        {
            f"{small_rows} sessions": bench.load(bench.app, calls),
            f"{big_rows} sessions": bench.load(big, calls),
        },
        2 * bench.settings.rounds,
    )
    small, large = sides.values()
    per_round = [
        float(a["rps"]) / float(b["rps"])
        for a, b in zip(small.rounds, large.rounds, strict=True)
        if float(b["rps"]) > 0
    ]
    cost = round(statistics.median(per_round), 3) if per_round else None
    # The database's own share, free of HTTP and of the machine's noise.
    tokens = [token for user in bench.users for token in user.tokens]
    lookups: dict[str, list[float]] = {"small": [], "large": []}
    for _ in range(bench.settings.rounds):
        lookups["small"].append(stack.lookup_ms(bench.url, tokens))
        lookups["large"].append(stack.lookup_ms(big_url, tokens))
    small_ms = statistics.median(lookups["small"])
    large_ms = statistics.median(lookups["large"])
    return PairResult(
        key="scale",
        title=f"get-session with 1k vs {_rows(big_rows)} rows in better_auth.session",
        sides=[small, large],
        ratio=cost,
        ratio_means=(
            f"rps at 1k / rps at {_rows(big_rows)} (cost of the larger table), "
            "median of the rounds' ratios"
        ),
        target="< 1.10x",
        met=cost is not None and cost < 1.10 and not large.errors,
        extra={
            "lookup_ms": {"small": small_ms, "large": large_ms},
            "lookup_ratio": _ratio(large_ms, small_ms),
            "round_ratios": [round(r, 3) for r in per_round],
            "server_cpu_ratio": _ratio(
                large.median("server_cpu_ms"), small.median("server_cpu_ms")
            ),
        },
    )


def _rows(count: int) -> str:
    """1000000 as 1M, 100000 as 100k: the table sizes the pairs are named by."""
    if count >= 1_000_000 and count % 1_000_000 == 0:
        return f"{count // 1_000_000}M"
    if count >= 1000 and count % 1000 == 0:
        return f"{count // 1000}k"
    return str(count)


def embedded_start() -> dict[str, float]:
    """Seconds for a cold start (initdb and first start) and a warm one."""
    with tempfile.TemporaryDirectory(prefix="rowgate-bench-pg-") as root:
        # Under root the server runs as an unprivileged account, which must be
        # able to traverse the (otherwise private) temporary directory.
        Path(root).chmod(0o755)
        server = EmbeddedPostgres(Path(root) / "state")
        try:
            cold = _timed(server.start)
            server.stop()
            warm = _timed(server.start)
        finally:
            server.stop()
    return {"cold_s": round(cold, 2), "warm_s": round(warm, 2)}


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started
