"""``python -m benchmarks``: run the side-by-side benchmarks in one invocation.

One throwaway database (plus a second one padded to a million sessions for the
scale pair), rowgate's app and backend and the reference Better Auth server each
in one process, and the pairs of ``benchmarks.pairs`` run back to back. Prints a
Markdown table and writes ``results/latest.json``, ``results/latest.md`` and
``results/latest.png`` after a full run with the default settings (the run the
README quotes); any other run (``--quick``, ``--only``, other rounds or sizes)
writes ``results/partial.*`` instead, which git ignores.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg

from benchmarks import pairs, report, stack
from benchmarks.pairs import Bench, PairResult, Settings

PAIRS = ("get_session", "bridge", "sign_in", "data_api", "scale", "startup")
USERS = 50
SESSIONS_EACH = 20


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="1 round of 2 s each")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--scale-rows", type=int, default=1_000_000)
    parser.add_argument(
        "--only", default=",".join(PAIRS), help=f"comma list of {', '.join(PAIRS)}"
    )
    parser.add_argument(
        "--out", type=Path, default=stack.ROOT / "results", help="results folder"
    )
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(PAIRS)
    if unknown:
        parser.error(f"unknown pairs: {', '.join(sorted(unknown))}")
    return args


def full_run(args: argparse.Namespace) -> bool:
    """Every pair with the default settings: the run ``latest.*`` stands for."""
    defaults = parse([])
    return not args.quick and all(
        getattr(args, name) == getattr(defaults, name)
        for name in ("rounds", "duration", "concurrency", "scale_rows", "only")
    )


def settings_from(args: argparse.Namespace) -> Settings:
    if args.quick:
        return Settings(rounds=1, duration=2.0, warmup=0.5, scale_rows=100_000)
    return Settings(
        rounds=args.rounds,
        duration=args.duration,
        concurrency=args.concurrency,
        scale_rows=args.scale_rows,
    )


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def servers(
    url: str, keys: stack.Secrets, logs: dict[str, list[str]]
) -> Iterator[list[stack.Server]]:
    """The three servers; what their logs say beyond routine lines goes to
    ``logs`` when they stop."""
    started: list[stack.Server] = []
    try:
        started.append(stack.start_rowgate("app", url, keys))
        started.append(stack.start_rowgate("backend", url, keys))
        started.append(stack.start_better_auth(url, keys))
        yield started
    finally:
        for server in started:
            logs[server.name] = server.problems()
            server.stop()


def run_pairs(
    selected: list[str], settings: Settings, document: dict[str, Any]
) -> list[PairResult]:
    results: list[PairResult] = []
    with stack.throwaway_database() as url:
        keys = stack.Secrets.fresh()
        say(f"seeding {USERS} users x {SESSIONS_EACH} sessions, 10 posts each")
        users = stack.seed_users(
            url, keys.auth, users=USERS, sessions_each=SESSIONS_EACH, posts_each=10
        )
        logs: dict[str, list[str]] = {}
        document["server_logs"] = logs
        with servers(url, keys, logs) as (app, backend, better_auth):
            bench = Bench(settings, url, keys, users, app, backend, better_auth, logs)
            for key in ("get_session", "bridge", "sign_in", "data_api"):
                if key in selected:
                    say(f"running {key}")
                    results.append(getattr(pairs, key)(bench))
            if "scale" in selected:
                results.append(run_scale(bench))
            document["memory_mib"] = {
                server.name: server.rss_mib() for server in (app, backend, better_auth)
            }
    return results


def run_scale(bench: Bench) -> PairResult:
    rows = bench.settings.scale_rows
    with stack.throwaway_database() as big_url:
        say(f"copying users and sessions, padding to {rows} sessions")
        stack.copy_auth_rows(bench.url, big_url)
        reached = stack.pad_sessions(big_url, rows)
        big = stack.start_rowgate("app", big_url, bench.keys)
        try:
            say("running scale")
            return pairs.scale(bench, big, big_url, reached)
        finally:
            bench.logs[f"{big.name} ({reached} sessions)"] = big.problems()
            big.stop()


def machine() -> dict[str, Any]:
    with psycopg.connect(stack.SERVER_URL) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "postgres": row[0] if row else "?",
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str]) -> int:
    args = parse(argv)
    settings = settings_from(args)
    selected = args.only.split(",")
    started = time.monotonic()
    document: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": settings.__dict__,
        "machine": machine(),
    }
    results = run_pairs(selected, settings, document)
    if "startup" in selected:
        say("timing embedded Postgres cold and warm start")
        document["embedded_postgres"] = pairs.embedded_start()
    document["pairs"] = [result.as_json() for result in results]
    document["seconds"] = round(time.monotonic() - started, 1)

    text = "\n\n".join(
        [report.table(results), report.ratios(results), report.extras(document)]
    )
    name = "latest" if full_run(args) else "partial"
    report.write_json(args.out / f"{name}.json", document)
    (args.out / f"{name}.md").write_text(text + "\n", encoding="utf-8")
    if results:
        report.write_chart(args.out / f"{name}.png", results)
    print(text)
    say(f"results in {args.out / name}.json, .md and .png")
    missed = [r.key for r in results if r.met is False]
    say(f"done in {document['seconds']} s; targets missed: {missed or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
