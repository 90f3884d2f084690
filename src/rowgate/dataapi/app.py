"""The data API as an ASGI application: authenticate, parse, plan, run, render.

Paths are relative to the mount point (the backend mounts it at
``/api/database``): ``/records/<table>``, ``/rpc/<fn>`` and ``/records/rpc/<fn>``,
with ``/`` and ``/records`` describing what is exposed. Credentials are checked
before anything else, so a refused token never costs a connection. The schema
cache is loaded by ``startup`` and reloaded on ``NOTIFY pgrst, 'reload schema'``
when a listen connection string is given. Tokens that verified and reads already
planned are remembered (``jwt.TokenCache``, ``plan_cache.PlanCache``): a client
repeating itself pays for the transaction and little else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import MutableMapping
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from rowgate.dataapi import schema_cache, tx
from rowgate.dataapi.config import DataApiConfig
from rowgate.dataapi.errors import (
    ApiError,
    AuthError,
    SchemaCacheError,
    UnavailableError,
)
from rowgate.dataapi.jwt import Identity, TokenCache, authenticate
from rowgate.dataapi.openapi import openapi_document
from rowgate.dataapi.plan import make_plan
from rowgate.dataapi.plan_cache import PlanCache, Prepared
from rowgate.dataapi.query import (
    estimate_statement,
    main_statement,
    pre_request_statement,
    settings_statement,
)
from rowgate.dataapi.request import ApiRequest, header_map, parse_request
from rowgate.dataapi.response import (
    JSON_TYPE,
    Response,
    check_result,
    error_response,
    render,
)
from rowgate.db.pools import PoolRecovery

logger = logging.getLogger("rowgate.dataapi")

Scope = MutableMapping[str, Any]
Message = dict[str, Any]
RELOAD_DEBOUNCE_SECONDS = 0.1
LISTEN_RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)
CHANNEL = "pgrst"


class DataApi:
    """A PostgREST-compatible data API over ``pool`` (logged in as authenticator)."""

    def __init__(
        self,
        config: DataApiConfig,
        pool: AsyncConnectionPool[Any],
        *,
        listen_conninfo: str | None = None,
    ) -> None:
        config.validate()
        self.config = config
        self.pool = pool
        self.listen_conninfo = listen_conninfo
        self.cache: schema_cache.SchemaCache | None = None
        self.tokens = TokenCache()
        self.plans = PlanCache()
        self._recovery = PoolRecovery(pool)
        self._tasks: list[asyncio.Task[None]] = []
        self._dirty = asyncio.Event()

    async def startup(self) -> None:
        """Load the schema cache, then follow reload notifications if configured."""
        await self.reload_schema()
        if self.listen_conninfo is not None:
            self._tasks = [
                asyncio.create_task(self._listen(self.listen_conninfo)),
                asyncio.create_task(self._reloader()),
            ]

    async def shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def reload_schema(self) -> None:
        async with self.pool.connection() as conn:
            cache = await schema_cache.load(conn, self.config.schemas)
        missing = sorted(self.config.allowed_roles - cache.roles)
        if missing:
            logger.warning(
                "data API cannot switch to roles %s; they are refused", missing
            )
        self.cache = cache
        logger.info(
            "data API schema cache loaded: %d relations, %d functions",
            len(cache.tables),
            len(cache.functions),
        )

    async def _reloader(self) -> None:
        while True:
            await self._dirty.wait()
            # Notifications arriving within the window are served by one reload.
            await asyncio.sleep(RELOAD_DEBOUNCE_SECONDS)
            self._dirty.clear()
            try:
                await self.reload_schema()
            except (psycopg.Error, OSError) as exc:
                logger.warning(
                    "data API schema reload failed; keeping the old cache: %s", exc
                )

    async def _listen(self, conninfo: str) -> None:
        attempt = 0
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
                async with conn:
                    await conn.execute("LISTEN " + CHANNEL)
                    attempt = 0
                    # Anything may have changed while we were not listening.
                    self._dirty.set()
                    async for notify in conn.notifies():
                        if notify.payload in ("", "reload schema"):
                            self._dirty.set()
            except (psycopg.Error, OSError) as exc:
                delay = LISTEN_RETRY_SECONDS[
                    min(attempt, len(LISTEN_RETRY_SECONDS) - 1)
                ]
                attempt += 1
                logger.warning(
                    "data API listener lost (%s); retrying in %.0fs", exc, delay
                )
                await asyncio.sleep(delay)

    # -- ASGI -------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        head = scope["method"] == "HEAD"
        try:
            response = await self.handle(scope, body)
        except ApiError as error:
            response = error_response(error, head=head)
        except Exception:
            # A fault of ours: the client still gets the API's JSON error shape.
            logger.exception("data API failed on %s %s", scope["method"], scope["path"])
            fault = ApiError("PGRSTX00", "Internal error.")
            response = error_response(fault, head=head)
        await _send(send, response, head=head)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def handle(self, scope: Scope, body: bytes) -> Response:
        """Answer one request; raises ``ApiError`` for an error response."""
        headers = [
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]
        ]
        authorization = [v for k, v in headers if k.lower() == "authorization"]
        identity = authenticate(authorization, self.config, time.time(), self.tokens)
        cache = self._switchable(identity)

        method: str = scope["method"]
        path = _relative_path(scope)
        query_string = scope.get("query_string", b"").decode("latin-1")
        by_name = header_map(headers)
        key = self.plans.key(method, path, query_string, by_name, body)
        prepared = self.plans.get(cache, key) if key is not None else None
        if prepared is not None:
            return await self._execute(
                prepared.for_headers(by_name), prepared, identity
            )

        req = parse_request(
            method, path, query_string, headers, body, self.config.schemas
        )
        if req.method == "OPTIONS":
            return Response(200, [("Allow", allowed_methods(req, cache))])
        if req.target.kind == "root":
            return openapi_document(req, cache)
        prepared = self._prepare(req, cache)
        response = await self._execute(req, prepared, identity)
        if key is not None:
            # Stored once it ran: a refused read never takes a place.
            self.plans.put(cache, key, prepared)
        return response

    def _switchable(self, identity: Identity) -> schema_cache.SchemaCache:
        cache = self.cache
        if cache is None:
            raise UnavailableError(
                "PGRST002",
                "Could not query the database for the schema cache. Retrying.",
            )
        if identity.role not in cache.roles:
            raise AuthError(
                "PGRST301",
                "The JWT 'role' claim names a role the data API does not allow",
            )
        return cache

    def _role_settings(self, role: str) -> tuple[tuple[str, str], ...]:
        cache = self.cache
        return cache.role_settings.get(role, ()) if cache is not None else ()

    def _prepare(self, req: ApiRequest, cache: schema_cache.SchemaCache) -> Prepared:
        config = self.config
        plan = make_plan(
            req,
            cache,
            config.max_rows,
            tx_end=config.tx_end,
            aggregates=config.aggregates,
        )
        estimate = estimate_statement(plan)
        return Prepared(
            req,
            plan,
            main_statement(plan).rendered(),
            estimate.rendered() if estimate is not None else None,
        )

    async def _execute(
        self, req: ApiRequest, prepared: Prepared, identity: Identity
    ) -> Response:
        config = self.config
        plan = prepared.plan
        role_settings = self._role_settings(identity.role)
        before = []
        if config.pre_request is not None:
            before.append(pre_request_statement(config.pre_request_name))
        result = await tx.run(
            self.pool,
            settings_statement(identity, req, req.method, plan.timezone, role_settings),
            prepared.main,
            read_only=plan.read_only,
            anonymous=identity.role == config.anon_role,
            check=check_result(plan),
            before=before,
            rollback=plan.rollback,
            estimate=prepared.estimate,
            on_lost=self._recovery.connection_lost,
            isolation=dict(role_settings).get("default_transaction_isolation"),
        )
        return render(req, plan, result)


def allowed_methods(req: ApiRequest, cache: schema_cache.SchemaCache) -> str:
    """The ``Allow`` header PostgREST answers ``OPTIONS`` with for this target."""
    if req.target.kind == "root":
        return "OPTIONS,GET,HEAD"
    if req.target.kind == "rpc":
        overloads = cache.functions.get((req.schema, req.target.name), ())
        # A volatile function is only called by POST (GET runs read-only).
        if overloads and all(fn.volatile for fn in overloads):
            return "OPTIONS,POST"
        return "OPTIONS,GET,HEAD,POST"
    table = cache.table(req.schema, req.target.name)
    if table is None:
        raise SchemaCacheError(
            "PGRST205",
            f"Could not find the table '{req.schema}.{req.target.name}' in the "
            "schema cache",
        )
    put = ",PUT" if table.primary_key else ""
    return f"OPTIONS,GET,HEAD,POST{put},PATCH,DELETE"


def _relative_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :]
    return path


async def _read_body(receive: Any) -> bytes:
    chunks: list[bytes] = []
    while True:
        message: Message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _send(send: Any, response: Response, *, head: bool) -> None:
    body = b"" if head else response.body
    headers = [
        (k.lower().encode("latin-1"), v.encode("latin-1", "replace"))
        for k, v in response.headers
    ]
    if not any(k == b"content-length" for k, _ in headers):
        headers.append((b"content-length", str(len(response.body)).encode()))
    await send(
        {"type": "http.response.start", "status": response.status, "headers": headers}
    )
    await send({"type": "http.response.body", "body": body})


__all__ = ["JSON_TYPE", "DataApi"]
