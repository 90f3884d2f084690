"""A closed-loop HTTP/1.1 load generator, run in its own process.

``python -m benchmarks.loadgen`` reads a JSON ``Spec`` on stdin, keeps
``concurrency`` keep-alive connections busy for ``duration`` seconds (after a
``warmup`` whose requests are not recorded) and prints a JSON ``Summary``. It
speaks just enough HTTP/1.1 (content-length and chunked bodies) over asyncio
streams to cost far less per request than a full client, so the servers, not the
generator, are what saturate. ``Connection`` is also the client of the mixed-load
test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_HEADER_BYTES = 64 * 1024


class HttpError(Exception):
    """The server broke the connection or sent something that is not HTTP/1.1."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k == wanted), None)

    def all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [v for k, v in self.headers if k == wanted]

    def json(self) -> Any:
        return json.loads(self.body)


class Connection:
    """One keep-alive connection that reconnects when the server closes it."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> Reply:
        if self._writer is None:
            await self._connect()
        assert self._reader is not None and self._writer is not None
        self._writer.write(self._head(method, path, headers or {}, body) + body)
        try:
            reply = await read_reply(self._reader, head=method == "HEAD")
        except (OSError, asyncio.IncompleteReadError, HttpError):
            await self.close()
            raise
        if (reply.header("connection") or "").lower() == "close":
            await self.close()
        return reply

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            # The peer may already have gone away; there is nothing to flush then.
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    def _head(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body or method in ("POST", "PATCH", "PUT"):
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def read_reply(reader: asyncio.StreamReader, *, head: bool) -> Reply:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError as exc:
        raise HttpError("response head too large") from exc
    if len(raw) > MAX_HEADER_BYTES:
        raise HttpError("response head too large")
    status_line, *header_lines = raw.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise HttpError(f"not an HTTP/1.1 status line: {status_line!r}")
    headers = [
        (name.strip().lower(), value.strip())
        for name, _, value in (line.partition(":") for line in header_lines if line)
    ]
    reply = Reply(int(parts[1]), headers, b"")
    if head or reply.status in (204, 304):
        return reply
    return Reply(reply.status, headers, await _read_body(reader, reply))


async def _read_body(reader: asyncio.StreamReader, reply: Reply) -> bytes:
    length = reply.header("content-length")
    if length is not None:
        return await reader.readexactly(int(length))
    if (reply.header("transfer-encoding") or "").lower() != "chunked":
        raise HttpError("response without a length on a keep-alive connection")
    chunks: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


@dataclass(frozen=True)
class Call:
    """One request of a spec; workers cycle through the spec's calls."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""


@dataclass(frozen=True)
class Spec:
    host: str
    port: int
    calls: list[Call]
    concurrency: int
    duration: float
    warmup: float = 1.0
    expect: tuple[int, ...] = (200,)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Spec:
        calls = [Call(**call) for call in data.pop("calls")]
        expect = tuple(data.pop("expect", (200,)))
        return cls(calls=calls, expect=expect, **data)


@dataclass(frozen=True)
class Summary:
    """What one load-generator run measured; latencies in milliseconds.

    ``sent`` also counts the warm-up's requests, which ``requests`` leaves out;
    ``client_cpu_ms`` is this process's own CPU time per request sent.
    """

    requests: int
    sent: int
    client_cpu_ms: float
    errors: int
    statuses: dict[str, int]
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    first_error: str | None


def cpu_seconds() -> float:
    """CPU time this process has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def per_request_ms(cpu: float, sent: int) -> float:
    return round(1000.0 * cpu / sent, 3) if sent else 0.0


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted ``values`` (0 when empty)."""
    if not values:
        return 0.0
    index = min(len(values) - 1, max(0, round(fraction * len(values)) - 1))
    return values[index]


class _Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: dict[str, int] = {}
        self.errors = 0
        self.first_error: str | None = None
        self.sent = 0

    def record(self, status: str, seconds: float, *, ok: bool) -> None:
        self.latencies.append(seconds * 1000.0)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if not ok:
            self.errors += 1
            self.first_error = self.first_error or status


async def _worker(spec: Spec, index: int, tally: _Tally, measure_from: float) -> None:
    connection = Connection(spec.host, spec.port)
    calls = spec.calls
    position = index % len(calls)
    deadline = measure_from + spec.duration
    try:
        while (started := time.perf_counter()) < deadline:
            call = calls[position]
            position = (position + 1) % len(calls)
            try:
                reply = await connection.request(
                    call.method, call.path, call.headers, call.body.encode()
                )
                status, ok = str(reply.status), reply.status in spec.expect
            except (OSError, asyncio.IncompleteReadError, HttpError) as exc:
                status, ok = type(exc).__name__, False
            tally.sent += 1
            if started >= measure_from:
                tally.record(status, time.perf_counter() - started, ok=ok)
    finally:
        await connection.close()


async def run(spec: Spec) -> Summary:
    """Drive the load described by ``spec`` and summarise what was measured."""
    tally = _Tally()
    cpu_before = cpu_seconds()
    measure_from = time.perf_counter() + spec.warmup
    await asyncio.gather(
        *(_worker(spec, i, tally, measure_from) for i in range(spec.concurrency))
    )
    elapsed = max(time.perf_counter() - measure_from, 1e-9)
    latencies = sorted(tally.latencies)
    return Summary(
        requests=len(latencies),
        sent=tally.sent,
        client_cpu_ms=per_request_ms(cpu_seconds() - cpu_before, tally.sent),
        errors=tally.errors,
        statuses=tally.statuses,
        seconds=round(elapsed, 3),
        rps=round(len(latencies) / elapsed, 1),
        p50_ms=round(percentile(latencies, 0.50), 3),
        p90_ms=round(percentile(latencies, 0.90), 3),
        p99_ms=round(percentile(latencies, 0.99), 3),
        max_ms=round(latencies[-1] if latencies else 0.0, 3),
        first_error=tally.first_error,
    )


def main() -> None:
    spec = Spec.from_json(json.load(sys.stdin))
    summary = asyncio.run(run(spec))
    json.dump(asdict(summary), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
