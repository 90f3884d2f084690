"""The shared test harness: a throwaway database on a real Postgres server.

The server is the one named by ``ROWGATE_TEST_DATABASE_URL`` (default: the local
server on 127.0.0.1:5432). One database is created per test session, bootstrapped
with migration 0001 and Better Auth's tables, and dropped at the end.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

SERVER_URL = os.environ.get(
    "ROWGATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def bootstrap_sql() -> str:
    """The text of the built-in bootstrap migration."""
    files = resources.files("rowgate.migrations") / "bootstrap"
    return (files / "0001_better-auth-bootstrap.sql").read_text()


def url_for(database_url: str, **changes: str) -> str:
    """``database_url`` with some connection parameters replaced."""
    params = conninfo_to_dict(database_url)
    params.update(changes)
    return make_conninfo("", **params)


def _apply_auth_schema(database_url: str) -> None:
    try:
        from rowgate.auth.schema import migrate
    except ImportError:  # the auth schema module is not there yet
        return
    with psycopg.connect(database_url, autocommit=True) as conn:
        migrate(conn)


@contextmanager
def throwaway_database(*, bootstrap: bool) -> Iterator[str]:
    """Create an empty database (optionally bootstrapped); drop it on exit."""
    name = f"rowgate_test_{secrets.token_hex(4)}"
    with psycopg.connect(SERVER_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = url_for(SERVER_URL, dbname=name)
    try:
        if bootstrap:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(bootstrap_sql().encode())
            _apply_auth_schema(url)
        yield url
    finally:
        with psycopg.connect(SERVER_URL, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )


@pytest.fixture
def empty_database_url() -> Iterator[str]:
    """A database with nothing in it, for one test."""
    with throwaway_database(bootstrap=False) as url:
        yield url


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh database with the bootstrap and auth tables, for the whole session."""
    with throwaway_database(bootstrap=True) as url:
        yield url


@pytest.fixture(scope="session")
def authenticator_url(database_url: str) -> str:
    """The same database, logged in as the data API's unprivileged role."""
    return url_for(database_url, user="authenticator")
