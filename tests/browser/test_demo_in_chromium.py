"""The demo's promise in a real browser: Debian's Chromium driven by Playwright.

``rowgate dev`` runs against a throwaway database; each scenario is what a person
would do. Screenshots of every page go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.conftest import throwaway_database
from tests.e2e.stack import Stack, running_stack

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"
)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    project = Path(tempfile.mkdtemp(prefix="rowgate-browser-"))
    with throwaway_database(bootstrap=False) as url, running_stack(project, url) as s:
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 860})
    yield ctx
    ctx.close()


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_up(page: Page, stack: Stack, name: str) -> str:
    email = f"{name.lower()}-{secrets.token_hex(4)}@example.com"
    page.goto(f"{stack.app_url}/sign-up")
    page.get_by_test_id("name").fill(name)
    page.get_by_test_id("email").fill(email)
    page.get_by_test_id("password").fill("browser password 1")
    page.get_by_test_id("sign-up-submit").click()
    page.wait_for_url(f"{stack.app_url}/")
    expect(page.get_by_test_id("user-email")).to_have_text(email)
    return email


def create_post(page: Page, title: str, body: str = "") -> None:
    page.get_by_test_id("new-post-title").fill(title)
    page.get_by_test_id("new-post-body").fill(body)
    page.get_by_test_id("new-post-submit").click()
    expect(page.get_by_test_id("post-title").filter(has_text=title)).to_be_visible()


def test_sign_up_create_edit_delete_and_refresh(
    stack: Stack, context: BrowserContext
) -> None:
    page = context.new_page()
    page.goto(f"{stack.app_url}/sign-up")
    shot(page, "01-sign-up")
    sign_up(page, stack, "Alice")
    expect(page.get_by_test_id("posts-empty")).to_be_visible()

    create_post(page, "First post", "Hello from Alice")
    create_post(page, "Second post", "More words")
    expect(page.get_by_test_id("post")).to_have_count(2)
    shot(page, "02-posts")

    post = page.get_by_test_id("post").filter(has_text="First post")
    post.get_by_test_id("post-edit").click()
    post.get_by_test_id("post-edit-title").fill("First post, edited")
    post.get_by_test_id("post-save").click()
    expect(page.get_by_test_id("post-title").filter(has_text="edited")).to_be_visible()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("post").filter(has_text="Second post").get_by_test_id(
        "post-delete"
    ).click()
    expect(page.get_by_test_id("post")).to_have_count(1)

    page.reload()
    expect(page.get_by_test_id("post")).to_have_count(1)
    expect(page.get_by_test_id("post-title")).to_have_text("First post, edited")


def test_a_second_browser_context_sees_an_empty_list(
    stack: Stack, browser: Browser, context: BrowserContext
) -> None:
    alice = context.new_page()
    sign_up(alice, stack, "Ann")
    create_post(alice, "Ann's secret")

    incognito = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        bob = incognito.new_page()
        sign_up(bob, stack, "Bob")
        expect(bob.get_by_test_id("posts-empty")).to_be_visible()
        expect(bob.get_by_test_id("post")).to_have_count(0)
        expect(bob.get_by_text("Ann's secret")).to_have_count(0)
        shot(bob, "03-second-user-narrow")
    finally:
        incognito.close()


def test_errors_show_next_to_the_field(stack: Stack, context: BrowserContext) -> None:
    page = context.new_page()
    email = sign_up(page, stack, "Dup")
    page.get_by_test_id("sign-out").click()
    page.wait_for_url(f"{stack.app_url}/sign-in")

    page.goto(f"{stack.app_url}/sign-up")
    page.get_by_test_id("name").fill("Dup again")
    page.get_by_test_id("email").fill(email)
    page.get_by_test_id("password").fill("browser password 1")
    page.get_by_test_id("sign-up-submit").click()
    expect(page.get_by_test_id("email-error")).to_be_visible()
    shot(page, "04-sign-up-duplicate-email")

    page.goto(f"{stack.app_url}/sign-in")
    page.get_by_test_id("email").fill(email)
    page.get_by_test_id("password").fill("not the password")
    page.get_by_test_id("sign-in-submit").click()
    expect(page.get_by_test_id("form-error")).to_be_visible()
    shot(page, "05-sign-in-wrong-password")


def test_sign_out_returns_to_sign_in(stack: Stack, context: BrowserContext) -> None:
    page = context.new_page()
    sign_up(page, stack, "Carol")
    page.get_by_test_id("sign-out").click()
    page.wait_for_url(f"{stack.app_url}/sign-in")
    shot(page, "06-sign-in")

    page.goto(f"{stack.app_url}/")
    page.wait_for_url(f"{stack.app_url}/sign-in")


def test_studio_shows_users_to_the_admin_and_refuses_a_user(
    stack: Stack, context: BrowserContext
) -> None:
    user_page = context.new_page()
    email = sign_up(user_page, stack, "Dora")
    user_page.goto(f"{stack.backend_url}/studio?schema=better_auth&table=user")
    expect(user_page.get_by_text("Sign in to Studio")).to_be_visible()
    expect(user_page.get_by_text(email)).to_have_count(0)

    admin = context.browser.new_context(viewport={"width": 1280, "height": 860})
    try:
        page = admin.new_page()
        page.goto(f"{stack.backend_url}/studio")
        shot(page, "07-studio-sign-in")
        page.locator("#studio-key").fill("anon_" + "0" * 64)
        page.locator("#studio-sign-in").click()
        expect(page.locator("#studio-key-error")).to_be_visible()

        page.locator("#studio-key").fill(stack.env["INSFORGE_API_KEY"])
        page.locator("#studio-sign-in").click()
        page.locator("#schema").select_option("better_auth")
        page.wait_for_url("**schema=better_auth**")
        page.locator('[data-table="user"]').click()
        expect(page.get_by_text(email)).to_be_visible()
        # A wide table scrolls inside its box; the page itself never overflows.
        overflow = "document.documentElement.scrollWidth - window.innerWidth"
        assert page.evaluate(overflow) <= 0
        shot(page, "08-studio-better-auth-users")
        page.locator('[data-table="account"]').click()
        expect(page.locator("#rows")).to_contain_text("••••")
    finally:
        admin.close()


def logged_reset_link(stack: Stack, email: str) -> str:
    """The reset link ``rowgate dev`` printed for ``email`` (its console mail)."""
    pattern = re.compile(
        re.escape(email) + r": (http://\S+/api/auth/reset-password/\S+)"
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = pattern.findall(stack.output())
        if found:
            return str(found[-1])
        time.sleep(0.1)
    raise AssertionError(f"no reset link for {email} in the dev log")


def test_a_forgotten_password_is_reset_from_the_logged_link(
    stack: Stack, context: BrowserContext
) -> None:
    page = context.new_page()
    email = sign_up(page, stack, "Erin")
    page.get_by_test_id("sign-out").click()
    page.wait_for_url(f"{stack.app_url}/sign-in")

    page.get_by_test_id("forgot-password-link").click()
    page.wait_for_url(f"{stack.app_url}/forgot-password")
    page.get_by_test_id("email").fill(email)
    page.get_by_test_id("forgot-submit").click()
    expect(page.get_by_test_id("form-notice")).to_be_visible()
    shot(page, "09-forgot-password")

    link = logged_reset_link(stack, email)
    page.goto(link)
    page.wait_for_url(re.compile(r".*/reset-password\?token=.+"))
    page.get_by_test_id("password").fill("short")
    page.get_by_test_id("reset-submit").click()
    expect(page.get_by_test_id("password-error")).to_be_visible()
    page.get_by_test_id("password").fill("a brand new password")
    page.get_by_test_id("reset-submit").click()
    page.wait_for_url(f"{stack.app_url}/sign-in?reset=1")
    expect(page.get_by_test_id("form-notice")).to_contain_text("Password changed")
    shot(page, "10-password-changed")

    page.get_by_test_id("email").fill(email)
    page.get_by_test_id("password").fill("a brand new password")
    page.get_by_test_id("sign-in-submit").click()
    page.wait_for_url(f"{stack.app_url}/")

    # The link works once.
    used = context.browser.new_context() if context.browser else None
    assert used is not None
    try:
        again = used.new_page()
        again.goto(link)
        expect(again.get_by_test_id("form-error")).to_contain_text("already used")
        expect(again.get_by_test_id("reset-submit")).to_be_disabled()
    finally:
        used.close()
