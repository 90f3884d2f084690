"""The routing table: which handler answers which method and path.

Paths are relative to the mount point (``/api/auth``). Most are fixed; a
pattern route has one trailing ``:name`` segment, which reaches the handler as
``AuthRequest.params[name]``. Only sign-in and sign-up take form-encoded
bodies, as in Better Auth; every other POST takes JSON only.
"""

from __future__ import annotations

from collections.abc import Mapping

from rowgate.auth import (
    email_verification,
    error_page,
    password_reset,
    routes,
    user_updates,
)
from rowgate.auth.routes import FORM, JSON, Endpoint

ROUTES: dict[tuple[str, str], Endpoint] = {
    ("POST", "/sign-up/email"): Endpoint(routes.sign_up_email, (FORM, JSON)),
    ("POST", "/sign-in/email"): Endpoint(routes.sign_in_email, (FORM, JSON)),
    ("POST", "/sign-out"): Endpoint(routes.sign_out),
    ("GET", "/get-session"): Endpoint(routes.get_session),
    ("POST", "/get-session"): Endpoint(routes.get_session),
    ("GET", "/ok"): Endpoint(routes.ok),
    ("GET", "/error"): Endpoint(error_page.error_page),
    ("GET", "/list-sessions"): Endpoint(routes.list_sessions),
    ("POST", "/revoke-session"): Endpoint(routes.revoke_session),
    ("POST", "/revoke-sessions"): Endpoint(routes.revoke_sessions),
    ("POST", "/revoke-other-sessions"): Endpoint(routes.revoke_other_sessions),
    ("GET", "/list-accounts"): Endpoint(routes.list_accounts),
    ("POST", "/unlink-account"): Endpoint(routes.unlink_account),
    ("POST", "/request-password-reset"): Endpoint(
        password_reset.request_password_reset
    ),
    ("POST", "/reset-password"): Endpoint(password_reset.reset_password),
    ("POST", "/send-verification-email"): Endpoint(
        email_verification.send_verification_email_endpoint
    ),
    ("GET", "/verify-email"): Endpoint(email_verification.verify_email),
    ("POST", "/update-user"): Endpoint(user_updates.update_user),
    ("POST", "/change-password"): Endpoint(user_updates.change_password),
    ("POST", "/change-email"): Endpoint(user_updates.change_email),
    ("POST", "/delete-user"): Endpoint(user_updates.delete_user),
    ("GET", "/delete-user/callback"): Endpoint(user_updates.delete_user_callback),
}

# (method, path up to the parameter, parameter name) → endpoint
PATTERN_ROUTES: dict[tuple[str, str, str], Endpoint] = {
    ("GET", "/reset-password/", "token"): Endpoint(
        password_reset.reset_password_callback
    ),
}


def match(method: str, path: str) -> tuple[Endpoint, Mapping[str, str]] | None:
    """The endpoint for ``method`` and ``path`` with its path parameters, or
    None (a bare 404)."""
    endpoint = ROUTES.get((method, path))
    if endpoint is not None:
        return endpoint, {}
    for (route_method, prefix, name), candidate in PATTERN_ROUTES.items():
        value = path[len(prefix) :] if path.startswith(prefix) else ""
        if route_method == method and value and "/" not in value:
            return candidate, {name: value}
    return None
