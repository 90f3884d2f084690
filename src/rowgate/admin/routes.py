"""The admin API's routes, reachable only with the admin key.

Shapes follow InsForge's so its CLI and ours can both drive a rowgate backend:
``GET /api/metadata``, ``GET /api/metadata/anon-key``, ``GET /api/secrets/<key>``,
``POST /api/secrets/anon-key/rotate``, ``GET
/api/metadata/database-connection-string``, ``GET``/``POST /api/database/migrations``.
Errors are ``{error, message, statusCode}``. Migrations run in a worker thread over
a direct connection with the owner's credentials, under the same advisory lock as
the CLI, and must be newer than the applied head.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from psycopg.conninfo import conninfo_to_dict
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rowgate.admin.anonkeys import MAX_GRACE, AnonKeyRing
from rowgate.admin.keys import is_admin
from rowgate.config import Settings, mask_conninfo
from rowgate.migrations.engine import MigrationError
from rowgate.migrations.files import MigrationFile
from rowgate.migrations.transport import DirectTransport

logger = logging.getLogger("rowgate.admin")

Handler = Callable[[Request], Awaitable[Response]]
_VERSION = re.compile(r"^\d{1,64}$")
_NAME = re.compile(r"^[a-z0-9-]+$")


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": code, "message": message, "statusCode": status}, status_code=status
    )


def admin_routes(
    settings: Settings, anon_keys: AnonKeyRing | None = None
) -> list[Route]:
    """The admin endpoints for ``settings``' project.

    Without ``anon_keys`` the anon key is the configured one and cannot be rotated.
    """

    def current_anon_key() -> str:
        return anon_keys.current if anon_keys else settings.insforge_anon_key

    def guarded(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            if not is_admin(request, settings.insforge_api_key):
                logger.warning(
                    "refused admin request %s %s", request.method, request.url.path
                )
                return error(
                    401, "AUTH_INVALID_API_KEY", "A valid admin key is required"
                )
            logger.info("admin request %s %s", request.method, request.url.path)
            return await handler(request)

        return endpoint

    async def metadata(_request: Request) -> Response:
        return JSONResponse(
            {"projectId": settings.project_id, "projectName": settings.project_name}
        )

    async def anon_key(_request: Request) -> Response:
        return JSONResponse({"anonKey": current_anon_key()})

    async def rotate_anon_key(request: Request) -> Response:
        assert anon_keys is not None
        body: Any = {}
        if await request.body():
            try:
                body = await request.json()
            except ValueError:
                return error(400, "INVALID_INPUT", "The body must be a JSON object")
        hours = body.get("gracePeriodHours", 24) if isinstance(body, dict) else None
        limit = MAX_GRACE.total_seconds() / 3600
        if (
            isinstance(hours, bool)
            or not isinstance(hours, int | float)
            or not 0 <= hours <= limit
        ):
            return error(
                400,
                "INVALID_INPUT",
                f"gracePeriodHours must be a number from 0 to {limit:.0f}",
            )
        rotation = await anon_keys.rotate(timedelta(hours=hours))
        expires = rotation.previous_expire_at
        return JSONResponse(
            {
                "anonKey": rotation.anon_key,
                "previousKeyExpiresAt": expires.isoformat() if expires else None,
                "message": "Anon key rotated",
            }
        )

    async def secret(request: Request) -> Response:
        readable = {
            "JWT_SECRET": settings.insforge_jwt_secret,
            "ANON_KEY": current_anon_key(),
        }
        key = request.path_params["key"]
        if key not in readable:
            return error(404, "SECRET_NOT_FOUND", f"Secret {key} not found")
        return JSONResponse({"key": key, "value": readable[key]})

    async def connection_string(_request: Request) -> Response:
        url = _database_url(settings)
        if url is None:
            return _no_database()
        params = conninfo_to_dict(url)
        params.pop("password", None)
        return JSONResponse({"connectionURL": mask_conninfo(url), "parameters": params})

    async def database_password(_request: Request) -> Response:
        url = _database_url(settings)
        if url is None:
            return _no_database()
        password = conninfo_to_dict(url).get("password", "")
        return JSONResponse({"databasePassword": password})

    async def list_migrations(_request: Request) -> Response:
        url = _database_url(settings)
        if url is None:
            return _no_database()
        history = await run_in_threadpool(_history, url)
        return JSONResponse({"migrations": history})

    async def create_migration(request: Request) -> Response:
        url = _database_url(settings)
        if url is None:
            return _no_database()
        try:
            body = await request.json()
        except ValueError:
            return error(400, "INVALID_INPUT", "The body must be a JSON object")
        problem, migration = _migration_from(body)
        if migration is None:
            return error(400, "INVALID_INPUT", problem)
        return await run_in_threadpool(_apply, url, migration)

    rotation = (
        [
            Route(
                "/api/secrets/anon-key/rotate",
                guarded(rotate_anon_key),
                methods=["POST"],
            )
        ]
        if anon_keys is not None
        else []
    )
    return [
        *rotation,
        Route("/api/metadata", guarded(metadata), methods=["GET"]),
        Route("/api/metadata/anon-key", guarded(anon_key), methods=["GET"]),
        Route(
            "/api/metadata/database-connection-string",
            guarded(connection_string),
            methods=["GET"],
        ),
        Route(
            "/api/metadata/database-password",
            guarded(database_password),
            methods=["GET"],
        ),
        Route("/api/secrets/{key}", guarded(secret), methods=["GET"]),
        Route("/api/database/migrations", guarded(list_migrations), methods=["GET"]),
        Route("/api/database/migrations", guarded(create_migration), methods=["POST"]),
    ]


def _database_url(settings: Settings) -> str | None:
    return settings.database_url or None


def _no_database() -> JSONResponse:
    return error(
        503, "DATABASE_NOT_CONFIGURED", "The backend has no DATABASE_URL to manage"
    )


def _migration_from(body: Any) -> tuple[str, MigrationFile | None]:
    if not isinstance(body, dict):
        return "The body must be a JSON object", None
    version = str(body.get("version", "")).strip()
    name = str(body.get("name", "")).strip()
    text = body.get("sql")
    if not _VERSION.match(version):
        return "version must be 1 to 64 digits", None
    if not _NAME.match(name):
        return "name must use lowercase letters, numbers, and hyphens only", None
    if not isinstance(text, str) or not text.strip():
        return "Migration SQL must contain at least one statement.", None
    # The wire carries the version as a number; files pad it to four digits.
    filename = f"{int(version):04d}_{name}.sql"
    return "", MigrationFile(
        version=int(version), filename=filename, name=name, sql=text
    )


def _history(url: str) -> list[dict[str, Any]]:
    with DirectTransport(url) as transport:
        return transport.history()


def _apply(url: str, migration: MigrationFile) -> Response:
    with DirectTransport(url) as transport, transport.locked():
        head = max((m.version for m in transport.applied()), default=0)
        if migration.version <= head:
            return error(
                409,
                "DATABASE_MIGRATION_ALREADY_EXISTS",
                "Migration version must be newer than the latest applied migration.",
            )
        try:
            done = transport.apply(migration)
        except MigrationError as exc:
            return error(400, "MIGRATION_FAILED", str(exc))
        statements = transport.history()[0]["statements"]
    return JSONResponse(
        {
            "version": migration.canonical_version,
            "name": migration.name,
            "statements": statements,
            "checksum": done.checksum,
            "createdAt": done.applied_at.isoformat() if done.applied_at else None,
            "message": "Migration executed successfully",
        },
        status_code=201,
    )
