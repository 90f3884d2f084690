"""The backend's front door: which requests reach the data API, and CORS on both
sides of it."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from rowgate.backend.app import Backend, create_backend
from tests.admin.test_admin_api import make_settings
from tests.servers import serving

APP_ORIGIN = "http://localhost:3000"


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> str:
    settings = make_settings(tmp_path_factory.mktemp("backend"), database_url)
    with serving(create_backend(settings, pool_size=2)) as base:
        yield base  # type: ignore[misc]


@pytest.mark.parametrize(
    "path", ["/api/database", "/api/database/", "/api/database/records"]
)
def test_the_data_api_root_describes_it(backend: str, path: str) -> None:
    response = httpx.get(f"{backend}{path}")

    assert response.status_code == 200
    assert response.json()["swagger"] == "2.0"


def test_data_api_errors_come_from_the_data_api(backend: str) -> None:
    missing = httpx.get(f"{backend}/api/database/records/no_such_table")

    assert (missing.status_code, missing.json()["code"]) == (404, "PGRST205")


def test_the_admin_migrations_route_stays_with_the_admin_api(backend: str) -> None:
    # Without the mount's exception this would be a read of a table "migrations".
    response = httpx.get(f"{backend}/api/database/migrations")

    assert response.status_code == 401
    assert response.json().get("code") != "PGRST205"


def test_other_paths_stay_with_the_site(backend: str) -> None:
    assert httpx.get(f"{backend}/api/health").json()["status"] == "ok"
    assert httpx.get(f"{backend}/api/databases").status_code == 404


def test_cors_on_data_api_reads_exposes_the_headers_clients_need(
    backend: str,
) -> None:
    response = httpx.get(
        f"{backend}/api/database/records/",
        headers={"Origin": APP_ORIGIN},
    )
    foreign = httpx.get(
        f"{backend}/api/database/records/", headers={"Origin": "https://evil.example"}
    )

    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    exposed = response.headers["access-control-expose-headers"]
    assert "Content-Range" in exposed and "Location" in exposed
    assert "access-control-allow-origin" not in foreign.headers


def test_cors_on_site_routes_is_unchanged(backend: str) -> None:
    preflight = httpx.options(
        f"{backend}/api/metadata",
        headers={
            "Origin": APP_ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )

    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == APP_ORIGIN


def test_a_site_route_with_parameters_below_the_mount_is_refused() -> None:
    async def hello(_request: object) -> PlainTextResponse:
        return PlainTextResponse("hi")

    site = Starlette(routes=[Route("/api/database/things/{id}", hello)])
    with pytest.raises(ValueError, match="literal paths"):
        Backend(site, site)
