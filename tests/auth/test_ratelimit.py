"""Rate limits: Better Auth's rules and count, per IP and path, 429 with
X-Retry-After, and forwarded addresses trusted only from configured proxies."""

from __future__ import annotations

import secrets

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool
from starlette.datastructures import Headers

from rowgate.auth import ratelimit
from rowgate.auth.app import Auth
from rowgate.auth.errors import AuthConfigError
from rowgate.auth.options import RateLimitOptions, RateLimitRule
from rowgate.auth.ratelimit import Decision, MemoryStore, bucket_key, rule_for
from tests.auth.support import ORIGIN, PASSWORD, make_app, make_options, unique_email

OK_RULE = {"/ok": RateLimitRule(window=60, max=2)}


def body(tag: str) -> dict[str, str]:
    return {"name": "N", "email": unique_email(tag), "password": PASSWORD}


def random_ip() -> str:
    return "10." + ".".join(str(secrets.randbelow(250) + 1) for _ in range(3))


def limited_auth(pool: AsyncConnectionPool, **changes: object) -> Auth:
    settings: dict[str, object] = {"enabled": True, "custom_rules": OK_RULE}
    settings.update(changes)
    limits = RateLimitOptions(**settings)  # type: ignore[arg-type]
    options = make_options(rate_limit=limits)
    return Auth(options, pool)


def client(auth: Auth, peer: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app(auth), client=(peer, 40000)),
        base_url=ORIGIN,
        headers={"Origin": ORIGIN},
    )


async def statuses(http: httpx.AsyncClient, count: int, **kwargs: object) -> list[int]:
    return [
        (await http.get("/api/auth/ok", **kwargs)).status_code for _ in range(count)
    ]  # type: ignore[arg-type]


# -- rules, keys and addresses ------------------------------------------------


@pytest.mark.parametrize(
    ("path", "window", "most"),
    [
        ("/sign-in/email", 10, 3),
        ("/sign-up/email", 10, 3),
        ("/change-password", 10, 3),
        ("/change-email", 10, 3),
        ("/request-password-reset", 60, 3),
        ("/send-verification-email", 60, 3),
        ("/get-session", 10, 100),
    ],
)
def test_rules_are_better_auths(path: str, window: int, most: int) -> None:
    assert rule_for(path, RateLimitOptions()) == RateLimitRule(window, most)


def test_custom_rules_override_and_exempt_with_wildcards() -> None:
    options = RateLimitOptions(
        custom_rules={"/sign-in/*": RateLimitRule(300, 5), "/get-session": None}
    )
    assert rule_for("/sign-in/email", options) == RateLimitRule(300, 5)
    assert rule_for("/get-session", options) is None
    assert rule_for("/sign-up/email", options) == RateLimitRule(10, 3)


def test_bad_rate_limit_settings_fail_at_start_up() -> None:
    with pytest.raises(AuthConfigError):
        RateLimitOptions(window=0)
    with pytest.raises(AuthConfigError):
        RateLimitOptions(storage="disk")  # type: ignore[arg-type]
    with pytest.raises(AuthConfigError):
        make_options(trusted_proxies=("not-an-ip",))


def test_ipv6_clients_share_a_bucket_per_64_and_mapped_ipv4_is_ipv4() -> None:
    a = bucket_key("2001:db8:1:2:aaaa::1", "/ok")
    b = bucket_key("2001:db8:1:2:bbbb::9", "/ok")
    assert a == b == "2001:db8:1:2::|/ok"
    assert bucket_key("2001:db8:1:3::1", "/ok") != a
    assert bucket_key("::ffff:192.0.2.1", "/ok") == "192.0.2.1|/ok"
    assert bucket_key(None, "/ok") == "no-trusted-ip|/ok"


def test_forwarded_for_is_ignored_from_an_untrusted_peer() -> None:
    proxies = ratelimit.proxy_networks(("10.0.0.0/8",))
    assert ratelimit.client_ip("203.0.113.5", "198.51.100.1", proxies) == (
        "203.0.113.5"
    )
    assert ratelimit.client_ip("203.0.113.5", None, ()) == "203.0.113.5"


def test_forwarded_for_walks_past_trusted_hops_from_the_right() -> None:
    proxies = ratelimit.proxy_networks(("10.0.0.0/8", "192.168.1.1"))
    chain = "1.1.1.1, 198.51.100.9, 192.168.1.1"
    # The left-most hop is whatever the client wrote; the right-most
    # untrusted one is what the trusted proxies saw.
    assert ratelimit.client_ip("10.0.0.2", chain, proxies) == "198.51.100.9"
    assert ratelimit.client_ip("10.0.0.2", "192.168.1.1", proxies) == "192.168.1.1"
    assert ratelimit.client_ip("10.0.0.2", "junk, 10.0.0.3", proxies) == "10.0.0.2"
    assert ratelimit.client_ip("10.0.0.2", "::ffff:198.51.100.4", proxies) == (
        "198.51.100.4"
    )


def test_a_forwarded_header_sent_twice_is_one_chain() -> None:
    headers = Headers(
        raw=[(b"x-forwarded-for", b"1.1.1.1"), (b"x-forwarded-for", b"198.51.100.3")]
    )
    chain = ratelimit.forwarded_header(headers, "x-forwarded-for")
    assert chain == "1.1.1.1, 198.51.100.3"
    proxies = ratelimit.proxy_networks(("10.0.0.0/8",))
    assert ratelimit.client_ip("10.0.0.1", chain, proxies) == "198.51.100.3"
    assert ratelimit.forwarded_header(Headers(), "x-forwarded-for") is None


