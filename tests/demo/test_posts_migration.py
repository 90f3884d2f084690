"""Migration 0002: ``public.posts`` and the policies that keep each user's rows theirs.

Each test runs in a transaction that is rolled back, against one throwaway database
bootstrapped like ``database_url`` with 0002 applied as ``project_admin``. Requests
are played the way the data API plays them: ``SET ROLE`` plus the JWT claims.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors

from tests.conftest import throwaway_database

FIXTURES = Path(__file__).parent


def posts_sql() -> bytes:
    migrations = resources.files("rowgate.demo") / "migrations"
    return (migrations / "0002_posts.sql").read_bytes()


def apply_as_project_admin(conn: psycopg.Connection[Any]) -> None:
    """Apply 0002 the way the migration engine does: one transaction, project_admin."""
    with conn.transaction():
        conn.execute("SET LOCAL ROLE project_admin")
        conn.execute(posts_sql())


def ensure_user_table(conn: psycopg.Connection[Any]) -> None:
    conn.execute((FIXTURES / "better_auth_user.sql").read_bytes())


@pytest.fixture(scope="module")
def posts_url() -> Iterator[str]:
    with throwaway_database(bootstrap=True) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            ensure_user_table(conn)
            apply_as_project_admin(conn)
        yield url


@pytest.fixture
def db(posts_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection as the database owner, inside a transaction rolled back later."""
    with psycopg.connect(posts_url) as conn:
        yield conn
        conn.rollback()


def add_user(conn: psycopg.Connection[Any]) -> str:
    user_id = secrets.token_hex(16)
    conn.execute(
        'INSERT INTO better_auth."user"'
        ' (id, name, email, "emailVerified", "createdAt", "updatedAt")'
        " VALUES (%s, %s, %s, false, now(), now())",
        (user_id, "User", f"{user_id}@example.com"),
    )
    return user_id


def act_as(conn: psycopg.Connection[Any], role: str, sub: str | None = None) -> None:
    """Switch the rest of the transaction to a data API request's identity."""
    claims = {"role": role} if sub is None else {"role": role, "sub": sub}
    conn.execute(
        "SELECT set_config('role', %s, true),"
        " set_config('request.jwt.claims', %s, true)",
        (role, json.dumps(claims)),
    )


def add_post(conn: psycopg.Connection[Any], user_id: str, title: str) -> int:
    row = conn.execute(
        "INSERT INTO public.posts (user_id, title) VALUES (%s, %s) RETURNING id",
        (user_id, title),
    ).fetchone()
    assert row is not None
    return int(row[0])


