"""Reads that repeat skip parsing, planning and composing SQL.

Everything a read's plan and statements depend on is in its method, path, query
string and the few headers that shape a plan (``PLAN_HEADERS``); the rest of the
request (the other headers, cookies and the token) only feeds the per-request
settings. So the first ``GET`` or ``HEAD`` with a given key is parsed, planned and
composed as usual, and later ones reuse the parsed request, the plan and the
rendered statements, filling in only their own headers and cookies. Filter values
are part of the key: a list that many clients poll is served from the cache, a
lookup by a new id is planned afresh.

Entries belong to one schema cache and are dropped when it is replaced. Only
reads that succeeded are stored, and not those with keys longer than
``MAX_KEY_CHARS`` characters; at most ``capacity`` entries are kept, the oldest
going first. A long select list makes a large entry (about 70 KB for a 2 KB
key), so the bounds keep the whole cache within tens of megabytes whatever
clients send.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from rowgate.dataapi.plan import Plan
from rowgate.dataapi.query import Statement
from rowgate.dataapi.request import ApiRequest, parse_cookies
from rowgate.dataapi.schema_cache import SchemaCache

# Headers read by parsing and planning: schema profile, preferences, media type,
# range and body type. Any other header changes only the request settings.
PLAN_HEADERS = (
    "accept-profile",
    "content-profile",
    "prefer",
    "accept",
    "range",
    "content-type",
)
CACHED_METHODS = frozenset({"GET", "HEAD"})
MAX_KEY_CHARS = 2048

Key = tuple[str | None, ...]


@dataclass(frozen=True)
class Prepared:
    """A request parsed, planned and composed, ready to run again."""

    req: ApiRequest
    plan: Plan
    main: Statement
    estimate: Statement | None

    def for_headers(self, headers: Mapping[str, str]) -> ApiRequest:
        """The cached request as sent with ``headers`` (lower-cased names)."""
        return dataclasses.replace(
            self.req,
            headers=headers,
            cookies=parse_cookies(headers.get("cookie", "")),
        )


class PlanCache:
    """Prepared reads of one schema cache, by ``key``."""

    def __init__(self, capacity: int = 512) -> None:
        self.capacity = capacity
        self._owner: SchemaCache | None = None
        self._entries: dict[Key, Prepared] = {}

    @staticmethod
    def key(
        method: str,
        path: str,
        query_string: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> Key | None:
        """The cache key of a request, or None when it is not a cacheable read."""
        if method not in CACHED_METHODS or body:
            return None
        key = (method, path, query_string, *(headers.get(h) for h in PLAN_HEADERS))
        if sum(len(part) for part in key if part is not None) > MAX_KEY_CHARS:
            return None
        return key

    def get(self, cache: SchemaCache, key: Key) -> Prepared | None:
        if cache is not self._owner:
            return None
        return self._entries.get(key)

    def put(self, cache: SchemaCache, key: Key, prepared: Prepared) -> None:
        if cache is not self._owner:
            self._owner = cache
            self._entries = {}
        if len(self._entries) >= self.capacity:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = prepared

    def __len__(self) -> int:
        return len(self._entries)
