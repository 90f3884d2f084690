"""``GET /api/insforge-token``: the session cookie in, a bridge token out.

The cookie is checked against the database on every call (signature, row,
expiry), never against the cookie cache's copy, so signing out, revoking a
session or deleting the user stops new tokens at once. The answer is never
cacheable. The route is same-origin with the pages that call it, so it answers
no CORS. A database that cannot be reached gives a 503, not a token.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from rowgate.auth.app import Auth
from rowgate.bridge.token import DEFAULT_LIFETIME, BridgeConfigError, mint_token
from rowgate.db.pools import connection_lost

logger = logging.getLogger("rowgate.bridge")

PATH = "/api/insforge-token"
_NO_STORE = {"Cache-Control": "no-store"}


def bridge_route(
    auth: Auth, jwt_secret: str, *, lifetime: int = DEFAULT_LIFETIME
) -> Route:
    """The bridge route for ``auth``'s sessions, signing with ``jwt_secret``."""
    if not jwt_secret:
        raise BridgeConfigError("the bridge needs a JWT secret to sign with")
    if lifetime <= 0:
        raise BridgeConfigError("token lifetime must be positive")

    async def insforge_token(request: Request) -> JSONResponse:
        try:
            # A cached copy outlives sign-out; a token must not.
            found = await auth.get_session(request, disable_cookie_cache=True)
        except Exception as exc:
            if not connection_lost(exc):
                raise
            logger.warning("bridge could not reach the database: %s", exc)
            return JSONResponse(
                {"error": "database unavailable"},
                status_code=503,
                headers={**_NO_STORE, "Retry-After": "1"},
            )
        if found is None:
            return JSONResponse(
                {"error": "not signed in"}, status_code=401, headers=_NO_STORE
            )
        token = mint_token(found.user.id, jwt_secret, lifetime=lifetime)
        logger.debug("minted a bridge token for user %s", found.user.id)
        return JSONResponse({"token": token}, headers=_NO_STORE)

    return Route(PATH, insforge_token, methods=["GET"], name="insforge_token")
