"""The demo's promise over real HTTP: each user sees only their own posts.

``rowgate dev`` runs as a subprocess against a throwaway database on the test
server; two users with separate cookie jars talk to the app for auth and to the
backend for data, exactly as two browsers would.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import psycopg
import pytest

from tests.auth.support import recipe
from tests.conftest import throwaway_database
from tests.e2e.stack import Stack, running_stack


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    project = Path(tempfile.mkdtemp(prefix="rowgate-e2e-"))
    with throwaway_database(bootstrap=False) as url, running_stack(project, url) as s:
        yield s


class Browser:
    """One cookie jar: the app for auth, the backend for data, like a browser."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.app = httpx.Client(
            base_url=stack.app_url, headers={"Origin": stack.app_url}, timeout=30
        )
        self.data = httpx.Client(
            base_url=f"{stack.backend_url}/api/database", timeout=30
        )

    def sign_up(self, email: str, password: str = "correct horse 1") -> httpx.Response:
        return self.app.post(
            "/api/auth/sign-up/email",
            json={"name": email.split("@")[0], "email": email, "password": password},
        )

    def token(self) -> httpx.Response:
        return self.app.get("/api/insforge-token")

    def bearer(self) -> dict[str, str]:
        response = self.token()
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}

    def posts(self, **params: str) -> Any:
        response = self.data.get(
            "/records/posts",
            params={"order": "id.asc", **params},
            headers=self.bearer(),
        )
        assert response.status_code == 200, response.text
        return response.json()

    def create(self, title: str) -> dict[str, Any]:
        response = self.data.post(
            "/records/posts",
            json={"title": title, "body": f"{title} body"},
            headers={**self.bearer(), "Prefer": "return=representation"},
        )
        assert response.status_code == 201, response.text
        rows: list[dict[str, Any]] = response.json()
        return rows[0]


def unique_email() -> str:
    return f"user-{secrets.token_hex(6)}@example.com"


def test_second_user_sees_none_of_the_first_users_posts(stack: Stack) -> None:
    alice, bob = Browser(stack), Browser(stack)
    assert alice.sign_up(unique_email()).status_code == 200
    first = alice.create("first")
    second = alice.create("second")
    assert bob.sign_up(unique_email()).status_code == 200

    assert [p["title"] for p in alice.posts()] == ["first", "second"]
    assert bob.posts() == []
    assert bob.posts(id=f"eq.{first['id']}") == []
    assert first["user_id"] == second["user_id"] != ""


def test_other_users_cannot_change_or_delete_a_post_by_id(stack: Stack) -> None:
    alice, bob = Browser(stack), Browser(stack)
    alice.sign_up(unique_email())
    bob.sign_up(unique_email())
    post = alice.create("mine")
    target = {"id": f"eq.{post['id']}"}
    prefer = {"Prefer": "return=representation"}

    patched = bob.data.patch(
        "/records/posts",
        params=target,
        json={"title": "stolen"},
        headers={**bob.bearer(), **prefer},
    )
    deleted = bob.data.delete(
        "/records/posts", params=target, headers={**bob.bearer(), **prefer}
    )

    assert (patched.status_code, patched.json()) == (200, [])
    assert (deleted.status_code, deleted.json()) == (200, [])
    assert [p["title"] for p in alice.posts()] == ["mine"]


def test_owner_can_edit_and_delete_their_post(stack: Stack) -> None:
    alice = Browser(stack)
    alice.sign_up(unique_email())
    post = alice.create("draft")
    target = {"id": f"eq.{post['id']}"}

    patched = alice.data.patch(
        "/records/posts",
        params=target,
        json={"title": "final"},
        headers={**alice.bearer(), "Prefer": "return=representation"},
    )
    assert patched.status_code == 200
    assert patched.json()[0]["title"] == "final"
    deleted = alice.data.delete("/records/posts", params=target, headers=alice.bearer())
    assert deleted.status_code == 204
    assert alice.posts() == []


def test_signing_out_ends_the_bridge(stack: Stack) -> None:
    alice = Browser(stack)
    alice.sign_up(unique_email())
    assert alice.token().status_code == 200

    out = alice.app.post("/api/auth/sign-out", json={})
    after = alice.token()

    assert out.status_code == 200
    assert (after.status_code, after.json()) == (401, {"error": "not signed in"})
    assert after.headers.get("cache-control") != "public"


def test_the_bridge_token_has_exactly_the_specified_claims(stack: Stack) -> None:
    alice = Browser(stack)
    user = alice.sign_up(unique_email()).json()["user"]
    response = alice.token()
    claims = jwt.decode(
        response.json()["token"],
        stack.env["INSFORGE_JWT_SECRET"],
        algorithms=["HS256"],
        audience="insforge-api",
    )

    assert response.headers["cache-control"] == "no-store"
    assert set(claims) == {"sub", "role", "aud", "iat", "exp"}
    assert claims["sub"] == user["id"]
    assert claims["role"] == "authenticated"
    assert claims["exp"] - claims["iat"] == 3600


