"""The demo app's pages: sign-up, sign-in, password reset and the user's posts.

Pages are rendered on the server from Jinja2 templates (autoescaped) and driven by
small scripts under ``/static``: the auth forms post JSON to ``/api/auth`` on this
origin, and the posts page reads and writes ``public.posts`` through the backend's
data API straight from the browser, with the bridge token. Who is signed in is
asked of a ``SessionLookup`` so the pages know nothing about the auth core.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jinja2
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

# A host (name, IPv4 or bracketed IPv6) and an optional port; nothing that could
# break out of the Content-Security-Policy header the origin is written into.
_NETLOC = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


@dataclass(frozen=True)
class CurrentUser:
    id: str
    email: str
    name: str


SessionLookup = Callable[[Request], Awaitable[CurrentUser | None]]


@dataclass(frozen=True)
class PagesConfig:
    backend_url: str  # the data API's origin, e.g. http://127.0.0.1:7130
    anon_key: str
    title: str = "rowgate"
    # Whether reset links can be delivered: without a sender the auth core
    # refuses resets, so the pages offer none.
    password_reset: bool = True


def page_routes(config: PagesConfig, session_lookup: SessionLookup) -> list[BaseRoute]:
    """The routes of the pages and their static files, ready to mount at the root.

    Raises ``ValueError`` when ``config.backend_url`` is not an http(s) origin, so a
    bad setting stops the app at start-up rather than in the browser.
    """
    backend_origin = _origin(config.backend_url)
    templates = Jinja2Templates(env=_environment())
    headers = _security_headers(backend_origin)

    def render(request: Request, name: str, **context: Any) -> Response:
        context |= {"config": config, "script_config": _script_config(config)}
        response = templates.TemplateResponse(request, name, context, headers=headers)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def home(request: Request) -> Response:
        user = await session_lookup(request)
        if user is None:
            return RedirectResponse("/sign-in", status_code=303)
        return render(request, "posts.html", user=user)

    def auth_page(
        template: str, context: Callable[[Request], dict[str, Any]] = lambda _r: {}
    ) -> Callable[[Request], Awaitable[Response]]:
        async def page(request: Request) -> Response:
            if await session_lookup(request) is not None:
                return RedirectResponse("/", status_code=303)
            return render(request, template, **context(request))

        return page

    static = StaticFiles(packages=[("rowgate.demo", "static")])
    routes: list[BaseRoute] = [
        Route("/", home, name="home"),
        Route("/sign-in", auth_page("sign_in.html", _sign_in_context), name="sign_in"),
        Route("/sign-up", auth_page("sign_up.html"), name="sign_up"),
        Mount("/static", app=static, name="static"),
    ]
    if config.password_reset:
        routes += [
            Route(
                "/forgot-password",
                auth_page("forgot_password.html"),
                name="forgot_password",
            ),
            Route(
                "/reset-password",
                auth_page("reset_password.html", _reset_context),
                name="reset_password",
            ),
        ]
    return routes


def _sign_in_context(request: Request) -> dict[str, Any]:
    changed = request.query_params.get("reset") == "1"
    return {"notice": "Password changed. Sign in with the new one." if changed else ""}


def _reset_context(request: Request) -> dict[str, Any]:
    """The token a reset link carries, or why the link cannot be used (the auth
    core sends ``?error=INVALID_TOKEN`` for a bad or used link)."""
    token = request.query_params.get("token", "")
    problem = ""
    if request.query_params.get("error") or not token:
        problem = "This reset link is invalid or was already used. Ask for a new one."
    return {"token": token, "link_problem": problem}


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("rowgate.demo", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not _NETLOC.fullmatch(parts.netloc):
        raise ValueError(f"backend_url must be an http(s) URL, got {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def _script_config(config: PagesConfig) -> dict[str, str]:
    """What the browser scripts read from the page (as JSON, never as markup)."""
    return {
        "backendUrl": config.backend_url.rstrip("/"),
        "anonKey": config.anon_key,
        "tokenUrl": "/api/insforge-token",
    }


def _security_headers(backend_origin: str) -> dict[str, str]:
    # Scripts and styles come only from /static; the one place data may go besides
    # this origin is the backend.
    policy = "; ".join(
        [
            "default-src 'self'",
            f"connect-src 'self' {backend_origin}",
            "img-src 'self' data:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )
    return {
        "Content-Security-Policy": policy,
        "Referrer-Policy": "same-origin",
        "X-Content-Type-Options": "nosniff",
    }
