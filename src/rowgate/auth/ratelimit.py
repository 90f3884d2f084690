"""Rate limits on the auth endpoints, as Better Auth applies them.

A bucket is one client IP and one path (``203.0.113.7|/sign-in/email``). Each
path has a rule, at most ``max`` requests per ``window`` seconds: Better
Auth's default (100 per 10 s), its stricter built-in rules (3 per 10 s on
sign-in, sign-up, change-password and change-email; 3 per 60 s on password
reset and verification mail), then the app's ``custom_rules``. The count is
Better Auth's too: every allowed request moves the bucket's ``lastRequest``,
the bucket starts over once ``window`` has passed since then, and a refused
request changes nothing. The refusal is a 429 with ``X-Retry-After`` (seconds).

A store that cannot be reached decides nothing: the request is refused with a
503 (``RATE_LIMIT_UNAVAILABLE``, ``Retry-After``) rather than let through
uncounted, so an outage of Redis never opens sign-in to guessing.

The client IP is the socket peer's; a forwarded-for header counts only when
the peer is one of ``trusted_proxies``, so a client cannot pick its own
bucket. IPv6 clients share a bucket per /64, as Better Auth groups them.

Three stores decide atomically: ``MemoryStore`` for one process,
``PostgresStore`` (Better Auth's ``rateLimit`` table, one statement per
request) and ``RedisStore`` (one Lua script per request) for several workers.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Protocol

from psycopg import sql
from psycopg_pool import AsyncConnectionPool
from starlette.datastructures import Headers

from rowgate.auth.errors import APIError
from rowgate.auth.options import AuthOptions, RateLimitOptions, RateLimitRule
from rowgate.auth.schema import DEFAULT_SCHEMA
from rowgate.auth.tokens import generate_id

logger = logging.getLogger("rowgate.auth")

TOO_MANY_REQUESTS = "Too many requests. Please try again later."
RETRY_AFTER_HEADER = "x-retry-after"
# Requests whose IP cannot be told share one bucket per path, as in Better Auth.
NO_IP = "no-trusted-ip"
IPV6_BUCKET_PREFIX = 64
MEMORY_MAX_ENTRIES = 100_000
# Seconds a client is told to wait when the store cannot be reached.
STORE_RETRY_SECONDS = 5

_SIGN_IN_LIKE = ("/sign-in", "/sign-up", "/change-password", "/change-email")
_MAIL_SENDING = ("/request-password-reset", "/send-verification-email")


@dataclass(frozen=True)
class Decision:
    """Whether a request may go on; if not, how many seconds until it may."""

    allowed: bool
    retry_after: int = 0


class RateLimitStore(Protocol):
    """Counts a request against ``key`` under ``rule``, atomically."""

    async def consume(self, key: str, rule: RateLimitRule, now_ms: int) -> Decision:
        """Count one request at ``now_ms`` (Unix milliseconds) and decide it."""
        ...

    async def aclose(self) -> None:
        """Release the store's connections, if it holds any."""
        ...


# -- rules and keys (pure) ---------------------------------------------------


def builtin_rule(path: str) -> RateLimitRule | None:
    """Better Auth's stricter rule for ``path``, if it has one."""
    if path.startswith(_SIGN_IN_LIKE):
        return RateLimitRule(window=10, max=3)
    if path in _MAIL_SENDING or path.startswith("/forget-password"):
        return RateLimitRule(window=60, max=3)
    return None


def rule_for(path: str, options: RateLimitOptions) -> RateLimitRule | None:
    """The rule for ``path``; None when a custom rule exempts it."""
    rule = builtin_rule(path) or RateLimitRule(options.window, options.max)
    for pattern, custom in options.custom_rules.items():
        matches = fnmatchcase(path, pattern) if "*" in pattern else pattern == path
        if matches:
            return custom
    return rule


def retry_after(last_request_ms: int, window: int, now_ms: int) -> int:
    """Whole seconds until a bucket last moved at ``last_request_ms`` reopens."""
    return max(math.ceil((last_request_ms + window * 1000 - now_ms) / 1000), 0)


def bucket_key(ip: str | None, path: str) -> str:
    """The store key of one client's bucket on one path."""
    return f"{bucket_ip(ip) if ip else NO_IP}|{path}"


