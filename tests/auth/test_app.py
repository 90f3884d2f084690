"""The ASGI transport: routing, media types, body parsing, /ok."""

from __future__ import annotations

import httpx
import pytest

from tests.auth.support import unique_email


async def test_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/auth/ok")
    assert (response.status_code, response.json()) == (200, {"ok": True})


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/auth/nope"),
        ("GET", "/api/auth/sign-in/email"),
        ("POST", "/api/auth/ok"),
        ("GET", "/api/auth/ok/"),
        ("OPTIONS", "/api/auth/sign-in/email"),
        ("POST", "/api/auth/forget-password"),
    ],
)
async def test_unknown_routes_are_bare_404(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path)
    assert response.status_code == 404
    assert response.content == b""


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/sign-in/email",
        content=b'{"email": ',
        headers={"Content-Type": "application/json"},
    )
    assert (response.status_code, response.json()) == (
        400,
        {"message": "Invalid JSON in request body", "code": "BAD_REQUEST"},
    )


async def test_other_media_types_are_415(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/sign-in/email",
        content=b"email=a",
        headers={"Content-Type": "text/plain"},
    )
    assert response.status_code == 415
    assert response.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_form_body_is_415_where_only_json_is_allowed(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/auth/sign-out", data={"a": "b"})
    assert response.status_code == 415


async def test_non_object_json_body_is_a_validation_error(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/auth/sign-up/email", json=[unique_email()])
    assert response.status_code == 400
    assert response.json() == {
        "message": "[body] Invalid input: expected object, received array; "
        "[body] Invalid input: expected record, received array",
        "code": "VALIDATION_ERROR",
    }


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/sign-in/email",
        content=b"{" + b" " * (1024 * 1024 + 1) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413


async def test_the_error_page_explains_the_code_as_text(
    client: httpx.AsyncClient,
) -> None:
    known = await client.get("/api/auth/error", params={"error": "INVALID_TOKEN"})
    hostile = await client.get(
        "/api/auth/error", params={"error": "<script>alert(1)</script>"}
    )

    assert known.status_code == 200
    assert known.headers["content-type"].startswith("text/html")
    assert "invalid or has already been used" in known.text
    assert "<script>" not in hostile.text
    assert "&lt;script&gt;" in hostile.text


async def test_a_reset_link_without_a_callback_lands_on_the_error_page(
    client: httpx.AsyncClient,
) -> None:
    # A link mailed without redirectTo carries an empty callbackURL.
    response = await client.get(
        "/api/auth/reset-password/not-a-real-token", params={"callbackURL": ""}
    )
    assert response.status_code == 302
    landing = await client.get(response.headers["location"])
    assert landing.status_code == 200
    assert "Sign-in problem" in landing.text


async def test_a_nul_character_is_a_400_not_a_500(
    client: httpx.AsyncClient, mailer: httpx.AsyncClient
) -> None:
    # Postgres text cannot hold NUL: each of these reached the database before.
    signed_up = await client.post(
        "/api/auth/sign-up/email",
        json={"name": "a\u0000b", "email": unique_email(), "password": "x" * 12},
    )
    reset_link = await mailer.get("/api/auth/reset-password/%00?callbackURL=/")
    await client.post(
        "/api/auth/sign-up/email",
        json={"name": "ok", "email": unique_email(), "password": "x" * 12},
    )
    renamed = await client.post("/api/auth/update-user", json={"name": "a\u0000b"})

    for response in (signed_up, renamed):
        assert response.status_code == 400, response.text
        assert response.json() == {
            "message": "Invalid input: text cannot contain NUL characters",
            "code": "VALIDATION_ERROR",
        }
    assert (reset_link.status_code, reset_link.json()["code"]) == (
        400,
        "VALIDATION_ERROR",
    )
