"""The posts demo app that ``rowgate dev`` serves.

It is the shape a linked project gets: the auth core mounted at ``/api/auth``, the
bridge at ``/api/insforge-token`` and the pages, all over one pool on
``DATABASE_URL``. The browser fetches data from the backend with the bridge token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount

from rowgate.auth.app import Auth
from rowgate.auth.options import AuthOptions
from rowgate.backend.app import cors_origins
from rowgate.bridge.route import bridge_route
from rowgate.config import Settings
from rowgate.demo.pages import CurrentUser, PagesConfig, page_routes


def create_app(settings: Settings, *, pool_size: int = 10) -> Starlette:
    """Build the demo app for ``settings``; the pool opens when the app starts."""
    settings.validate_secrets()
    pool = AsyncConnectionPool(
        settings.require_database_url(),
        min_size=1,
        max_size=pool_size,
        open=False,
        name="auth",
    )
    auth = Auth(
        AuthOptions(
            secret=settings.better_auth_secret,
            base_url=settings.better_auth_url,
            trusted_origins=tuple(cors_origins(settings)),
        ),
        pool,
    )

    async def current_user(request: Request) -> CurrentUser | None:
        found = await auth.get_session(request)
        if found is None:
            return None
        return CurrentUser(
            id=found.user.id, email=found.user.email, name=found.user.name
        )

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await pool.open(wait=True, timeout=15)
        try:
            yield
        finally:
            await pool.close()

    pages = PagesConfig(
        backend_url=settings.insforge_base_url, anon_key=settings.insforge_anon_key
    )
    return Starlette(
        routes=[
            Mount("/api/auth", app=auth),
            bridge_route(auth, settings.insforge_jwt_secret),
            *page_routes(pages, current_user),
        ],
        lifespan=lifespan,
    )