# -- the memory store's count -----------------------------------------------


async def test_memory_store_counts_as_better_auth_does() -> None:
    store = MemoryStore()
    rule = RateLimitRule(window=10, max=3)
    decisions = [await store.consume("k", rule, at) for at in (0, 1000, 2000)]
    assert all(d.allowed for d in decisions)
    # Full: refused, and told when the window after the last allowed request ends.
    assert await store.consume("k", rule, 3000) == Decision(False, 9)
    assert await store.consume("k", rule, 11_500) == Decision(False, 1)
    # The refusals did not move the bucket; 10 s after the last allowed one
    # it starts over.
    assert (await store.consume("k", rule, 12_000)).allowed
    assert (await store.consume("other", rule, 3000)).allowed


async def test_memory_store_stays_bounded() -> None:
    store = MemoryStore(max_entries=3)
    rule = RateLimitRule(window=10, max=1)
    for n in range(10):
        await store.consume(f"k{n}", rule, 0)
    assert len(store._buckets) <= 3


# -- over HTTP ---------------------------------------------------------------


async def test_over_the_limit_is_429_with_retry_after(
    pool: AsyncConnectionPool,
) -> None:
    async with client(limited_auth(pool), random_ip()) as http:
        assert await statuses(http, 2) == [200, 200]
        refused = await http.get("/api/auth/ok")
    assert refused.status_code == 429
    assert refused.json() == {"message": "Too many requests. Please try again later."}
    assert refused.headers["content-type"] == "application/json"
    assert 1 <= int(refused.headers["x-retry-after"]) <= 60


async def test_sign_in_has_the_strict_rule(pool: AsyncConnectionPool) -> None:
    body = {"email": "not-an-email", "password": "whatever-password"}
    async with client(limited_auth(pool), random_ip()) as http:
        codes = [
            (await http.post("/api/auth/sign-in/email", json=body)).status_code
            for _ in range(4)
        ]
    assert codes == [400, 400, 400, 429]


async def test_buckets_are_per_ip_and_per_path(pool: AsyncConnectionPool) -> None:
    auth = limited_auth(pool)
    async with client(auth, random_ip()) as first, client(auth, random_ip()) as other:
        assert await statuses(first, 3) == [200, 200, 429]
        assert await statuses(other, 2) == [200, 200]
        assert (await first.get("/api/auth/get-session")).status_code == 200


async def test_spoofed_forwarded_for_does_not_reset_the_bucket(
    pool: AsyncConnectionPool,
) -> None:
    async with client(limited_auth(pool), random_ip()) as http:
        codes = [
            (
                await http.get("/api/auth/ok", headers={"X-Forwarded-For": random_ip()})
            ).status_code
            for _ in range(3)
        ]
    assert codes == [200, 200, 429]


async def test_trusted_proxy_forwarded_for_names_the_bucket(
    pool: AsyncConnectionPool,
) -> None:
    rate_limit = RateLimitOptions(enabled=True, custom_rules=OK_RULE)
    options = make_options(rate_limit=rate_limit, trusted_proxies=("10.0.0.0/8",))
    auth = Auth(options, pool)
    alice, bob = "198.51.100.1", "198.51.100.2"
    async with client(auth, random_ip()) as proxy:
        assert await statuses(proxy, 3, headers={"X-Forwarded-For": alice}) == [
            200,
            200,
            429,
        ]
        assert await statuses(proxy, 1, headers={"X-Forwarded-For": bob}) == [200]


async def test_off_by_default(pool: AsyncConnectionPool) -> None:
    auth = Auth(make_options(), pool)
    assert auth.rate_limiter is None
    async with client(auth, random_ip()) as http:
        assert set(await statuses(http, 5)) == {200}


async def test_sessions_record_the_address_the_rate_limiter_uses(
    pool: AsyncConnectionPool,
) -> None:
    options = make_options(trusted_proxies=("10.0.0.0/8",))
    auth = Auth(options, pool)
    spoofed = {"X-Forwarded-For": "198.51.100.77"}
    async with client(auth, "10.9.9.9") as behind_proxy:
        await behind_proxy.post(
            "/api/auth/sign-up/email", json=body("proxied"), headers=spoofed
        )
        via_proxy = (await behind_proxy.get("/api/auth/get-session")).json()
    async with client(auth, "203.0.113.9") as direct:
        await direct.post(
            "/api/auth/sign-up/email", json=body("direct"), headers=spoofed
        )
        untrusted = (await direct.get("/api/auth/get-session")).json()
    assert via_proxy["session"]["ipAddress"] == "198.51.100.77"
    assert untrusted["session"]["ipAddress"] == "203.0.113.9"


async def test_a_configured_ip_header_replaces_forwarded_for(
    pool: AsyncConnectionPool,
) -> None:
    options = make_options(
        trusted_proxies=("10.0.0.0/8",), ip_address_header="x-real-ip"
    )
    headers = {"X-Real-IP": "198.51.100.88", "X-Forwarded-For": "198.51.100.99"}
    async with client(Auth(options, pool), "10.1.1.1") as proxy:
        await proxy.post(
            "/api/auth/sign-up/email", json=body("real-ip"), headers=headers
        )
        found = (await proxy.get("/api/auth/get-session")).json()
    assert found["session"]["ipAddress"] == "198.51.100.88"
