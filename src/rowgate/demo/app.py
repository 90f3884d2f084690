"""The posts demo app that ``rowgate dev`` serves.

It is the app a linked project gets: the auth core mounted at ``/api/auth``, the
bridge at ``/api/insforge-token`` and the pages, all over one pool on
``DATABASE_URL``. The browser fetches data from the backend with the bridge token.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Mount

from rowgate.config import Settings
from rowgate.webapp import build_parts


def create_app(
    settings: Settings, *, pool_size: int = 10, development: bool = False
) -> Starlette:
    """Build the demo app for ``settings``; its pool opens when the app starts.

    ``development`` (``rowgate dev``) logs email links and leaves rate limits off
    unless ``ROWGATE_RATE_LIMIT`` says otherwise.
    """
    parts = build_parts(settings, pool_size=pool_size, development=development)
    return Starlette(
        routes=[Mount("/api/auth", app=parts.auth), parts.bridge, *parts.pages],
        lifespan=parts.lifespan,
    )
