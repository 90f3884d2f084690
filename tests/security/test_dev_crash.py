"""``rowgate dev`` killed with SIGKILL, then started again (#7, area 6).

``rowgate dev`` runs as a real process on the embedded Postgres in a temporary
project. Killing it leaves the server it started running; the next ``dev`` adopts
that server. Killing the server too leaves a stale ``postmaster.pid``; the next
``dev`` clears it and starts the server again. Nothing committed is lost either
way: the user still signs in and still reads every post written before the kill.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rowgate.db.embedded import EmbeddedPostgres
from tests.e2e.stack import Stack, running_stack

pytestmark = pytest.mark.embedded

PASSWORD = "crash test password"


@pytest.fixture
def project() -> Iterator[Path]:
    # Under /tmp and traversable: the embedded server may run as another account.
    path = Path(tempfile.mkdtemp(prefix="rowgate-crash-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        EmbeddedPostgres(path / ".rowgate").stop()
        shutil.rmtree(path, ignore_errors=True)


def postmaster_pid(project: Path) -> int:
    pid_file = project / ".rowgate" / "pgdata" / "postmaster.pid"
    return int(pid_file.read_text().split()[0])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def signed_in(stack: Stack, email: str, *, new: bool = False) -> httpx.Client:
    app = httpx.Client(base_url=stack.app_url, headers={"Origin": stack.app_url})
    if new:
        body = {"name": "Crash", "email": email, "password": PASSWORD}
        response = app.post("/api/auth/sign-up/email", json=body)
    else:
        body = {"email": email, "password": PASSWORD}
        response = app.post("/api/auth/sign-in/email", json=body)
    assert response.status_code == 200, response.text
    return app


def posts(stack: Stack, app: httpx.Client) -> httpx.Response:
    token = app.get("/api/insforge-token").json()["token"]
    return httpx.get(
        f"{stack.backend_url}/api/database/records/posts?select=title&order=id",
        headers={"Authorization": f"Bearer {token}"},
    )


def write_post(stack: Stack, app: httpx.Client, title: str) -> None:
    token = app.get("/api/insforge-token").json()["token"]
    response = httpx.post(
        f"{stack.backend_url}/api/database/records/posts",
        json={"title": title},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text


def test_dev_recovers_from_sigkill_without_losing_data(project: Path) -> None:
    email = f"crash-{secrets.token_hex(4)}@example.com"

    with running_stack(project, None) as first:
        write_post(first, signed_in(first, email, new=True), "before the kill")
        server = postmaster_pid(project)
        first.process.send_signal(signal.SIGKILL)
        first.process.wait()

    assert first.process.returncode == -signal.SIGKILL
    assert alive(server), "the embedded Postgres died with rowgate dev"

    with running_stack(project, None) as second:
        adopted = postmaster_pid(project)
        app = signed_in(second, email)
        write_post(second, app, "after the first kill")
        second.process.send_signal(signal.SIGKILL)
        second.process.wait()
        os.kill(adopted, signal.SIGKILL)

    assert adopted == server
    assert (project / ".rowgate" / "pgdata" / "postmaster.pid").exists()

    with running_stack(project, None) as third:
        restarted = postmaster_pid(project)
        seen = posts(third, signed_in(third, email))

    assert restarted != server
    assert seen.json() == [
        {"title": "before the kill"},
        {"title": "after the first kill"},
    ]
    assert "Stale" in third.output() or "stale" in third.output()
