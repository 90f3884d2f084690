"""The backend's ASGI application.

It owns the project's secrets and serves the PostgREST-compatible data API at
``/api/database`` over a pool that logs in as ``authenticator``, the admin API
and Studio (admin key only) over the owner's credentials. Browsers reach it
cross-origin from the app, so it answers CORS for the app's origins only.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from rowgate.admin.anonkeys import AnonKeyRing
from rowgate.admin.routes import admin_routes
from rowgate.config import Settings, loopback_twins
from rowgate.dataapi.app import DataApi
from rowgate.dataapi.config import DataApiConfig
from rowgate.studio.app import studio_routes

logger = logging.getLogger("rowgate.backend")

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


def create_backend(settings: Settings, *, pool_size: int = 10) -> Starlette:
    """Build the backend for ``settings``; the pool opens when the app starts."""
    settings.validate_secrets()
    conninfo = settings.authenticator_url()
    pool = AsyncConnectionPool(
        conninfo, min_size=1, max_size=pool_size, open=False, name="dataapi"
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

    return Starlette(
        routes=[
            Route("/api/health", health, methods=["GET"]),
            *admin_routes(settings, anon_keys),
            *studio_routes(settings.insforge_api_key, studio_pool),
            Mount("/api/database", app=data_api),
        ],
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=cors_origins(settings),
                allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"],
                allow_headers=["*"],
                expose_headers=EXPOSED_HEADERS,
                max_age=86400,
            )
        ],
        lifespan=lifespan,
    )
