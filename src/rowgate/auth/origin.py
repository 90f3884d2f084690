"""Trusted origins and the CSRF checks built on them, as pure functions.

The trusted set is the base URL's origin plus the configured patterns. A
pattern without wildcards matches one origin exactly (scheme, host and port);
``*`` and ``?`` match within the host (and the scheme, when the pattern has
one), never across ``/``. Callback URLs may also be root-relative paths.

A mutating request that carries a ``Cookie`` header must name a trusted
``Origin`` (or, lacking one, ``Referer``). Sign-in and sign-up are checked
even without cookies whenever the browser sent Fetch Metadata or an Origin or
Referer, and cross-site top-level form posts to them are refused outright.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from rowgate.auth.errors import APIError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ENCODED_SEPARATOR = re.compile(r"%2f|%5c", re.IGNORECASE)
_IPV4 = re.compile(
    r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}"
    r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
)
_IP_RANGE_PATTERN = re.compile(r"(?=.*\d)[\d*?.]+")


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute URL (lower-case, default port
    dropped), or None when ``url`` has no scheme and host."""
    if _CONTROL.search(url):
        return None
    try:
        # Browsers read a backslash in an http(s) URL as a slash (WHATWG URL):
        # parse it so, or ``http://evil\@trusted/`` would pass for ``trusted``.
        parts = urlsplit(url.strip().replace("\\", "/"))
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def is_safe_relative_path(value: str) -> bool:
    """Whether ``value`` is a root-relative path a browser cannot read as
    another host (``//evil``, ``/\\evil``, encoded slashes, control chars)."""
    if not value.startswith("/") or value.startswith(("//", "/\\")):
        return False
    if "\\" in value or _CONTROL.search(value):
        return False
    return not _ENCODED_SEPARATOR.search(value)


@lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    out = []
    for char in pattern:
        if char == "*":
            out.append(r"[^/\\]*")
        elif char == "?":
            out.append(r"[^/\\]")
        else:
            out.append(re.escape(char))
    return re.compile("".join(out), re.IGNORECASE)


def matches_origin_pattern(url: str, pattern: str) -> bool:
    """Whether absolute ``url`` is from the origin ``pattern`` names."""
    origin = origin_of(url)
    if origin is None:
        return False
    if "*" not in pattern and "?" not in pattern:
        return origin == origin_of(pattern)
    subject = origin if "://" in pattern else origin.split("://", 1)[1]
    if not _glob(pattern.rstrip("/")).fullmatch(subject):
        return False
    return _ip_range_admits(pattern, origin)


def _ip_range_admits(pattern: str, origin: str) -> bool:
    # A host pattern of digits, dots and wildcards names an address range; a
    # bare "*" would otherwise let "192.168.attacker.com" through.
    pattern_host = pattern.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
    if not _IP_RANGE_PATTERN.fullmatch(pattern_host):
        return True
    host = urlsplit(origin).hostname or ""
    return _IPV4.fullmatch(host) is not None


@dataclass(frozen=True)
class TrustedOrigins:
    """The origin patterns requests and callback URLs are checked against."""

    patterns: tuple[str, ...]

    @classmethod
    def of(cls, base_origin: str, extra: Iterable[str]) -> TrustedOrigins:
        return cls((base_origin, *(p for p in extra if p)))

    def trusts(self, url: str, *, allow_relative: bool = False) -> bool:
        if allow_relative and url.startswith("/"):
            return is_safe_relative_path(url)
        return any(matches_origin_pattern(url, p) for p in self.patterns)


def check_origin_header(headers: Mapping[str, str], trusted: TrustedOrigins) -> None:
    """Require a trusted ``Origin`` (or ``Referer``); raise the 403 otherwise."""
    claimed = headers.get("origin") or headers.get("referer") or ""
    if not claimed or claimed == "null":
        raise APIError("MISSING_OR_NULL_ORIGIN")
    if not trusted.trusts(claimed):
        raise APIError("INVALID_ORIGIN")


def check_cookie_request(
    method: str, headers: Mapping[str, str], trusted: TrustedOrigins
) -> None:
    """The gate every endpoint passes: a mutating request that carries cookies
    must come from a trusted origin."""
    if method in SAFE_METHODS or "cookie" not in headers:
        return
    check_origin_header(headers, trusted)


def check_login_request(headers: Mapping[str, str], trusted: TrustedOrigins) -> None:
    """The extra gate of sign-in and sign-up, which run without a session.

    A cross-site top-level navigation (a forged form post) is refused. When
    the client sent Fetch Metadata or an Origin/Referer (any browser does),
    the origin must be trusted; with none of them (a server-side caller) the
    request passes.
    """
    if "cookie" in headers:
        check_origin_header(headers, trusted)
        return
    site = headers.get("sec-fetch-site", "").strip()
    mode = headers.get("sec-fetch-mode", "").strip()
    dest = headers.get("sec-fetch-dest", "").strip()
    if site == "cross-site" and mode == "navigate":
        raise APIError("CROSS_SITE_NAVIGATION_LOGIN_BLOCKED")
    browser_hints = site or mode or dest
    if browser_hints or "origin" in headers or "referer" in headers:
        check_origin_header(headers, trusted)


CALLBACK_FIELDS = (
    ("callbackURL", "INVALID_CALLBACK_URL"),
    ("redirectTo", "INVALID_REDIRECT_URL"),
)


def check_callback_urls(
    body: object, query: Mapping[str, str], trusted: TrustedOrigins
) -> None:
    """Refuse untrusted redirect targets named in the body or query."""
    fields = body if isinstance(body, dict) else {}
    for name, code in CALLBACK_FIELDS:
        value = fields.get(name) or (query.get(name) if name == "callbackURL" else None)
        if (
            isinstance(value, str)
            and value
            and not trusted.trusts(value, allow_relative=True)
        ):
            raise APIError(code)
