"""The auth core's settings: one frozen object, checked when it is built.

Defaults are Better Auth's (7-day sessions refreshed after a day, the
``better-auth`` cookie prefix, passwords of 8 to 128 UTF-16 code units), so a
Node app and a rowgate app sharing a database and a secret agree on sessions.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal
from urllib.parse import urlsplit

from rowgate.auth.errors import AuthConfigError
from rowgate.auth.mail import EmailSender
from rowgate.auth.origin import origin_of

MIN_SECRET_LENGTH = 32

CookieCacheStrategy = Literal["compact", "jwt", "jwe"]
RateLimitStorage = Literal["memory", "database", "redis"]


def parse_versioned_secrets(text: str) -> tuple[str, ...]:
    """The secrets in Better Auth's ``BETTER_AUTH_SECRETS`` format,
    ``"<version>:<secret>,..."`` with the current secret first, in order: pass
    the first as ``secret`` and the rest as ``previous_secrets``.

    Versions must be distinct non-negative integers and secrets non-empty,
    as Better Auth requires.
    """
    found: list[str] = []
    versions: set[int] = set()
    for position, entry in enumerate(text.split(","), start=1):
        version, colon, secret = entry.strip().partition(":")
        if not colon or not version.strip().isdigit():
            raise AuthConfigError(
                f"secret entry {position} must look like <version>:<secret>"
            )
        if int(version) in versions or not secret.strip():
            raise AuthConfigError(
                f"secret entry {position} repeats a version or has no secret"
            )
        versions.add(int(version))
        found.append(secret.strip())
    return tuple(found)


@dataclass(frozen=True)
class RateLimitRule:
    """At most ``max`` requests per ``window`` seconds in one bucket."""

    window: int
    max: int

    def __post_init__(self) -> None:
        if self.window < 1 or self.max < 1:
            raise AuthConfigError("rate limit window and max must be at least 1")


@dataclass(frozen=True)
class RateLimitOptions:
    """Better Auth's ``rateLimit`` settings.

    Off by default, as Better Auth is outside production. Buckets are per
    client IP and path; ``custom_rules`` maps a path (``*`` wildcards allowed)
    to a rule, or to None to exempt it. ``storage`` is ``memory`` (one
    process), ``database`` (the ``rateLimit`` table) or ``redis``.
    """

    enabled: bool = False
    window: int = 10
    max: int = 100
    custom_rules: Mapping[str, RateLimitRule | None] = field(
        default_factory=lambda: MappingProxyType({})
    )
    storage: RateLimitStorage = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "custom_rules", MappingProxyType(dict(self.custom_rules))
        )
        RateLimitRule(self.window, self.max)  # the same bounds as a rule's
        if self.storage not in ("memory", "database", "redis"):
            raise AuthConfigError(
                f"rate limit storage must be memory, database or redis, "
                f"got {self.storage!r}"
            )


@dataclass(frozen=True)
class CookieCacheOptions:
    """Better Auth's ``session.cookieCache``: a signed copy of the session and
    user in the ``session_data`` cookie, trusted for ``max_age`` seconds."""

    enabled: bool = False
    max_age: int = 300
    strategy: CookieCacheStrategy = "compact"

    def __post_init__(self) -> None:
        if self.max_age < 1:
            raise AuthConfigError("cookie cache max_age must be at least 1 second")
        if self.strategy not in ("compact", "jwt", "jwe"):
            raise AuthConfigError(
                "cookie cache strategy must be compact, jwt or jwe, got "
                f"{self.strategy!r}"
            )


@dataclass(frozen=True)
class AuthOptions:
    """Settings of one auth core.

    ``base_url`` is the app's public URL (``BETTER_AUTH_URL``); its origin is
    always trusted and its scheme decides the ``__Secure-`` cookie prefix unless
    ``use_secure_cookies`` says otherwise. ``trusted_origins`` are further
    origins (wildcards ``*`` and ``?`` allowed) whose requests may carry
    cookies. Durations are in seconds.

    ``secret`` signs everything new; ``previous_secrets`` (older first or
    newer first, the order does not matter) are still accepted when
    verifying, so rotating the secret does not sign everyone out.
    ``trusted_proxies`` are peer addresses or CIDR ranges whose
    ``ip_address_header`` (``X-Forwarded-For`` by default) names the client;
    any other peer's header is ignored.

    Email flows (Better Auth's ``emailAndPassword`` and ``emailVerification``):
    password reset is on only with a ``send_reset_password`` hook, email
    verification only with ``send_verification_email`` (``mail`` has a
    console transport for development). Unlike Better Auth, a password reset
    signs the user out everywhere unless ``revoke_sessions_on_password_reset``
    is turned off, since a reset usually means the old password leaked.
    ``send_on_sign_up`` defaults to ``require_email_verification``. Changing
    the email and deleting the user are off unless enabled, as in Better Auth;
    with ``send_change_email_confirmation`` a verified user's current address
    approves a change before the new one is mailed its link;
    with ``send_delete_account_verification`` a deletion waits for the emailed
    link (``/delete-user/callback``), valid ``delete_token_expires_in`` seconds.
    """

    secret: str
    base_url: str
    trusted_origins: tuple[str, ...] = ()
    expires_in: int = 604800
    update_age: int = 86400
    fresh_age: int = 86400
    cookie_prefix: str = "better-auth"
    use_secure_cookies: bool | None = None
    min_password_length: int = 8
    max_password_length: int = 128
    previous_secrets: tuple[str, ...] = ()
    rate_limit: RateLimitOptions = field(default_factory=RateLimitOptions)
    cookie_cache: CookieCacheOptions = field(default_factory=CookieCacheOptions)
    trusted_proxies: tuple[str, ...] = ()
    ip_address_header: str = "x-forwarded-for"
    send_reset_password: EmailSender | None = None
    reset_password_token_expires_in: int = 3600
    revoke_sessions_on_password_reset: bool = True
    send_verification_email: EmailSender | None = None
    verification_token_expires_in: int = 3600
    require_email_verification: bool = False
    auto_sign_in: bool = True
    send_on_sign_up: bool | None = None
    send_on_sign_in: bool = False
    auto_sign_in_after_verification: bool = False
    change_email_enabled: bool = False
    update_email_without_verification: bool = False
    send_change_email_confirmation: EmailSender | None = None
    delete_user_enabled: bool = False
    send_delete_account_verification: EmailSender | None = None
    delete_token_expires_in: int = 86400

    def __post_init__(self) -> None:
        object.__setattr__(self, "trusted_origins", tuple(self.trusted_origins))
        object.__setattr__(self, "previous_secrets", tuple(self.previous_secrets))
        object.__setattr__(self, "trusted_proxies", tuple(self.trusted_proxies))
        self._check_secrets()
        self._check_proxies()
        if len(self.secret) < MIN_SECRET_LENGTH:
            raise AuthConfigError(
                f"the auth secret must be at least {MIN_SECRET_LENGTH} characters"
            )
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or origin_of(self.base_url) is None:
            raise AuthConfigError(
                f"base_url must be an absolute http(s) URL, got {self.base_url!r}"
            )
        self._check_durations()

    def _check_secrets(self) -> None:
        for old in self.previous_secrets:
            if not old or old == self.secret:
                raise AuthConfigError(
                    "previous_secrets must be non-empty and differ from secret"
                )

    def _check_proxies(self) -> None:
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise AuthConfigError(
                    f"trusted_proxies entries must be IP addresses or CIDR ranges, "
                    f"got {proxy!r}"
                ) from None
        if not self.ip_address_header:
            raise AuthConfigError("ip_address_header must not be empty")

    def _check_durations(self) -> None:
        if min(self.expires_in, self.update_age, self.fresh_age) < 0:
            raise AuthConfigError("session durations must not be negative")
        if not 1 <= self.min_password_length <= self.max_password_length:
            raise AuthConfigError(
                "password lengths need 1 <= min_password_length <= max_password_length"
            )
        if not self.cookie_prefix:
            raise AuthConfigError("cookie_prefix must not be empty")
        email_tokens = (
            self.reset_password_token_expires_in,
            self.verification_token_expires_in,
        )
        if min(email_tokens) < 1:
            raise AuthConfigError("email token lifetimes must be at least 1 second")

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret a signature may verify against, the current one first."""
        return (self.secret, *self.previous_secrets)

    @property
    def origin(self) -> str:
        """The origin of ``base_url``, e.g. ``http://127.0.0.1:3000``."""
        origin = origin_of(self.base_url)
        assert origin is not None  # checked in __post_init__
        return origin

    @property
    def secure_cookies(self) -> bool:
        """Whether cookies get the ``__Secure-`` prefix and ``Secure``."""
        if self.use_secure_cookies is not None:
            return self.use_secure_cookies
        return self.base_url.startswith("https://")

    @property
    def sends_on_sign_up(self) -> bool:
        """Whether sign-up mails a verification link (Better Auth's
        ``sendOnSignUp``, which defaults to ``requireEmailVerification``)."""
        if self.send_on_sign_up is None:
            return self.require_email_verification
        return self.send_on_sign_up

    @property
    def auth_url(self) -> str:
        """The URL the auth endpoints are served under (``/api/auth``)."""
        return self.base_url.rstrip("/") + "/api/auth"
