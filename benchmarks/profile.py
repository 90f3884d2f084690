"""Where a rowgate server's CPU goes under one benchmark's load, by area.

``python -m benchmarks.profile data_api|get_session|bridge [--seconds S]`` starts
the server, drives the pair's load, samples the server with ``py-spy record
--gil`` (only samples holding the GIL, so time spent waiting in libpq or the
kernel is left out) and prints the share of samples per area, attributing each
sample to the innermost frame that belongs to a known area. The raw samples are
kept in ``results/profile-<name>.txt`` (py-spy's raw format, one collapsed stack
per line).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import measure, stack
from benchmarks.loadgen import Call
from benchmarks.pairs import BRIDGE, GET_SESSION, POSTS

AREAS = (
    ("access log", ("logging/", "uvicorn/logging")),
    ("psycopg.sql composition", ("psycopg/sql.py",)),
    ("HTTP parsing (h11, uvicorn protocol)", ("h11/", "uvicorn/protocols")),
    ("JWT", ("dataapi/jwt.py", "hmac.py", "jwt/")),
    ("data API parse", ("dataapi/request.py",)),
    ("data API plan", ("dataapi/plan.py",)),
    ("data API SQL", ("dataapi/query.py",)),
    ("data API render", ("dataapi/response.py",)),
    ("psycopg execution and pool", ("psycopg/", "psycopg_pool/")),
    ("starlette routing and middleware", ("starlette/",)),
    ("auth core", ("rowgate/auth/",)),
    ("bridge", ("rowgate/bridge/",)),
    ("data API app", ("dataapi/app.py",)),
    ("asyncio event loop", ("asyncio/", "selectors.py")),
)


def area_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, patterns in AREAS:
            if any(pattern in frame for pattern in patterns):
                return name
    return "other"


def breakdown(raw: Path) -> list[tuple[str, float]]:
    """Share of samples per area, largest first."""
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.read_text(encoding="utf-8").splitlines():
        stack_text, _, count = line.rpartition(" ")
        if stack_text and count.isdigit():
            counts[area_of(stack_text.split(";"))] += int(count)
    total = sum(counts.values()) or 1
    return [(name, 100.0 * n / total) for name, n in counts.most_common()]


def calls_for(name: str, users: list[stack.SeedUser], jwt: str) -> list[Call]:
    if name == "data_api":
        return [Call("GET", POSTS, {"Authorization": u.bearer(jwt)}) for u in users]
    path = BRIDGE if name == "bridge" else GET_SESSION
    return [Call("GET", path, {"Cookie": u.cookie_header()}) for u in users]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    parser.add_argument("name", choices=("data_api", "get_session", "bridge"))
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    raw = stack.ROOT / "results" / f"profile-{args.name}.txt"
    raw.parent.mkdir(parents=True, exist_ok=True)
    with stack.throwaway_database() as url:
        keys = stack.Secrets.fresh()
        users = stack.seed_users(
            url, keys.auth, users=20, sessions_each=2, posts_each=10
        )
        kind = "backend" if args.name == "data_api" else "app"
        server = stack.start_rowgate(kind, url, keys)
        try:
            load = measure.http_load(
                server,
                calls_for(args.name, users, keys.jwt),
                concurrency=32,
                duration=args.seconds + 4,
                warmup=1.0,
            )
            running = measure.start(load)
            time.sleep(2)
            command = [py_spy, "record", "--gil", "--nonblocking", "-f", "raw"]
            command += ["-r", "200", "-d", str(args.seconds)]
            command += ["-p", str(server.process.pid), "-o", str(raw)]
            subprocess.run(command, check=True, capture_output=True)
            summary = measure.finish(running)
        finally:
            server.stop()
    print(f"{args.name}: {summary['rps']} req/s, samples in {raw}")
    for name, share in breakdown(raw):
        print(f"{share:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