def bucket_ip(ip: str) -> str:
    """The address a bucket is named after: IPv4 as is (also when mapped into
    IPv6), IPv6 cut to its /64 network."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip.lower()
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        network = ipaddress.ip_network(f"{address}/{IPV6_BUCKET_PREFIX}", strict=False)
        return str(network.network_address)
    return str(address)


# -- the client's address (pure) ---------------------------------------------


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def proxy_networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _is_trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    proxies: tuple[Network, ...],
) -> bool:
    return any(address in network for network in proxies)


def client_ip(
    peer: str | None, forwarded: str | None, proxies: tuple[Network, ...]
) -> str | None:
    """The client's address for a request from ``peer``.

    ``forwarded`` (the configured header, all its values joined by commas) is
    read only when the peer is a trusted proxy: its hops are walked from the
    right, past the trusted ones, to the first that is not. A malformed hop
    stops the walk at the peer, since nothing left of it can be trusted.
    """
    peer_ip = _parse_ip(peer) if peer else None
    if peer_ip is None:
        return None
    if not forwarded or not _is_trusted(peer_ip, proxies):
        return str(peer_ip)
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        hop_ip = _parse_ip(hop)
        if hop_ip is None:
            return str(peer_ip)
        if not _is_trusted(hop_ip, proxies):
            return str(hop_ip)
    return str(_parse_ip(hops[0])) if hops else str(peer_ip)


def forwarded_header(headers: Headers, name: str) -> str | None:
    """Every value of header ``name`` joined by commas (a proxy chain may send
    the header more than once), or None."""
    values = headers.getlist(name)
    return ", ".join(values) if values else None


# -- the limiter -------------------------------------------------------------


class RateLimiter:
    """Decides each request against its bucket in ``store``."""

    def __init__(self, options: RateLimitOptions, store: RateLimitStore) -> None:
        self.options = options
        self.store = store

    async def check(self, ip: str | None, path: str) -> Decision:
        """Count a request from ``ip`` to ``path`` (relative to the mount)."""
        rule = rule_for(path, self.options)
        if rule is None:
            return Decision(allowed=True)
        try:
            decision = await self.store.consume(bucket_key(ip, path), rule, _now_ms())
        except Exception as exc:  # any store's failure: Redis, Postgres, the pool
            logger.warning("rate limit store unavailable (%s); refusing %s", exc, path)
            raise APIError("RATE_LIMIT_UNAVAILABLE") from exc
        if not decision.allowed:
            logger.info("rate limited %s on %s", ip or NO_IP, path)
        return decision


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def build_store(options: AuthOptions, pool: AsyncConnectionPool) -> RateLimitStore:
    """The store ``options.rate_limit.storage`` names."""
    storage = options.rate_limit.storage
    if storage == "database":
        return PostgresStore(pool)
    if storage == "redis":
        return RedisStore.from_url(options.rate_limit.redis_url)
    return MemoryStore()


# -- stores ------------------------------------------------------------------


@dataclass
class _Bucket:
    count: int
    last_request: int
    expires_at: int


class MemoryStore:
    """Buckets in a dict, for one process. Each decision runs without an
    ``await``, so it is atomic on the event loop."""

    def __init__(self, max_entries: int = MEMORY_MAX_ENTRIES) -> None:
        self._buckets: dict[str, _Bucket] = {}
        self._max_entries = max_entries

    async def consume(self, key: str, rule: RateLimitRule, now_ms: int) -> Decision:
        window_ms = rule.window * 1000
        bucket = self._buckets.get(key)
        if bucket is None or now_ms >= bucket.expires_at:
            self._prune(now_ms)
            self._buckets[key] = _Bucket(1, now_ms, now_ms + window_ms)
            return Decision(allowed=True)
        if now_ms - bucket.last_request >= window_ms:
            bucket.count, bucket.last_request = 1, now_ms
        elif bucket.count >= rule.max:
            return Decision(
                False, retry_after(bucket.last_request, rule.window, now_ms)
            )
        else:
            bucket.count += 1
            bucket.last_request = now_ms
        bucket.expires_at = now_ms + window_ms
        return Decision(allowed=True)

    def _prune(self, now_ms: int) -> None:
        # Called when a bucket is added; keeps the dict bounded under a flood
        # of distinct addresses by dropping the oldest entries.
        if len(self._buckets) < self._max_entries:
            return
        for key in [k for k, b in self._buckets.items() if now_ms >= b.expires_at]:
            del self._buckets[key]
        while len(self._buckets) >= self._max_entries:
            del self._buckets[next(iter(self._buckets))]

    async def aclose(self) -> None:
        self._buckets.clear()


class PostgresStore:
    """Buckets in Better Auth's ``rateLimit`` table (``key`` unique, ``count``,
    ``lastRequest`` in Unix ms), shared by every worker on the database.

    One upsert decides: it inserts a new bucket, restarts an old one, or
    counts the request, and leaves the row alone (returning nothing) when the
    bucket is full. Rows idle longer than the longest window seen are pruned
    at most once a minute.
    """

    PRUNE_INTERVAL_MS = 60_000

    def __init__(self, pool: AsyncConnectionPool, schema: str = DEFAULT_SCHEMA) -> None:
        self._pool = pool
        self._table = sql.Identifier(schema, "rateLimit")
        self._longest_window = 0
        self._last_prune = 0
        self._upsert = sql.SQL(
            "INSERT INTO {table} AS t ({id}, {key}, {count}, {last})"
            " VALUES (%(id)s, %(key)s, 1, %(now)s)"
            " ON CONFLICT ({key}) DO UPDATE SET"
            " {count} = CASE WHEN %(now)s - t.{last} >= %(window)s THEN 1"
            " ELSE t.{count} + 1 END,"
            " {last} = %(now)s"
            " WHERE %(now)s - t.{last} >= %(window)s OR t.{count} < %(max)s"
            " RETURNING t.{count}"
        ).format(
            table=self._table,
            id=sql.Identifier("id"),
            key=sql.Identifier("key"),
            count=sql.Identifier("count"),
            last=sql.Identifier("lastRequest"),
        )
        self._last_of = sql.SQL("SELECT {} FROM {} WHERE {} = %s").format(
            sql.Identifier("lastRequest"), self._table, sql.Identifier("key")
        )
        self._prune_old = sql.SQL("DELETE FROM {} WHERE {} < %s").format(
            self._table, sql.Identifier("lastRequest")
        )

    async def consume(self, key: str, rule: RateLimitRule, now_ms: int) -> Decision:
        self._longest_window = max(self._longest_window, rule.window)
        params = {
            "id": generate_id(),
            "key": key,
            "now": now_ms,
            "window": rule.window * 1000,
            "max": rule.max,
        }
        async with self._pool.connection() as conn:
            row = await (await conn.execute(self._upsert, params)).fetchone()
            if row is None:
                last = await (await conn.execute(self._last_of, (key,))).fetchone()
            elif now_ms - self._last_prune >= self.PRUNE_INTERVAL_MS:
                self._last_prune = now_ms
                cutoff = now_ms - self._longest_window * 1000
                await conn.execute(self._prune_old, (cutoff,))
        if row is not None:
            return Decision(allowed=True)
        last_ms = int(last[0]) if last else now_ms
        return Decision(False, max(retry_after(last_ms, rule.window, now_ms), 1))

    async def aclose(self) -> None:
        """The pool belongs to the caller; nothing to release."""


# The same decision as MemoryStore's, run inside Redis so that it is atomic
# across workers. Returns {1, 0} when allowed, {0, lastRequest} when not.
_REDIS_CONSUME = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local data = redis.call('HMGET', KEYS[1], 'count', 'last')
local count = tonumber(data[1])
local last = tonumber(data[2])
if count == nil or last == nil or now - last >= window then
  count = 0
elseif count >= max then
  return {0, last}
end
redis.call('HSET', KEYS[1], 'count', count + 1, 'last', now)
redis.call('PEXPIRE', KEYS[1], window)
return {1, 0}
"""


class RedisStore:
    """Buckets as Redis hashes (``rowgate:rate-limit:<key>``) that expire with
    their window, shared by every worker on the Redis server."""

    KEY_PREFIX = "rowgate:rate-limit:"

    def __init__(self, client: Any) -> None:
        self._client = client
        self._script = client.register_script(_REDIS_CONSUME)

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        from redis.asyncio import Redis

        return cls(Redis.from_url(url))

    async def consume(self, key: str, rule: RateLimitRule, now_ms: int) -> Decision:
        allowed, last = await self._script(
            keys=[self.KEY_PREFIX + key], args=[now_ms, rule.window * 1000, rule.max]
        )
        if int(allowed):
            return Decision(allowed=True)
        return Decision(False, max(retry_after(int(last), rule.window, now_ms), 1))

    async def aclose(self) -> None:
        await self._client.aclose()
