"""Serve rowgate's auth app or backend for a benchmark, in its own process.

``python -m benchmarks.serve app|backend PORT`` builds the app from the
environment exactly as ``rowgate run`` and ``rowgate serve`` do and serves it
through ``rowgate.serving``, the module those commands use, so the numbers are
those of the shipped product (uvloop and httptools, no access log).

Variables try out serving changes without touching the product:
``ROWGATE_BENCH_ACCESS_LOG=1`` turns the access log on, ``ROWGATE_BENCH_PLAIN_SERVER=1``
serves on asyncio's loop and h11 instead, and ``ROWGATE_BENCH_HASH_THREADS=N`` sets
how many password hashes may run at once (the product allows ``cpu_count - 1``).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from rowgate import serving
from rowgate.auth import passwords
from rowgate.backend.app import create_backend
from rowgate.config import load_settings_from_env
from rowgate.demo.app import create_app

KINDS = ("app", "backend")


def build(kind: str) -> ASGIApp:
    settings = load_settings_from_env(Path.cwd())
    if kind == "app":
        return create_app(settings)
    return create_backend(settings)


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] not in KINDS or not argv[1].isdigit():
        sys.exit(f"usage: python -m benchmarks.serve {{{'|'.join(KINDS)}}} PORT")
    # As the CLI does: uvicorn's loggers go through one root handler at INFO.
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    hash_threads = os.environ.get("ROWGATE_BENCH_HASH_THREADS")
    if hash_threads:
        passwords._limiter.total_tokens = int(hash_threads)
    access_log = os.environ.get("ROWGATE_BENCH_ACCESS_LOG") == "1"
    app = build(argv[0])
    if os.environ.get("ROWGATE_BENCH_PLAIN_SERVER") == "1":
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=int(argv[1]),
            log_level="info",
            access_log=access_log,
            loop="asyncio",
            http="h11",
            lifespan="on",
            log_config=None,
        )
        uvicorn.Server(config).run()
        return
    serving.serve([(app, "127.0.0.1", int(argv[1]))], access_log=access_log)


if __name__ == "__main__":
    main(sys.argv[1:])
