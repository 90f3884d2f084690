"""``rowgate dev`` with no DATABASE_URL: the embedded Postgres path, end to end."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.stack import running_stack, stop

pytestmark = pytest.mark.embedded


@pytest.fixture
def project() -> Iterator[Path]:
    # Not pytest's tmp_path: its parent is private to root, and the embedded server
    # runs as an unprivileged user that must reach the data directory.
    path = Path(tempfile.mkdtemp(prefix="rowgate-dev-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_dev_runs_the_demo_on_embedded_postgres_and_keeps_data(project: Path) -> None:
    email, password = f"e-{secrets.token_hex(4)}@example.com", "embedded pass 1"

    with running_stack(project, None) as stack:
        app = httpx.Client(base_url=stack.app_url, headers={"Origin": stack.app_url})
        signed_up = app.post(
            "/api/auth/sign-up/email",
            json={"name": "E", "email": email, "password": password},
        )
        token = app.get("/api/insforge-token").json()["token"]
        created = httpx.post(
            f"{stack.backend_url}/api/database/records/posts",
            json={"title": "kept"},
            headers={"Authorization": f"Bearer {token}"},
        )
        first_env = stack.env
        code = stop(stack)

    assert signed_up.status_code == 200
    assert created.status_code == 201
    assert code == 0, stack.output()
    assert "Stopped the embedded Postgres" in stack.output()
    assert not (project / ".rowgate" / "pgdata" / "postmaster.pid").exists()
    assert (project / ".env.local").stat().st_mode & 0o077 == 0

    with running_stack(project, None) as again:
        app = httpx.Client(base_url=again.app_url, headers={"Origin": again.app_url})
        signed_in = app.post(
            "/api/auth/sign-in/email", json={"email": email, "password": password}
        )
        token = app.get("/api/insforge-token").json()["token"]
        posts = httpx.get(
            f"{again.backend_url}/api/database/records/posts?select=title",
            headers={"Authorization": f"Bearer {token}"},
        )
        second_env = again.env

    assert signed_in.status_code == 200
    assert posts.json() == [{"title": "kept"}]
    assert second_env == first_env
    assert os.path.isdir(project / ".rowgate" / "pgdata")
