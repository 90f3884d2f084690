"""The auth core's settings: one frozen object, checked when it is built.

Defaults are Better Auth's (7-day sessions refreshed after a day, the
``better-auth`` cookie prefix, passwords of 8 to 128 UTF-16 code units), so a
Node app and a rowgate app sharing a database and a secret agree on sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from rowgate.auth.errors import AuthConfigError
from rowgate.auth.origin import origin_of

MIN_SECRET_LENGTH = 32


@dataclass(frozen=True)
class AuthOptions:
    """Settings of one auth core.

    ``base_url`` is the app's public URL (``BETTER_AUTH_URL``); its origin is
    always trusted and its scheme decides the ``__Secure-`` cookie prefix unless
    ``use_secure_cookies`` says otherwise. ``trusted_origins`` are further
    origins (wildcards ``*`` and ``?`` allowed) whose requests may carry
    cookies. Durations are in seconds.
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

    def __post_init__(self) -> None:
        object.__setattr__(self, "trusted_origins", tuple(self.trusted_origins))
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

    def _check_durations(self) -> None:
        if min(self.expires_in, self.update_age, self.fresh_age) < 0:
            raise AuthConfigError("session durations must not be negative")
        if not 1 <= self.min_password_length <= self.max_password_length:
            raise AuthConfigError(
                "password lengths need 1 <= min_password_length <= max_password_length"
            )
        if not self.cookie_prefix:
            raise AuthConfigError("cookie_prefix must not be empty")

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
    def auth_url(self) -> str:
        """The URL the auth endpoints are served under (``/api/auth``)."""
        return self.base_url.rstrip("/") + "/api/auth"
