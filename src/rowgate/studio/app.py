"""Studio's routes: sign-in with the admin key, then schema, table and row views.

Only the project's admin key opens Studio: sent as a bearer or ``x-api-key`` header,
or typed once into the sign-in form, which starts a server-side Studio session held
in an HttpOnly, SameSite=Strict cookie. The anon key and user tokens never do. Each
admin access is logged.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import urlencode

import jinja2
from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from rowgate.admin.keys import is_admin, matches
from rowgate.studio.browse import MASK, Browser

logger = logging.getLogger("rowgate.studio")

COOKIE = "rowgate_studio"
SESSION_SECONDS = 8 * 3600
PAGE_SIZE = 25

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(
        str(resources.files("rowgate.studio") / "templates")
    ),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


@dataclass
class Sessions:
    """Studio sessions of this process: token → expiry (monotonic seconds)."""

    lifetime: int = SESSION_SECONDS
    _live: dict[str, float] = field(default_factory=dict)

    def start(self) -> str:
        token = secrets.token_urlsafe(32)
        self._live[token] = time.monotonic() + self.lifetime
        return token

    def valid(self, token: str | None) -> bool:
        if token is None:
            return False
        expiry = self._live.get(token)
        if expiry is None or expiry < time.monotonic():
            self._live.pop(token, None)
            return False
        return True

    def end(self, token: str | None) -> None:
        if token:
            self._live.pop(token, None)


def studio_routes(admin_key: str, pool: AsyncConnectionPool) -> list[Route]:
    """Studio under ``/studio``, reading through ``pool`` (the owner's credentials)."""
    sessions = Sessions()
    browser = Browser(pool)

    def allowed(request: Request) -> bool:
        return is_admin(request, admin_key) or sessions.valid(
            request.cookies.get(COOKIE)
        )

    async def home(request: Request) -> Response:
        if not allowed(request):
            logger.warning("refused Studio access from %s", _client(request))
            return _render("login.html", {"error": None}, status=401)
        logger.info("Studio access %s?%s", request.url.path, request.url.query)
        return _render("studio.html", await _view(browser, request))

    async def login(request: Request) -> Response:
        form = await request.form()
        if not matches(str(form.get("key", "")).strip(), admin_key):
            logger.warning("failed Studio sign-in from %s", _client(request))
            return _render(
                "login.html", {"error": "That is not this project's admin key."}, 401
            )
        response = RedirectResponse("/studio", status_code=303)
        response.set_cookie(
            COOKIE,
            sessions.start(),
            max_age=sessions.lifetime,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/studio",
        )
        logger.info("Studio sign-in from %s", _client(request))
        return response

    async def logout(request: Request) -> Response:
        sessions.end(request.cookies.get(COOKIE))
        response = RedirectResponse("/studio", status_code=303)
        response.delete_cookie(COOKIE, path="/studio")
        return response

    return [
        Route("/studio", home, methods=["GET"]),
        Route("/studio/login", login, methods=["POST"]),
        Route("/studio/logout", logout, methods=["POST"]),
    ]


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _render(name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    html = _templates.get_template(name).render(**context)
    return HTMLResponse(
        html,
        status_code=status,
        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"},
    )


async def _view(browser: Browser, request: Request) -> dict[str, Any]:
    query = request.query_params
    schemas = await browser.schemas()
    schema = query.get("schema", "public")
    if schema not in schemas:
        schema = schemas[0] if schemas else "public"
    tables = await browser.tables(schema)
    table = query.get("table")
    if table not in {t.name for t in tables}:
        table = None
    context: dict[str, Any] = {
        "schemas": schemas,
        "schema": schema,
        "tables": tables,
        "table": table,
        "page": None,
        "mask": MASK,
        "reveal": query.get("reveal") == "1",
        "sort": query.get("sort"),
        "desc": query.get("desc") == "1",
        "fcol": query.get("fcol", ""),
        "q": query.get("q", ""),
        "number": max(1, _int(query.get("page"), 1)),
        "page_size": PAGE_SIZE,
    }
    if table is not None:
        context["page"] = await browser.page(
            schema,
            table,
            limit=PAGE_SIZE,
            offset=(context["number"] - 1) * PAGE_SIZE,
            sort=context["sort"],
            descending=context["desc"],
            filter_column=context["fcol"] or None,
            filter_text=context["q"],
        )
    context["link"] = _linker(context)
    return context


def _linker(context: dict[str, Any]) -> Any:
    def link(**changes: Any) -> str:
        params = {
            "schema": context["schema"],
            "table": context["table"],
            "sort": context["sort"],
            "desc": "1" if context["desc"] else None,
            "fcol": context["fcol"] or None,
            "q": context["q"] or None,
            "reveal": "1" if context["reveal"] else None,
            "page": str(context["number"]) if context["number"] > 1 else None,
        }
        params.update({k: (None if v is None else str(v)) for k, v in changes.items()})
        return "/studio?" + urlencode({k: v for k, v in params.items() if v})

    return link


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default
