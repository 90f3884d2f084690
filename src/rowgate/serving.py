"""Serving ASGI apps the way every rowgate command does.

``rowgate serve``, ``run`` and ``dev`` (which runs two servers at once) and the
benchmarks all go through ``serve``, so what is measured is what ships: uvicorn on
uvloop and httptools where ``uvicorn[standard]`` installed them, logs through the
process's root handler, the access log only when asked for, one signal handler
that stops every server, and a failed start that ends the others instead of the
process.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from rowgate.errors import RowgateError


class ServerFailed(RowgateError):
    """A server did not start (the log says why)."""


class Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to ``serve_all``."""

    def __init__(self, app: Any, host: str, port: int, *, access_log: bool) -> None:
        # log_config=None: uvicorn logs through the process's root handler.
        super().__init__(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_level="info",
                lifespan="on",
                log_config=None,
                access_log=access_log,
            )
        )

    async def startup(self, sockets: list[Any] | None = None) -> None:
        # uvicorn exits the process when it cannot bind; here the other servers
        # must stop too, so a failed start only ends this server.
        try:
            await super().startup(sockets=sockets)
        except SystemExit:
            self.should_exit = True

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_all(
    servers: list[tuple[Any, str, int]],
    *,
    access_log: bool = False,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve several apps in one loop; Ctrl-C or SIGTERM stops all of them.

    The access log is off by default: a line per request costs about a tenth of
    a request's CPU.
    """
    instances = [
        Server(app, host, port, access_log=access_log) for app, host, port in servers
    ]
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, _stop_all, instances)
    tasks = [asyncio.create_task(s.serve()) for s in instances]
    while not all(s.started for s in instances) and not any(t.done() for t in tasks):
        await asyncio.sleep(0.05)
    if all(s.started for s in instances) and on_ready is not None:
        on_ready()

    # When one server stops, by signal or failure, the others follow.
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    _stop_all(instances)
    await asyncio.gather(*tasks, return_exceptions=True)
    if not all(s.started for s in instances):
        raise ServerFailed("a server failed to start; see the log above")


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on uvloop where it is installed: the event loop is about a
    fifth of a request's CPU, and uvloop's costs less than asyncio's own."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


def serve(
    servers: list[tuple[Any, str, int]],
    *,
    access_log: bool = False,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve ``servers`` (app, host, port) until a signal or a failure."""
    run(serve_all(servers, access_log=access_log, on_ready=on_ready))


def _stop_all(instances: list[Server]) -> None:
    for server in instances:
        server.should_exit = True
