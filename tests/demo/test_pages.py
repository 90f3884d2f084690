"""The demo's pages, served by a Starlette app built from ``page_routes`` alone.

Who is signed in comes from a stand-in ``SessionLookup`` that reads a test cookie,
so these tests need neither the auth core nor a database.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request

from rowgate.demo.pages import CurrentUser, PagesConfig, page_routes

ANON_KEY = "anon_" + "ab" * 32
CONFIG = PagesConfig(backend_url="http://127.0.0.1:7130", anon_key=ANON_KEY)
USERS = {
    "ada": CurrentUser(id="u-ada", email="ada@example.com", name="Ada Lovelace"),
    "evil": CurrentUser(
        id="u-evil", email="evil@example.com", name="<script>alert('x')</script>"
    ),
}


async def cookie_session(request: Request) -> CurrentUser | None:
    return USERS.get(request.cookies.get("who", ""))


def make_client(config: PagesConfig = CONFIG) -> httpx.AsyncClient:
    app = Starlette(routes=page_routes(config, cookie_session))
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as c:
        yield c


def signed_in(client: httpx.AsyncClient, who: str = "ada") -> httpx.AsyncClient:
    client.cookies.set("who", who)
    return client


def script_config(html: str) -> dict[str, str]:
    found = re.search(
        r'<script type="application/json" id="rowgate-config">(.*?)</script>',
        html,
        re.S,
    )
    assert found is not None
    config: dict[str, str] = json.loads(found.group(1))
    return config


async def test_home_sends_a_signed_out_visitor_to_sign_in(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/")

    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in"


@pytest.mark.parametrize("path", ["/sign-in", "/sign-up"])
async def test_auth_pages_send_a_signed_in_user_home(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await signed_in(client).get(path)

    assert response.status_code == 303
    assert response.headers["location"] == "/"


async def test_home_shows_the_posts_page_to_a_signed_in_user(
    client: httpx.AsyncClient,
) -> None:
    response = await signed_in(client).get("/")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert "Ada Lovelace" in response.text
    assert "ada@example.com" in response.text
    assert "No posts yet" in response.text
    assert '<script src="/static/posts.js" defer></script>' in response.text


async def test_user_names_are_escaped(client: httpx.AsyncClient) -> None:
    html = (await signed_in(client, "evil").get("/")).text

    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html


@pytest.mark.parametrize(
    ("path", "test_ids"),
    [
        (
            "/sign-up",
            ["sign-up-form", "name", "email", "password", "name-error",
             "email-error", "password-error", "form-error", "sign-up-submit",
             "sign-in-link"],
        ),
        (
            "/sign-in",
            ["sign-in-form", "email", "password", "email-error", "password-error",
             "form-error", "sign-in-submit", "sign-up-link"],
        ),
    ],
)  # fmt: skip
async def test_auth_pages_carry_their_documented_test_ids(
    client: httpx.AsyncClient, path: str, test_ids: list[str]
) -> None:
    html = (await client.get(path)).text

    for test_id in test_ids:
        assert f'id="{test_id}"' in html, test_id
        assert f'data-testid="{test_id}"' in html, test_id
    assert '<script src="/static/auth.js" defer></script>' in html


async def test_the_posts_page_carries_its_documented_test_ids(
    client: httpx.AsyncClient,
) -> None:
    html = (await signed_in(client).get("/")).text

    for test_id in [
        "user-name", "user-email", "sign-out", "new-post-form", "new-post-title",
        "new-post-body", "new-post-title-error", "new-post-error", "new-post-submit",
        "posts-status", "posts-error", "posts-retry", "posts-empty", "posts-count",
        "post-list", "post", "post-title", "post-body", "post-date", "post-edit",
        "post-delete", "post-error", "post-edit-form", "post-edit-title",
        "post-edit-body", "post-edit-title-error", "post-save", "post-cancel",
    ]:  # fmt: skip
        assert f'data-testid="{test_id}"' in html, test_id


async def test_the_sign_up_form_posts_to_the_auth_core(
    client: httpx.AsyncClient,
) -> None:
    html = (await client.get("/sign-up")).text

    assert 'data-endpoint="/api/auth/sign-up/email"' in html
    assert 'minlength="8"' in html


@pytest.mark.parametrize("path", ["/sign-in", "/sign-up"])
async def test_the_script_config_carries_the_backend_and_anon_key(
    client: httpx.AsyncClient, path: str
) -> None:
    config = script_config((await client.get(path)).text)

    assert config == {
        "backendUrl": "http://127.0.0.1:7130",
        "anonKey": ANON_KEY,
        "tokenUrl": "/api/insforge-token",
    }


async def test_the_script_config_cannot_close_its_script_tag() -> None:
    hostile = PagesConfig(
        backend_url="http://127.0.0.1:7130/",
        anon_key="</script><script>alert(1)</script>",
        title="<My & App>",
    )
    async with make_client(hostile) as client:
        html = (await client.get("/sign-in")).text

    assert "<script>alert(1)" not in html
    assert script_config(html)["anonKey"] == hostile.anon_key
    assert script_config(html)["backendUrl"] == "http://127.0.0.1:7130"
    assert "<title>Sign in · &lt;My &amp; App&gt;</title>" in html


async def test_pages_allow_data_calls_only_to_this_origin_and_the_backend(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/sign-in")

    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "connect-src 'self' http://127.0.0.1:7130;" in policy
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "url", ["127.0.0.1:7130", "ftp://host", "http://", "http://a b", "http://x;y"]
)
def test_a_backend_url_that_is_not_an_http_origin_fails_at_start_up(url: str) -> None:
    with pytest.raises(ValueError, match="backend_url"):
        page_routes(PagesConfig(backend_url=url, anon_key=ANON_KEY), cookie_session)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/static/rowgate-data.js", "text/javascript"),
        ("/static/auth.js", "text/javascript"),
        ("/static/posts.js", "text/javascript"),
        ("/static/app.css", "text/css"),
        ("/static/favicon.svg", "image/svg+xml"),
    ],
)
async def test_static_files_are_served_with_their_content_type(
    client: httpx.AsyncClient, path: str, content_type: str
) -> None:
    response = await client.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == content_type
    assert response.content


async def test_an_unknown_static_file_is_not_found(client: httpx.AsyncClient) -> None:
    assert (await client.get("/static/nope.js")).status_code == 404


async def test_pages_load_nothing_from_other_origins(client: httpx.AsyncClient) -> None:
    pages = [(await client.get("/sign-in")).text, (await client.get("/sign-up")).text]
    pages.append((await signed_in(client).get("/")).text)
    css = (await client.get("/static/app.css")).text

    for text in [*pages, css]:
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)
        assert "@import" not in text
        assert "url(http" not in text


async def test_the_data_helper_speaks_to_the_records_path(
    client: httpx.AsyncClient,
) -> None:
    script = (await client.get("/static/rowgate-data.js")).text

    assert '"/api/database/records/"' in script
    assert 'credentials: "include"' in script
    assert '"return=representation"' in script


async def test_sign_in_links_to_password_reset_and_confirms_a_change(
    client: httpx.AsyncClient,
) -> None:
    plain = (await client.get("/sign-in")).text
    after_reset = (await client.get("/sign-in?reset=1")).text

    assert 'href="/forgot-password"' in plain
    assert re.search(r'id="form-notice"[^>]*hidden', plain)
    assert "Password changed" in after_reset
    assert not re.search(r'id="form-notice"[^>]*hidden', after_reset)


async def test_the_forgot_password_form_asks_the_auth_core_for_a_link(
    client: httpx.AsyncClient,
) -> None:
    html = (await client.get("/forgot-password")).text
    assert 'data-endpoint="/api/auth/request-password-reset"' in html
    assert 'data-kind="forgot"' in html
    for test_id in ("forgot-form", "email", "forgot-submit", "form-notice"):
        assert f'data-testid="{test_id}"' in html, test_id


async def test_the_reset_page_carries_the_token_escaped(
    client: httpx.AsyncClient,
) -> None:
    good = (await client.get("/reset-password", params={"token": "abc123"})).text
    hostile = (
        await client.get("/reset-password", params={"token": '"><script>x</script>'})
    ).text

    assert 'data-token="abc123"' in good
    assert 'data-endpoint="/api/auth/reset-password"' in good
    assert "<script>x</script>" not in hostile
    assert "&#34;&gt;&lt;script&gt;" in hostile


@pytest.mark.parametrize(
    "query", ["", "?error=INVALID_TOKEN", "?token=abc&error=INVALID_TOKEN"]
)
async def test_a_bad_reset_link_says_so_and_cannot_be_submitted(
    client: httpx.AsyncClient, query: str
) -> None:
    html = (await client.get("/reset-password" + query)).text
    assert "invalid or was already used" in html
    assert re.search(r'id="reset-submit"[^>]*disabled', html)


async def test_without_a_mail_sender_no_reset_is_offered() -> None:
    # The auth core refuses resets it cannot deliver; the pages must not lead
    # a user into that dead end.
    config = PagesConfig(
        backend_url="http://127.0.0.1:7130", anon_key=ANON_KEY, password_reset=False
    )
    async with make_client(config) as client:
        sign_in = await client.get("/sign-in")
        forgot = await client.get("/forgot-password")
        reset = await client.get("/reset-password?token=abc")

    assert sign_in.status_code == 200
    assert "forgot-password" not in sign_in.text
    assert (forgot.status_code, reset.status_code) == (404, 404)
