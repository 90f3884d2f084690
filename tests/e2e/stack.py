"""Run ``rowgate dev`` as a real subprocess on free loopback ports, for end-to-end
tests that go through HTTP exactly as a browser or a script would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from rowgate.config import parse_env_file

ROWGATE = Path(sys.executable).with_name("rowgate")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Stack:
    app_url: str
    backend_url: str
    project_dir: Path
    process: subprocess.Popen[bytes]
    log: Path
    database_url: str | None

    @property
    def env(self) -> dict[str, str]:
        return parse_env_file((self.project_dir / ".env.local").read_text())

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _wait_ready(stack: Stack, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.process.poll() is not None:
            raise RuntimeError(f"rowgate dev exited early:\n{stack.output()}")
        try:
            ok_app = httpx.get(f"{stack.app_url}/api/auth/ok", timeout=1)
            ok_backend = httpx.get(f"{stack.backend_url}/api/health", timeout=1)
            if ok_app.status_code == 200 and ok_backend.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"rowgate dev did not become ready:\n{stack.output()}")


def stop(stack: Stack, timeout: float = 30) -> int:
    """Interrupt ``rowgate dev`` as Ctrl-C would and wait for a clean exit."""
    if stack.process.poll() is None:
        stack.process.send_signal(signal.SIGINT)
        try:
            stack.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stack.process.kill()
            stack.process.wait()
    return stack.process.returncode


@contextmanager
def running_stack(
    project_dir: Path, database_url: str | None, *, timeout: float = 90
) -> Iterator[Stack]:
    app_port, backend_port = free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "DATABASE_URL" and not k.startswith("PG")
    }
    env["BETTER_AUTH_URL"] = f"http://127.0.0.1:{app_port}"
    env["INSFORGE_BASE_URL"] = f"http://127.0.0.1:{backend_port}"
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    log = project_dir / "dev.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(ROWGATE), "dev", "--project-dir", str(project_dir)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=project_dir,
        )
    stack = Stack(
        app_url=env["BETTER_AUTH_URL"],
        backend_url=env["INSFORGE_BASE_URL"],
        project_dir=project_dir,
        process=process,
        log=log,
        database_url=database_url,
    )
    try:
        _wait_ready(stack, timeout)
        yield stack
    finally:
        stop(stack)
