"""The pieces of a user's web app, built from settings: the auth core, the bridge
route, the pages, a session lookup, a server-side data client and the lifespan that
opens their pool.

The demo app and the files ``rowgate link`` writes into a project both assemble an
app from these, so the two never drift apart.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from rowgate.auth.app import Auth
from rowgate.auth.mail import EmailSender, console_transport
from rowgate.auth.options import AuthOptions, RateLimitOptions, RateLimitStorage
from rowgate.bridge.route import bridge_route
from rowgate.bridge.token import mint_token
from rowgate.config import Settings, loopback_twins
from rowgate.dataclient import DataClient
from rowgate.db.pools import POOL_TIMEOUT_SECONDS
from rowgate.demo.pages import CurrentUser, PagesConfig, page_routes

_STORAGES: dict[str, RateLimitStorage] = {
    "memory": "memory",
    "database": "database",
    "redis": "redis",
}


@dataclass(frozen=True)
class AppParts:
    auth: Auth
    bridge: Route
    pages: list[BaseRoute]
    current_user: Callable[[Request], Any]
    lifespan: Callable[[Any], AbstractAsyncContextManager[None]]
    data_client: Callable[[Request], AbstractAsyncContextManager[DataClient]]


def rate_limit_options(settings: Settings, *, development: bool) -> RateLimitOptions:
    """Rate limits as configured; unset, on in memory except in development."""
    mode = settings.rate_limit or ("off" if development else "memory")
    if mode not in _STORAGES:
        return RateLimitOptions(enabled=False)
    return RateLimitOptions(
        enabled=True, storage=_STORAGES[mode], redis_url=settings.redis_url
    )


def build_parts(
    settings: Settings,
    *,
    pool_size: int = 10,
    development: bool = False,
    send_email: EmailSender | None = None,
) -> AppParts:
    """Everything an app needs, over one pool on ``DATABASE_URL``.

    ``send_email`` delivers password-reset and verification links; without one,
    development logs them (the console transport) and production turns those
    flows off, so a link is never written to a production log.
    """
    settings.validate_secrets()
    pool = AsyncConnectionPool(
        settings.require_database_url(),
        min_size=1,
        max_size=pool_size,
        open=False,
        name="auth",
        timeout=POOL_TIMEOUT_SECONDS,
    )
    origins = loopback_twins(settings.app_origin, *settings.trusted_origins)
    mailer = send_email or (console_transport if development else None)
    auth = Auth(
        AuthOptions(
            secret=settings.better_auth_secret,
            previous_secrets=settings.previous_auth_secrets,
            base_url=settings.better_auth_url,
            trusted_origins=tuple(origins),
            rate_limit=rate_limit_options(settings, development=development),
            trusted_proxies=settings.trusted_proxies,
            send_reset_password=mailer,
            send_verification_email=mailer,
        ),
        pool,
    )

    async def current_user(request: Request) -> CurrentUser | None:
        found = await auth.get_session(request)
        if found is None:
            return None
        user = found.user
        return CurrentUser(id=user.id, email=user.email, name=user.name)

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        await pool.open(wait=True, timeout=15)
        try:
            yield
        finally:
            await auth.aclose()
            await pool.close()

    @asynccontextmanager
    async def data_client(request: Request) -> AsyncIterator[DataClient]:
        # Tokens are minted only for a session the database still holds.
        found = await auth.get_session(request, disable_cookie_cache=True)

        async def token() -> str | None:
            if found is None:
                return None
            return mint_token(found.user.id, settings.insforge_jwt_secret)

        async with DataClient(settings.insforge_base_url, token) as client:
            yield client

    pages = PagesConfig(
        backend_url=settings.insforge_base_url,
        anon_key=settings.insforge_anon_key,
        password_reset=mailer is not None,
    )
    return AppParts(
        auth=auth,
        bridge=bridge_route(auth, settings.insforge_jwt_secret),
        pages=page_routes(pages, current_user),
        current_user=current_user,
        lifespan=lifespan,
        data_client=data_client,
    )
