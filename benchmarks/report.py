"""The run's outputs: a Markdown table of medians and ratios, ``latest.json`` and
a PNG chart of each ratio against its target.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.measure import Side
from benchmarks.pairs import PairResult


def _met(result: PairResult) -> str:
    if result.met is None:
        return "-"
    return "met" if result.met else "**missed**"


def table(results: list[PairResult]) -> str:
    """One row per side (medians over rounds), then the pair's ratio and target."""
    lines = [
        "| pair | side | req/s | p50 ms | p99 ms | server CPU ms/req "
        "| client CPU ms/req | errors | ratio | target | |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|---|---|",
    ]
    for result in results:
        for index, side in enumerate(result.sides):
            first = index == 0
            lines.append(
                f"| {result.key if first else ''} | {side.label} "
                f"| {side.median('rps'):.0f} | {side.median('p50_ms'):.2f} "
                f"| {side.median('p99_ms'):.2f} | {_cpu(side, 'server_cpu_ms')} "
                f"| {_cpu(side, 'client_cpu_ms')} | {side.errors} "
                f"| {_ratio_text(result) if first else ''} "
                f"| {(result.target or '') if first else ''} "
                f"| {_met(result) if first else ''} |"
            )
    return "\n".join(lines)


def _cpu(side: Side, key: str) -> str:
    cpu = side.median(key)
    return f"{cpu:.2f}" if cpu else "-"


def _ratio_text(result: PairResult) -> str:
    return "n/a" if result.ratio is None else f"{result.ratio:.2f}x"


def ratios(results: list[PairResult]) -> str:
    """What each ratio divides, so the table stays narrow."""
    return "\n".join(f"- `{r.key}`: {r.ratio_means}." for r in results)


def extras(document: dict[str, Any]) -> str:
    lines: list[str] = []
    for result in document["pairs"]:
        if result["key"] == "sign_in":
            rps = result["extra"]["sign_in_rps"]
            lines.append(
                f"- sign-in throughput: rowgate {rps['rowgate']:.1f}/s, "
                f"Better Auth {rps['better-auth']:.1f}/s; Better Auth's get-session "
                f"p99 during sign-ins / idle: "
                f"{result['extra']['better_auth_p99_ratio']}x."
            )
        if result["key"] == "scale":
            lookup = result["extra"]["lookup_ms"]
            small, large = (side["label"] for side in result["sides"])
            lines.append(
                f"- scale, in the database alone: the session lookup (one "
                f"connection, prepared, median of 2000) takes {lookup['small']} ms "
                f"with {small} and {lookup['large']} ms with {large} "
                f"({result['extra']['lookup_ratio']}x); server CPU per request, "
                f"large/small: {result['extra']['server_cpu_ratio']}x; per-round "
                f"ratios: {', '.join(map(str, result['extra']['round_ratios']))}."
            )
    memory = document.get("memory_mib", {})
    if memory:
        shown = ", ".join(f"{name} {mib} MiB" for name, mib in memory.items())
        lines.append(f"- server RSS after the run: {shown}.")
    embedded = document.get("embedded_postgres")
    if embedded:
        lines.append(
            f"- embedded Postgres: cold start (initdb + start) "
            f"{embedded['cold_s']} s, warm start {embedded['warm_s']} s."
        )
    return "\n".join(lines)


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def write_chart(path: Path, results: list[PairResult]) -> None:
    """A bar per pair: its ratio, with the target drawn across it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in results if r.ratio is not None]
    figure, axes = plt.subplots(figsize=(8, 0.7 * len(shown) + 1.5))
    names = [f"{r.key}\n({r.ratio_means})" for r in shown]
    values = [r.ratio or 0.0 for r in shown]
    colours = ["tab:green" if r.met else "tab:red" for r in shown]
    positions = list(range(len(shown)))
    axes.barh(positions, values, color=colours)
    for position, result in zip(positions, shown, strict=True):
        bound = _target_value(result.target)
        if bound is not None:
            axes.plot([bound, bound], [position - 0.4, position + 0.4], "k--")
        axes.text(
            (result.ratio or 0.0) + 0.03,
            position,
            f"{result.ratio:.2f}x",
            va="center",
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
        )
    axes.set_yticks(positions, names, fontsize=7)
    axes.invert_yaxis()
    axes.set_xlabel("ratio (dashed: target; green met, red missed)")
    axes.set_title("rowgate benchmarks: ratios against their targets")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _target_value(target: str | None) -> float | None:
    if not target:
        return None
    number = target.strip("<>= x")
    try:
        return float(number)
    except ValueError:
        return None
