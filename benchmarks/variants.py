"""How much of a request the HTTP serving layer costs: the same data API read and
get-session under four ways of serving them, back to back.

``python -m benchmarks.variants [--rounds N] [--duration S]`` starts one backend
and one app per variant (as shipped: uvloop, httptools, no access log; with the
access log; on asyncio's loop and h11, with and without the access log) and
prints req/s and server CPU per request. Then the sign-in pair's latency probe
runs against apps allowing 2 and 1 concurrent password hashes (the product
allows ``cpu_count - 1``).
"""

from __future__ import annotations

import argparse
import sys

from benchmarks import measure, stack
from benchmarks.loadgen import Call
from benchmarks.pairs import GET_SESSION, POSTS, Bench, Settings, under_sign_ins

VARIANTS = {
    "as shipped (uvloop, httptools, no access log)": {},
    "uvloop, httptools, access log": {"ROWGATE_BENCH_ACCESS_LOG": "1"},
    "asyncio, h11, no access log": {"ROWGATE_BENCH_PLAIN_SERVER": "1"},
    "asyncio, h11, access log": {
        "ROWGATE_BENCH_PLAIN_SERVER": "1",
        "ROWGATE_BENCH_ACCESS_LOG": "1",
    },
}


def start(
    kind: str, url: str, keys: stack.Secrets, extra: dict[str, str]
) -> stack.Server:
    port = stack.free_port()
    env = stack.rowgate_env(url, keys, port, port)
    env.update(extra)
    argv = [sys.executable, "-m", "benchmarks.serve", kind, str(port)]
    return stack.Server(f"{kind} {extra}", argv, env, port)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.variants")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args(argv)
    print("| request | serving | req/s | p99 ms | server CPU ms/req |")
    print("|---|---|--:|--:|--:|")
    with stack.throwaway_database() as url:
        keys = stack.Secrets.fresh()
        users = stack.seed_users(
            url, keys.auth, users=20, sessions_each=2, posts_each=10
        )
        cases = {
            "data API GET": (
                "backend",
                [
                    Call("GET", POSTS, {"Authorization": u.bearer(keys.jwt)})
                    for u in users
                ],
            ),
            "get-session": (
                "app",
                [
                    Call("GET", GET_SESSION, {"Cookie": u.cookie_header()})
                    for u in users
                ],
            ),
        }
        for case, (kind, calls) in cases.items():
            servers = {
                name: start(kind, url, keys, extra) for name, extra in VARIANTS.items()
            }
            try:
                loads = {
                    name: measure.http_load(
                        server,
                        calls,
                        concurrency=args.concurrency,
                        duration=args.duration,
                        warmup=1.0,
                    )
                    for name, server in servers.items()
                }
                for name, side in measure.alternate(loads, args.rounds).items():
                    print(
                        f"| {case} | {name} | {side.median('rps'):.0f} "
                        f"| {side.median('p99_ms'):.1f} "
                        f"| {side.median('server_cpu_ms'):.2f} |",
                        flush=True,
                    )
            finally:
                for server in servers.values():
                    server.stop()
        hashing(url, keys, users, args.rounds, args.duration)
    return 0


def hashing(
    url: str,
    keys: stack.Secrets,
    users: list[stack.SeedUser],
    rounds: int,
    duration: float,
) -> None:
    """get-session p99 during sign-ins over idle p99, by hash concurrency."""
    settings = Settings(rounds=rounds, duration=duration)
    print(
        "\n| hash threads | idle p99 ms | p99 during sign-ins ms | ratio | sign-in/s |"
    )
    print("|--:|--:|--:|--:|--:|")
    for threads in ("2", "1"):
        server = start("app", url, keys, {"ROWGATE_BENCH_HASH_THREADS": threads})
        try:
            bench = Bench(settings, url, keys, users, server, server, server, {})
            idle, busy, signing = under_sign_ins(bench, server)
        finally:
            server.stop()
        ratio = busy.median("p99_ms") / max(idle.median("p99_ms"), 1e-9)
        print(
            f"| {threads} | {idle.median('p99_ms'):.1f} | {busy.median('p99_ms'):.1f} "
            f"| {ratio:.2f}x | {signing.median('rps'):.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
