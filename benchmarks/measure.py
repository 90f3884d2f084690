"""Running the measuring processes and folding their rounds into medians.

Every measurement is a child process (``benchmarks.loadgen`` against a server,
or ``benchmarks.direct`` against Postgres) that prints one ``Summary``. A pair
alternates its two sides for several rounds, so slow drift on a shared machine
hits both sides alike; the reported figure of a side is the median over rounds.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks.loadgen import Call
from benchmarks.stack import REPO, Server


@dataclass(frozen=True)
class Load:
    """What one measuring process does: a module and the spec it reads, and the
    server it loads (whose CPU time per request is then recorded)."""

    module: str
    spec: dict[str, Any]
    server: Server | None = None


def http_load(
    server: Server,
    calls: list[Call],
    *,
    concurrency: int,
    duration: float,
    warmup: float,
    expect: tuple[int, ...] = (200,),
) -> Load:
    spec = {
        "host": "127.0.0.1",
        "port": server.port,
        "calls": [asdict(call) for call in calls],
        "concurrency": concurrency,
        "duration": duration,
        "warmup": warmup,
        "expect": list(expect),
    }
    return Load("benchmarks.loadgen", spec, server)


def start(load: Load) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", load.module],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    process.stdin.write(json.dumps(load.spec))
    process.stdin.close()
    return process


def finish(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdout is not None
    output = process.stdout.read()
    if process.wait(timeout=600) != 0:
        raise RuntimeError(f"a measuring process failed (exit {process.returncode})")
    summary: dict[str, Any] = json.loads(output)
    return summary


def run(load: Load) -> dict[str, Any]:
    """Run one measuring process to the end and return its summary, with the
    server's CPU milliseconds per request when the load names a server."""
    cpu_before = load.server.cpu_seconds() if load.server else 0.0
    summary = finish(start(load))
    if load.server is not None and summary["sent"]:
        used = load.server.cpu_seconds() - cpu_before
        summary["server_cpu_ms"] = round(1000.0 * used / summary["sent"], 3)
    return summary


@dataclass
class Side:
    """One side of a pair: its rounds and their medians."""

    label: str
    rounds: list[dict[str, Any]] = field(default_factory=list)

    def median(self, key: str) -> float:
        values = [float(r[key]) for r in self.rounds if key in r]
        return round(statistics.median(values), 3) if values else 0.0

    @property
    def errors(self) -> int:
        return sum(int(r["errors"]) for r in self.rounds)

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "rps": self.median("rps"),
            "p50_ms": self.median("p50_ms"),
            "p99_ms": self.median("p99_ms"),
            "server_cpu_ms": self.median("server_cpu_ms"),
            "client_cpu_ms": self.median("client_cpu_ms"),
            "errors": self.errors,
            "rounds": self.rounds,
        }


def alternate(loads: dict[str, Load], rounds: int) -> dict[str, Side]:
    """Run each load once per round, in turn, and collect the rounds by label.

    Every other round runs the loads in reverse order (AB BA AB ...), so that a
    machine slowly getting busier or quieter does not favour whichever side
    always goes first.
    """
    sides = {label: Side(label) for label in loads}
    order = list(loads.items())
    for index in range(rounds):
        for label, load in order if index % 2 == 0 else reversed(order):
            sides[label].rounds.append(run(load))
    return sides
