"""The real JS clients against a served data API: postgrest-js and InsForge's SDK.

Each Node script (``tests/interop/*_conformance.mjs``) runs the same steps —
select with filters, embedding, order, range and count; single; insert
returning; upsert; update; delete; rpc — with a token minted as the bridge mints
it, and prints every result. This module checks each result, then checks the
database itself. Skipped only where Node is not installed; ``scripts/test``
installs the pinned packages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.routing import Mount

from rowgate.bridge.token import AUDIENCE, mint_token
from rowgate.dataapi.app import DataApi
from tests.dataapi.conftest import CONFIG, SECRET, new_user
from tests.servers import serving

INTEROP = Path(__file__).parents[1] / "interop"
SCRIPTS = {
    "postgrest-js": INTEROP / "postgrest_js_conformance.mjs",
    "insforge-sdk": INTEROP / "insforge_sdk_conformance.mjs",
}
PACKAGES = {
    "postgrest-js": INTEROP / "node_modules" / "@supabase" / "postgrest-js",
    "insforge-sdk": INTEROP / "node_modules" / "@insforge" / "sdk",
}


def _backend(authenticator_url: str) -> Starlette:
    """The data API as the backend mounts it, with its own pool and event loop."""
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        authenticator_url, min_size=1, max_size=4, open=False
    )
    data_api = DataApi(replace(CONFIG, jwt_aud=AUDIENCE), pool)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await pool.open(wait=True, timeout=15)
        await data_api.startup()
        try:
            yield
        finally:
            await data_api.shutdown()
            await pool.close()

    return Starlette(routes=[Mount("/api/database", app=data_api)], lifespan=lifespan)


@pytest.fixture(scope="module")
def served(authenticator_url: str, dataapi_database: str) -> Iterator[str]:
    with serving(_backend(authenticator_url)) as url:
        yield url


def run_script(client: str, base_url: str, user: str, run_key: str) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    if not PACKAGES[client].is_dir():
        # With Node present a missing package is a broken setup, not a reason to
        # let the conformance suite pass unseen.
        pytest.fail(
            "the pinned JS packages are not installed: "
            "npm ci --prefix tests/interop --cache .cache/npm"
        )
    env = {
        **os.environ,
        "ROWGATE_URL": base_url,
        "ROWGATE_TOKEN": mint_token(user, SECRET),
        "ROWGATE_RUN": run_key,
    }
    result = subprocess.run(
        [node, str(SCRIPTS[client])],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
        cwd=INTEROP,
    )
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def ok(out: dict[str, Any], step: str, status: int) -> Any:
    """The data of ``step``, once it is known to have succeeded with ``status``."""
    result = out[step]
    assert result["error"] is None, (step, result)
    assert result["status"] == status, (step, result)
    return result["data"]


def failed(out: dict[str, Any], step: str, status: int, code: str) -> dict[str, Any]:
    result = out[step]
    assert (result["status"], result["error"]["code"]) == (status, code), (
        step,
        result,
    )
    error: dict[str, Any] = result["error"]
    return error


def item_ids(owner: psycopg.Connection[Any], where: str) -> list[dict[str, int]]:
    """``items`` ids matching a fixed condition, read straight from the table."""
    query = sql.SQL("SELECT id FROM items WHERE {} ORDER BY id").format(sql.SQL(where))
    return [{"id": row[0]} for row in owner.execute(query).fetchall()]


@pytest.mark.parametrize("client", sorted(SCRIPTS))
def test_js_client_conformance(
    client: str, served: str, owner: psycopg.Connection[Any]
) -> None:
    user, run_key = new_user(), new_user()

    out = run_script(client, served, user, run_key)

    inserted = ok(out, "insert", 201)
    assert [(r["title"], r["score"]) for r in inserted] == [
        ("alpha", 3),
        ("beta", 1),
        ("gamma", 2),
    ]
    assert ok(out, "insertComments", 201) == [{"body": "c1"}, {"body": "c2"}]
    assert ok(out, "insertMinimal", 201) is None

    page = out["page"]
    assert (page["status"], page["count"]) == (206, 3)
    assert page["data"] == [
        {
            "title": "alpha",
            "score": 3,
            "category": {"name": "work"},
            "comments": [{"body": "c2"}, {"body": "c1"}],
        },
        {"title": "gamma", "score": 2, "category": {"name": "home"}, "comments": []},
    ]
    assert (out["headCount"]["count"], out["headCount"]["data"]) == (4, None)
    assert ok(out, "inner", 200) == [{"title": "alpha", "comments": [{"body": "c2"}]}]

    assert ok(out, "filters", 200) == item_ids(
        owner, "name IN ('apple', 'dill, fresh')"
    )
    assert ok(out, "orFilter", 200) == item_ids(owner, "id = 2 OR kind IS NULL")
    assert sorted(r["id"] for r in ok(out, "moreFilters", 200)) == [
        r["id"]
        for r in item_ids(
            owner,
            "name ILIKE '%A%' AND id <> 2 AND tags @> '{red}' AND kind IS NOT NULL",
        )
    ]
    assert ok(out, "textSearch", 200) == item_ids(
        owner, "doc @@ plainto_tsquery('english', 'yellow banana')"
    )
    assert ok(out, "limited", 200) == [{"id": 1}, {"id": 2}]

    assert ok(out, "single", 200) == {"title": "beta", "score": 1}
    assert "4 rows" in failed(out, "singleMany", 406, "PGRST116")["details"]
    assert ok(out, "maybeNone", 200) is None

    assert ok(out, "update", 200) == [{"title": "beta", "body": "edited"}]
    assert ok(out, "upsertNew", 201) == [
        {"key": run_key, "value": 1, "note": "default note"}
    ]
    assert ok(out, "upsertMerge", 200)[0]["value"] == 2
    assert ok(out, "upsertIgnore", 201) == []
    deleted = out["delete"]
    assert (deleted["status"], deleted["count"]) == (200, 1)
    assert deleted["data"] == [{"title": "gamma"}]
    assert ok(out, "rollback", 201)[0]["title"] == "rolled back"

    assert ok(out, "rpcPost", 200) == 5
    assert ok(out, "rpcGet", 200) == 42
    rows = out["rpcRows"]
    assert (rows["data"], rows["count"]) == (
        [{"name": "apple"}, {"name": "banana"}],
        2,
    )
    assert ok(out, "csv", 200) == "id,name\n1,apple"
    failed(out, "missingTable", 404, "PGRST205")
    failed(out, "badFilter", 400, "22P02")

    notes = owner.execute(
        "SELECT title, body, score FROM notes WHERE user_id = %s ORDER BY id", [user]
    ).fetchall()
    assert notes == [("alpha", "", 3), ("beta", "edited", 1), ("delta", "", 0)]
    comments = owner.execute(
        "SELECT count(*) FROM comments WHERE user_id = %s", [user]
    ).fetchone()
    assert comments == (2,)
    upserted = owner.execute(
        "SELECT value FROM upserts WHERE key = %s", [run_key]
    ).fetchone()
    assert upserted == (2,)
