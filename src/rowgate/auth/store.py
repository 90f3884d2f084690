"""A narrow async store over Better Auth's tables on an ``AsyncConnectionPool``.

Every statement names its table schema-qualified (``better_auth."user"``)
through ``sql.Identifier`` and never relies on ``search_path``. Rows come back
as frozen dataclasses with snake_case fields; the camelCase column names live
only in this module's field maps. Timestamps are written in UTC at millisecond
precision, as JavaScript's ``Date`` writes them, so rows read the same from
Node and from Python.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from rowgate.auth.errors import EmailTakenError
from rowgate.auth.schema import DEFAULT_SCHEMA

logger = logging.getLogger("rowgate.auth")

T = TypeVar("T")

CREDENTIAL_PROVIDER = "credential"


def now_ms() -> datetime:
    """The current UTC time, truncated to milliseconds like a JS ``Date``."""
    return truncate_ms(datetime.now(UTC))


def truncate_ms(moment: datetime) -> datetime:
    """``moment`` without its sub-millisecond part."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def in_seconds(seconds: int, *, start: datetime | None = None) -> datetime:
    """``seconds`` after ``start`` (default: now), at millisecond precision."""
    return truncate_ms((start or now_ms()) + timedelta(seconds=seconds))


@dataclass(frozen=True)
class User:
    id: str
    name: str
    email: str
    email_verified: bool
    image: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Session:
    id: str
    expires_at: datetime
    token: str
    created_at: datetime
    updated_at: datetime
    ip_address: str | None
    user_agent: str | None
    user_id: str


@dataclass(frozen=True)
class Account:
    id: str
    account_id: str
    provider_id: str
    user_id: str
    access_token: str | None
    refresh_token: str | None
    id_token: str | None
    access_token_expires_at: datetime | None
    refresh_token_expires_at: datetime | None
    scope: str | None
    password: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Verification:
    id: str
    identifier: str
    value: str
    expires_at: datetime
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class SessionWithUser:
    """A session row and the user it belongs to."""

    session: Session
    user: User


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _columns(cls: type[Any]) -> tuple[tuple[str, str], ...]:
    """(column, field) pairs of a row dataclass, in field order."""
    return tuple((_camel(f.name), f.name) for f in fields(cls))


_USER = _columns(User)
_SESSION = _columns(Session)
_ACCOUNT = _columns(Account)
_VERIFICATION = _columns(Verification)
_USER_COLUMNS = {attr: col for col, attr in _USER}


def _build(
    cls: type[T], columns: Sequence[tuple[str, str]], values: Sequence[Any]
) -> T:
    return cls(
        **{attr: value for (_, attr), value in zip(columns, values, strict=True)}
    )


def _row_values(row: Any, columns: Sequence[tuple[str, str]]) -> list[Any]:
    return [getattr(row, attr) for _, attr in columns]


