"""The backend's ASGI application.

It owns the project's secrets and serves the PostgREST-compatible data API at
``/api/database`` over a pool that logs in as ``authenticator``, the admin API
and Studio (admin key only) over the owner's credentials. Browsers reach it
cross-origin from the app, so it answers CORS for the app's origins only.

Data API requests are nearly all of its traffic, so ``Backend`` hands them to the
pipeline directly, behind the same CORS policy, instead of through Starlette's
router and error middleware: that walk cost a tenth of a read's CPU.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from rowgate.admin.anonkeys import AnonKeyRing
from rowgate.admin.routes import admin_routes
from rowgate.config import Settings, loopback_twins
from rowgate.dataapi.app import DataApi
from rowgate.dataapi.config import DataApiConfig
from rowgate.db.pools import POOL_TIMEOUT_SECONDS
from rowgate.studio.app import studio_routes

logger = logging.getLogger("rowgate.backend")

DATA_API_PATH = "/api/database"

# Browser clients read counts and new-row locations from these headers.
EXPOSED_HEADERS = [
    "Content-Encoding",
    "Content-Location",
    "Content-Range",
    "Content-Type",
    "Date",
    "Location",
    "Preference-Applied",
    "Range-Unit",
]


def cors_origins(settings: Settings) -> list[str]:
    """The app's origin, its loopback twin, and the configured trusted origins."""
    return loopback_twins(settings.app_origin, *settings.trusted_origins)


def cors_options(settings: Settings) -> dict[str, Any]:
    """Starlette ``CORSMiddleware`` options for every route of the backend."""
    return {
        "allow_origins": cors_origins(settings),
        "allow_methods": ["GET", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"],
        "allow_headers": ["*"],
        "expose_headers": EXPOSED_HEADERS,
        "max_age": 86400,
    }


class Backend:
    """The backend's ASGI entry: ``/api/database/...`` goes to the data API, the
    rest (health, admin API, Studio, lifespan) to Starlette.

    The site's own routes below that prefix (the admin API's migrations) stay
    the site's, as they were when its router tried them before the mount.
    """

    def __init__(self, site: Starlette, data_api: ASGIApp) -> None:
        self.site = site
        self.data_api = data_api
        below = [
            route.path
            for route in site.routes
            if isinstance(route, Route) and route.path.startswith(DATA_API_PATH + "/")
        ]
        if any("{" in path for path in below):
            raise ValueError(f"routes below {DATA_API_PATH} must be literal paths")
        self.site_paths = frozenset(below)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            root: str = scope.get("root_path", "")
            path: str = scope["path"]
            route = path[len(root) :] if root and path.startswith(root) else path
            if (
                route == DATA_API_PATH or route.startswith(DATA_API_PATH + "/")
            ) and route not in self.site_paths:
                # As a Starlette mount would: the data API sees paths below it.
                mounted = {**scope, "root_path": root + DATA_API_PATH}
                await self.data_api(mounted, receive, send)
                return
        await self.site(scope, receive, send)


def create_backend(settings: Settings, *, pool_size: int = 10) -> Backend:
    """Build the backend for ``settings``; the pool opens when the app starts."""
    settings.validate_secrets()
    conninfo = settings.authenticator_url()
    pool = AsyncConnectionPool(
        conninfo,
        min_size=1,
        max_size=pool_size,
        open=False,
        name="dataapi",
        timeout=POOL_TIMEOUT_SECONDS,
    )
    # Studio and the admin API use the owner's credentials on a pool of their
    # own, never the data API's authenticator.
    studio_pool = AsyncConnectionPool(
        settings.require_database_url(),
        min_size=0,
        max_size=2,
        open=False,
        name="studio",
    )
    anon_keys = AnonKeyRing(studio_pool, settings.insforge_anon_key)
    data_api = DataApi(
        DataApiConfig(
            jwt_secret=settings.insforge_jwt_secret,
            anon_key_check=anon_keys.accepts,
            jwt_aud=settings.jwt_aud,
            schemas=settings.db_schemas,
            pre_request=settings.db_pre_request,
            tx_end=settings.db_tx_end,
            max_rows=settings.db_max_rows,
            aggregates=settings.db_aggregates,
        ),
        pool,
        listen_conninfo=conninfo,
    )

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await pool.open(wait=True, timeout=15)
        await studio_pool.open()
        await anon_keys.start()
        await data_api.startup()
        logger.info("backend ready for project %s", settings.project_id)
        try:
            yield
        finally:
            await data_api.shutdown()
            await anon_keys.stop()
            await studio_pool.close()
            await pool.close()

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "projectId": settings.project_id})

    site = Starlette(
        routes=[
            Route("/api/health", health, methods=["GET"]),
            *admin_routes(settings, anon_keys),
            *studio_routes(settings.insforge_api_key, studio_pool),
        ],
        middleware=[Middleware(CORSMiddleware, **cors_options(settings))],
        lifespan=lifespan,
    )
    return Backend(site, CORSMiddleware(data_api, **cors_options(settings)))
