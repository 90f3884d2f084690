"""Impersonated role settings: ``ALTER ROLE anon SET statement_timeout = ...``
holds for every request that runs as ``anon``, as in PostgREST 11.1 and later.
Only settings a non-superuser may change are applied; the request's own settings
win over the role's. The settings are made for this database only, and undone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from tests.dataapi.conftest import CONFIG, bearer, client_with, new_user


@pytest.fixture
def anon_settings(owner: psycopg.Connection[Any]) -> Iterator[None]:
    database = sql.Identifier(owner.info.dbname)
    for setting in (
        "statement_timeout = '150ms'",
        "app.greeting = 'hello'",
        # Superuser-only: the authenticator could not set it, so it is skipped.
        "log_min_duration_statement = 0",
        # The request's own setting wins.
        "search_path = pg_catalog",
        # Applied where it matters: to the transaction the request begins.
        "default_transaction_isolation = 'serializable'",
    ):
        owner.execute(
            sql.SQL("ALTER ROLE anon IN DATABASE {} SET ").format(database)
            + sql.SQL(setting)
        )
    owner.execute(
        "CREATE FUNCTION public.role_probe() RETURNS json LANGUAGE sql STABLE AS $$"
        " SELECT json_build_object("
        "'timeout', current_setting('statement_timeout'),"
        " 'greeting', current_setting('app.greeting', true),"
        " 'path', current_setting('search_path'),"
        " 'isolation', current_setting('transaction_isolation')) $$"
    )
    owner.execute(
        "CREATE FUNCTION public.role_nap() RETURNS int LANGUAGE sql STABLE AS"
        " $$ SELECT 1 FROM pg_catalog.pg_sleep(0.5) $$"
    )
    try:
        yield
    finally:
        owner.execute(
            sql.SQL("ALTER ROLE anon IN DATABASE {} RESET ALL").format(database)
        )
        owner.execute("DROP FUNCTION public.role_probe(), public.role_nap()")


async def test_the_roles_settings_hold_for_its_requests(
    anon_settings: None, pool: AsyncConnectionPool[Any]
) -> None:
    # A fresh API: its schema cache holds the settings just made.
    async with client_with(pool, CONFIG) as http:
        probe = await http.get("/rpc/role_probe")
        nap = await http.get("/rpc/role_nap")
        # Another role on the same connections gets none of anon's settings.
        others = [
            (await http.get("/rpc/role_probe", headers=bearer(new_user()))).json()
            for _ in range(3)
        ]

    assert probe.status_code == 200, probe.text
    assert probe.json() == {
        "timeout": "150ms",
        "greeting": "hello",
        "path": '"public"',
        "isolation": "serializable",
    }
    assert nap.json()["code"] == "57014"  # canceling statement due to timeout
    for other in others:
        assert other["isolation"] == "read committed"
        assert other["timeout"] != "150ms" and other["greeting"] in (None, "")
