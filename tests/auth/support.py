"""Helpers shared by the auth and bridge tests: an app mounting the auth core
and the bridge the way a user's app does, and small request helpers."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata

import httpx
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.routing import Mount

from rowgate.auth.app import Auth
from rowgate.auth.options import AuthOptions
from rowgate.bridge.route import bridge_route

SECRET = "rowgate-test-vector-secret-0123456789abcdef"
JWT_SECRET = "a-different-secret-for-the-data-api-tokens-0123"
ORIGIN = "http://127.0.0.1:3000"
PASSWORD = "correct horse battery staple"


def unique_email(tag: str = "user") -> str:
    return f"{tag}-{secrets.token_hex(6)}@example.com"


def make_options(**changes: object) -> AuthOptions:
    settings: dict[str, object] = {"secret": SECRET, "base_url": ORIGIN}
    settings.update(changes)
    return AuthOptions(**settings)  # type: ignore[arg-type]


def make_app(auth: Auth) -> Starlette:
    return Starlette(
        routes=[Mount("/api/auth", app=auth), bridge_route(auth, JWT_SECRET)]
    )


def client_for(
    pool: AsyncConnectionPool, options: AuthOptions | None = None
) -> httpx.AsyncClient:
    """A client for a fresh app; it sends the app's own Origin, like a browser."""
    auth = Auth(options or make_options(), pool)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app(auth)),
        base_url=ORIGIN,
        headers={"Origin": ORIGIN},
    )


async def sign_up(
    client: httpx.AsyncClient,
    email: str,
    password: str = PASSWORD,
    **extra: object,
) -> httpx.Response:
    body = {"name": "Test User", "email": email, "password": password, **extra}
    return await client.post("/api/auth/sign-up/email", json=body)


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, **extra: object
) -> httpx.Response:
    body = {"email": email, "password": password, **extra}
    return await client.post("/api/auth/sign-in/email", json=body)


def set_cookies(response: httpx.Response) -> list[str]:
    return response.headers.get_list("set-cookie")


def recipe(password: str, salt_hex: str) -> str:
    """Better Auth's password hash, written out independently of the product:
    scrypt N=16384, r=16, p=1, 64 bytes, over the NFKC password, salted with the
    salt's hex text."""
    key = hashlib.scrypt(
        unicodedata.normalize("NFKC", password).encode(),
        salt=salt_hex.encode(),
        n=16384,
        r=16,
        p=1,
        dklen=64,
        maxmem=64 * 1024 * 1024,
    )
    return key.hex()