def test_the_stored_hash_verifies_with_the_better_auth_recipe(stack: Stack) -> None:
    email, password = unique_email(), "ﬁne password ✓"
    Browser(stack).sign_up(email, password)
    with psycopg.connect(str(stack.database_url)) as conn:
        row = conn.execute(
            'SELECT a.password FROM better_auth.account a JOIN better_auth."user" u'
            ' ON u.id = a."userId" WHERE u.email = %s AND a."providerId" = %s',
            (email, "credential"),
        ).fetchone()
    assert row is not None
    salt, key = row[0].split(":")
    assert (len(salt), key) == (32, recipe(password, salt))


def forged(stack: Stack, secret: str | None = None, **claims: Any) -> dict[str, str]:
    now = int(time.time())
    payload = {"sub": "x", "role": "authenticated", "iat": now, "exp": now + 600}
    payload.update(claims)
    key = secret or stack.env["INSFORGE_JWT_SECRET"]
    return {"Authorization": f"Bearer {jwt.encode(payload, key, 'HS256')}"}


@pytest.mark.parametrize(
    "claims",
    [
        {"secret": "another secret that is long enough to sign with"},
        {"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600},
        {"role": "postgres"},
        {"role": "project_admin"},
    ],
    ids=["other-secret", "expired", "role-postgres", "role-project-admin"],
)
def test_forged_or_escalating_tokens_get_401_and_no_rows(
    stack: Stack, claims: dict[str, Any]
) -> None:
    alice = Browser(stack)
    alice.sign_up(unique_email())
    alice.create("secret row")
    response = httpx.get(
        f"{stack.backend_url}/api/database/records/posts",
        headers=forged(stack, **claims),
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert set(response.json()) == {"code", "message", "details", "hint"}


def test_anonymous_requests_see_no_posts(stack: Stack) -> None:
    alice = Browser(stack)
    alice.sign_up(unique_email())
    alice.create("private")
    anon_key = stack.env["INSFORGE_ANON_KEY"]
    with_key = httpx.get(
        f"{stack.backend_url}/api/database/records/posts",
        headers={"Authorization": f"Bearer {anon_key}"},
    )
    without = httpx.get(f"{stack.backend_url}/api/database/records/posts")
    assert with_key.status_code in (200, 401, 403)
    assert with_key.status_code != 200 or with_key.json() == []
    assert without.status_code != 200 or without.json() == []


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "BAD_REQUEST"),
        (
            b'{"email": "a@example.com", "password": "long enough 1"}',
            400,
            "VALIDATION_ERROR",
        ),
        (
            b'{"name": "a", "email": "short@example.com", "password": "short"}',
            400,
            "PASSWORD_TOO_SHORT",
        ),
    ],
    ids=["malformed-json", "missing-name", "short-password"],
)
def test_bad_sign_up_input_gets_better_auth_errors(
    stack: Stack, body: bytes, status: int, code: str
) -> None:
    response = httpx.post(
        f"{stack.app_url}/api/auth/sign-up/email",
        content=body,
        headers={"Content-Type": "application/json", "Origin": stack.app_url},
    )
    assert (response.status_code, response.json()["code"]) == (status, code)


def test_duplicate_email_is_422(stack: Stack) -> None:
    email = unique_email()
    assert Browser(stack).sign_up(email).status_code == 200
    again = Browser(stack).sign_up(email.upper())
    assert again.status_code == 422
    assert again.json()["code"] == "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"


def test_unknown_table_and_bad_filters_are_postgrest_errors(stack: Stack) -> None:
    alice = Browser(stack)
    alice.sign_up(unique_email())
    missing = alice.data.get("/records/nope", headers=alice.bearer())
    hidden = alice.data.get("/records/user", headers=alice.bearer())
    bad_json = alice.data.post(
        "/records/posts",
        content=b"{oops",
        headers={**alice.bearer(), "Content-Type": "application/json"},
    )
    assert (missing.status_code, missing.json()["code"]) == (404, "PGRST205")
    assert hidden.status_code == 404
    assert (bad_json.status_code, bad_json.json()["code"]) == (400, "PGRST102")


def test_the_backend_answers_cors_for_the_app_origin_only(stack: Stack) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,prefer",
    }
    ours = httpx.options(
        f"{stack.backend_url}/api/database/records/posts",
        headers={"Origin": stack.app_url, **preflight},
    )
    theirs = httpx.options(
        f"{stack.backend_url}/api/database/records/posts",
        headers={"Origin": "https://evil.example", **preflight},
    )
    assert ours.status_code == 200
    assert ours.headers["access-control-allow-origin"] == stack.app_url
    assert "access-control-allow-origin" not in theirs.headers