class Store:
    """CRUD for the auth tables; one short transaction per call."""

    def __init__(self, pool: AsyncConnectionPool, schema: str = DEFAULT_SCHEMA) -> None:
        self._pool = pool
        self._schema = schema

    def _table(self, name: str) -> sql.Identifier:
        return sql.Identifier(self._schema, name)

    def _select(self, table: str, columns: Sequence[tuple[str, str]]) -> sql.Composed:
        return sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(sql.Identifier(col) for col, _ in columns),
            self._table(table),
        )

    def _insert(self, table: str, columns: Sequence[tuple[str, str]]) -> sql.Composed:
        return sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            self._table(table),
            sql.SQL(", ").join(sql.Identifier(col) for col, _ in columns),
            sql.SQL(", ").join(sql.Placeholder() for _ in columns),
        )

    # -- users -------------------------------------------------------------

    async def find_user_by_email(self, email: str) -> User | None:
        query = self._select("user", _USER) + sql.SQL(" WHERE {} = %s").format(
            sql.Identifier("email")
        )
        async with self._pool.connection() as conn:
            row = await (await conn.execute(query, (email,))).fetchone()
        return None if row is None else _build(User, _USER, row)

    async def find_user_by_id(self, user_id: str) -> User | None:
        query = self._select("user", _USER) + sql.SQL(" WHERE {} = %s").format(
            sql.Identifier("id")
        )
        async with self._pool.connection() as conn:
            row = await (await conn.execute(query, (user_id,))).fetchone()
        return None if row is None else _build(User, _USER, row)

    async def update_user(self, user_id: str, changes: dict[str, Any]) -> User | None:
        """Set ``changes`` (``User`` field names) and ``updatedAt`` on one user;
        the updated row, or None when the user is gone.

        Raises ``EmailTakenError`` when a new email is already another user's.
        """
        values = {**changes, "updated_at": now_ms()}
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = %s").format(sql.Identifier(_USER_COLUMNS[name]))
            for name in values
        )
        query = sql.SQL("UPDATE {} SET {} WHERE {} = %s RETURNING {}").format(
            self._table("user"),
            assignments,
            sql.Identifier("id"),
            sql.SQL(", ").join(sql.Identifier(col) for col, _ in _USER),
        )
        params = [*values.values(), user_id]
        try:
            async with self._pool.connection() as conn:
                row = await (await conn.execute(query, params)).fetchone()
        except psycopg.errors.UniqueViolation as exc:
            raise EmailTakenError(str(changes.get("email", ""))) from exc
        return None if row is None else _build(User, _USER, row)

    async def delete_user(self, user_id: str) -> None:
        """Delete a user; the foreign keys cascade to sessions and accounts."""
        query = sql.SQL("DELETE FROM {} WHERE {} = %s").format(
            self._table("user"), sql.Identifier("id")
        )
        async with self._pool.connection() as conn:
            await conn.execute(query, (user_id,))

    async def create_user(
        self, user: User, account: Account, session: Session | None
    ) -> None:
        """Insert a user, its credential account and (optionally) a first session
        in one transaction: either all three rows exist afterwards or none.

        Raises ``EmailTakenError`` when the email's unique constraint refuses
        the user (another sign-up won the race).
        """
        async with self._pool.connection() as conn, conn.transaction():
            try:
                await conn.execute(
                    self._insert("user", _USER), _row_values(user, _USER)
                )
            except psycopg.errors.UniqueViolation as exc:
                raise EmailTakenError(user.email) from exc
            await conn.execute(
                self._insert("account", _ACCOUNT), _row_values(account, _ACCOUNT)
            )
            if session is not None:
                await conn.execute(
                    self._insert("session", _SESSION), _row_values(session, _SESSION)
                )

    # -- accounts ----------------------------------------------------------

    async def find_credential_account(
        self, user_id: str, *, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> Account | None:
        """The user's email-and-password account (``accountId`` = user id);
        read on ``conn`` when given (inside its transaction)."""
        query = self._select("account", _ACCOUNT) + sql.SQL(
            " WHERE {} = %s AND {} = %s AND {} = %s"
        ).format(
            sql.Identifier("userId"),
            sql.Identifier("providerId"),
            sql.Identifier("accountId"),
        )
        params = (user_id, CREDENTIAL_PROVIDER, user_id)
        if conn is not None:
            row = await (await conn.execute(query, params)).fetchone()
        else:
            async with self._pool.connection() as own:
                row = await (await own.execute(query, params)).fetchone()
        return None if row is None else _build(Account, _ACCOUNT, row)

    async def list_accounts(self, user_id: str) -> list[Account]:
        query = self._select("account", _ACCOUNT) + sql.SQL(
            " WHERE {} = %s ORDER BY {}"
        ).format(sql.Identifier("userId"), sql.Identifier("createdAt"))
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(query, (user_id,))).fetchall()
        return [_build(Account, _ACCOUNT, row) for row in rows]

    async def delete_account(self, account_id: str, user_id: str) -> None:
        query = sql.SQL("DELETE FROM {} WHERE {} = %s AND {} = %s").format(
            self._table("account"), sql.Identifier("id"), sql.Identifier("userId")
        )
        async with self._pool.connection() as conn:
            await conn.execute(query, (account_id, user_id))

    async def change_password(
        self, account_id: str, password_hash: str, *, new_session: Session | None
    ) -> None:
        """Store a new hash on the credential account; with ``new_session``, the
        user's other sessions are replaced by it in the same transaction."""
        async with self._pool.connection() as conn, conn.transaction():
            if new_session is not None:
                await self._delete_user_sessions(conn, new_session.user_id)
            await self._set_password(conn, account_id, password_hash)
            if new_session is not None:
                await conn.execute(
                    self._insert("session", _SESSION),
                    _row_values(new_session, _SESSION),
                )

    async def reset_password(
        self,
        identifier: str,
        user_id: str,
        password_hash: str,
        *,
        new_account: Account,
        revoke_sessions: bool,
    ) -> bool:
        """Spend the reset token ``identifier`` and set the user's password in one
        transaction; False (and nothing changed) when the token is gone or
        expired. ``new_account`` is inserted when the user has no credential
        account yet."""
        async with self._pool.connection() as conn, conn.transaction():
            if not await self._consume_verification(conn, identifier, user_id):
                return False
            if revoke_sessions:
                await self._delete_user_sessions(conn, user_id)
            account = await self.find_credential_account(user_id, conn=conn)
            if account is None:
                await conn.execute(
                    self._insert("account", _ACCOUNT),
                    _row_values(new_account, _ACCOUNT),
                )
            else:
                await self._set_password(conn, account.id, password_hash)
        return True

    async def _set_password(
        self, conn: psycopg.AsyncConnection[Any], account_id: str, password_hash: str
    ) -> None:
        query = sql.SQL("UPDATE {} SET {} = %s, {} = %s WHERE {} = %s").format(
            self._table("account"),
            sql.Identifier("password"),
            sql.Identifier("updatedAt"),
            sql.Identifier("id"),
        )
        await conn.execute(query, (password_hash, now_ms(), account_id))

    # -- verification values -----------------------------------------------

    async def create_verification(self, verification: Verification) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                self._insert("verification", _VERIFICATION),
                _row_values(verification, _VERIFICATION),
            )

    async def find_verification(self, identifier: str) -> Verification | None:
        """The newest live value stored under ``identifier``, or None."""
        query = self._select("verification", _VERIFICATION) + sql.SQL(
            " WHERE {} = %s AND {} > %s ORDER BY {} DESC LIMIT 1"
        ).format(
            sql.Identifier("identifier"),
            sql.Identifier("expiresAt"),
            sql.Identifier("createdAt"),
        )
        async with self._pool.connection() as conn:
            cursor = await conn.execute(query, (identifier, now_ms()))
            row = await cursor.fetchone()
        return None if row is None else _build(Verification, _VERIFICATION, row)

    async def consume_verification(self, identifier: str, value: str) -> bool:
        """Delete the live value ``value`` under ``identifier``; whether one was
        there (two racing callers cannot both spend it)."""
        async with self._pool.connection() as conn:
            return await self._consume_verification(conn, identifier, value)

    async def _consume_verification(
        self, conn: psycopg.AsyncConnection[Any], identifier: str, value: str
    ) -> bool:
        query = sql.SQL(
            "DELETE FROM {} WHERE {} = %s AND {} = %s AND {} > %s RETURNING {}"
        ).format(
            self._table("verification"),
            sql.Identifier("identifier"),
            sql.Identifier("value"),
            sql.Identifier("expiresAt"),
            sql.Identifier("id"),
        )
        cursor = await conn.execute(query, (identifier, value, now_ms()))
        return bool(await cursor.fetchall())

    # -- sessions ----------------------------------------------------------

    async def create_session(self, session: Session) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                self._insert("session", _SESSION), _row_values(session, _SESSION)
            )

    async def find_session(self, token: str) -> SessionWithUser | None:
        """The session with ``token`` and its user, in one indexed query."""
        names = [sql.Identifier("s", col) for col, _ in _SESSION]
        names += [sql.Identifier("u", col) for col, _ in _USER]
        query = sql.SQL(
            "SELECT {} FROM {} AS s JOIN {} AS u ON u.{} = s.{} WHERE s.{} = %s"
        ).format(
            sql.SQL(", ").join(names),
            self._table("session"),
            self._table("user"),
            sql.Identifier("id"),
            sql.Identifier("userId"),
            sql.Identifier("token"),
        )
        async with self._pool.connection() as conn:
            row = await (await conn.execute(query, (token,))).fetchone()
        if row is None:
            return None
        split = len(_SESSION)
        return SessionWithUser(
            session=_build(Session, _SESSION, row[:split]),
            user=_build(User, _USER, row[split:]),
        )

    async def list_sessions(self, user_id: str) -> list[Session]:
        query = self._select("session", _SESSION) + sql.SQL(
            " WHERE {} = %s ORDER BY {}"
        ).format(sql.Identifier("userId"), sql.Identifier("createdAt"))
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(query, (user_id,))).fetchall()
        return [_build(Session, _SESSION, row) for row in rows]

    async def extend_session(
        self, token: str, expires_at: datetime, updated_at: datetime
    ) -> Session | None:
        """Move the session's expiry; None when the row is gone."""
        query = sql.SQL(
            "UPDATE {} SET {} = %s, {} = %s WHERE {} = %s RETURNING {}"
        ).format(
            self._table("session"),
            sql.Identifier("expiresAt"),
            sql.Identifier("updatedAt"),
            sql.Identifier("token"),
            sql.SQL(", ").join(sql.Identifier(col) for col, _ in _SESSION),
        )
        async with self._pool.connection() as conn:
            cursor = await conn.execute(query, (expires_at, updated_at, token))
            row = await cursor.fetchone()
        return None if row is None else _build(Session, _SESSION, row)

    async def delete_session(self, token: str, *, user_id: str | None = None) -> None:
        """Delete the session with ``token`` (only if it is ``user_id``'s, when
        given)."""
        query = sql.SQL("DELETE FROM {} WHERE {} = %s").format(
            self._table("session"), sql.Identifier("token")
        )
        params: list[str] = [token]
        if user_id is not None:
            query += sql.SQL(" AND {} = %s").format(sql.Identifier("userId"))
            params.append(user_id)
        async with self._pool.connection() as conn:
            await conn.execute(query, params)

    async def delete_user_sessions(
        self, user_id: str, *, except_token: str | None = None
    ) -> None:
        """Delete all of a user's sessions, or all but ``except_token``."""
        async with self._pool.connection() as conn:
            await self._delete_user_sessions(conn, user_id, except_token=except_token)

    async def _delete_user_sessions(
        self,
        conn: psycopg.AsyncConnection[Any],
        user_id: str,
        *,
        except_token: str | None = None,
    ) -> None:
        query = sql.SQL("DELETE FROM {} WHERE {} = %s").format(
            self._table("session"), sql.Identifier("userId")
        )
        params: list[str] = [user_id]
        if except_token is not None:
            query += sql.SQL(" AND {} <> %s").format(sql.Identifier("token"))
            params.append(except_token)
        await conn.execute(query, params)