def titles(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute("SELECT title FROM public.posts ORDER BY id").fetchall()
    return [r[0] for r in rows]


def test_each_user_sees_only_their_own_posts(db: psycopg.Connection[Any]) -> None:
    alice, bob = add_user(db), add_user(db)
    add_post(db, alice, "alice 1")
    add_post(db, alice, "alice 2")
    add_post(db, bob, "bob 1")

    act_as(db, "authenticated", alice)

    assert titles(db) == ["alice 1", "alice 2"]


def test_a_new_post_belongs_to_the_requesting_user(db: psycopg.Connection[Any]) -> None:
    alice = add_user(db)
    act_as(db, "authenticated", alice)

    row = db.execute(
        "INSERT INTO public.posts (title) VALUES ('hello')"
        " RETURNING user_id, body, created_at IS NOT NULL"
    ).fetchone()

    assert row == (alice, "", True)


def test_inserting_a_post_for_another_user_is_refused(
    db: psycopg.Connection[Any],
) -> None:
    alice, bob = add_user(db), add_user(db)
    act_as(db, "authenticated", alice)

    with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
        add_post(db, bob, "forged")


def test_a_post_cannot_be_handed_to_another_user(db: psycopg.Connection[Any]) -> None:
    alice, bob = add_user(db), add_user(db)
    post = add_post(db, alice, "mine")
    act_as(db, "authenticated", alice)

    with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
        db.execute("UPDATE public.posts SET user_id = %s WHERE id = %s", (bob, post))


def test_other_users_posts_cannot_be_changed_or_deleted(
    db: psycopg.Connection[Any],
) -> None:
    alice, bob = add_user(db), add_user(db)
    post = add_post(db, alice, "mine")
    act_as(db, "authenticated", bob)

    updated = db.execute(
        "UPDATE public.posts SET title = 'stolen' WHERE id = %s", [post]
    )
    deleted = db.execute("DELETE FROM public.posts WHERE id = %s", [post])

    assert (updated.rowcount, deleted.rowcount) == (0, 0)
    db.execute("RESET ROLE")
    assert titles(db) == ["mine"]


def test_owners_can_change_and_delete_their_posts(db: psycopg.Connection[Any]) -> None:
    alice = add_user(db)
    post = add_post(db, alice, "draft")
    act_as(db, "authenticated", alice)

    db.execute("UPDATE public.posts SET title = 'final' WHERE id = %s", [post])
    assert titles(db) == ["final"]
    db.execute("DELETE FROM public.posts WHERE id = %s", [post])
    assert titles(db) == []


def test_anon_cannot_read_posts(db: psycopg.Connection[Any]) -> None:
    add_post(db, add_user(db), "private")
    act_as(db, "anon")

    with pytest.raises(errors.InsufficientPrivilege, match="permission denied"):
        titles(db)


def test_a_token_without_sub_sees_and_writes_nothing(
    db: psycopg.Connection[Any],
) -> None:
    add_post(db, add_user(db), "private")
    act_as(db, "authenticated")

    assert titles(db) == []
    with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
        db.execute("INSERT INTO public.posts (title) VALUES ('orphan')")


@pytest.mark.parametrize("title", ["", "   ", "x" * 201])
def test_blank_and_overlong_titles_are_refused(
    db: psycopg.Connection[Any], title: str
) -> None:
    with pytest.raises(errors.CheckViolation):
        add_post(db, add_user(db), title)


def test_deleting_a_user_deletes_their_posts(db: psycopg.Connection[Any]) -> None:
    alice = add_user(db)
    add_post(db, alice, "gone soon")

    db.execute('DELETE FROM better_auth."user" WHERE id = %s', [alice])

    assert titles(db) == []


def test_the_client_cannot_choose_the_id(db: psycopg.Connection[Any]) -> None:
    alice = add_user(db)
    act_as(db, "authenticated", alice)

    with pytest.raises(errors.GeneratedAlways):
        db.execute("INSERT INTO public.posts (id, title) VALUES (1, 'x')")


def test_reapplying_the_migration_changes_nothing(posts_url: str) -> None:
    with psycopg.connect(posts_url, autocommit=True) as conn:
        before = policies(conn)
        apply_as_project_admin(conn)
        after = policies(conn)

    assert before == after
    assert {p[0] for p in after} == {
        "posts_select_own",
        "posts_insert_own",
        "posts_update_own",
        "posts_delete_own",
    }
    assert all(p[1] == ["authenticated"] for p in after)


def policies(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT policyname, roles::text[], cmd, qual, with_check FROM pg_policies"
        " WHERE schemaname = 'public' AND tablename = 'posts' ORDER BY policyname"
    ).fetchall()


def test_rls_is_enabled_and_only_authenticated_holds_grants(posts_url: str) -> None:
    with psycopg.connect(posts_url) as conn:
        rls = conn.execute(
            "SELECT relrowsecurity FROM pg_class WHERE oid = 'public.posts'::regclass"
        ).fetchone()
        grants = conn.execute(
            "SELECT grantee, array_agg(privilege_type::text ORDER BY privilege_type)"
            " FROM information_schema.role_table_grants"
            " WHERE table_schema = 'public' AND table_name = 'posts'"
            " AND grantee IN ('anon', 'authenticated') GROUP BY grantee"
        ).fetchall()

    assert rls == (True,)
    assert grants == [("authenticated", ["DELETE", "INSERT", "SELECT", "UPDATE"])]


def test_applies_as_project_admin_after_setup_alone() -> None:
    with (
        throwaway_database(bootstrap=True) as url,
        psycopg.connect(url, autocommit=True) as conn,
    ):
        ensure_user_table(conn)
        apply_as_project_admin(conn)
        found = conn.execute("SELECT to_regclass('public.posts')").fetchone()

    assert found == ("posts",)
