"""The data API's settings: one frozen object, checked once when the API is built.

The backend derives it from the project's settings; nothing in the data API reads
the environment. ``validate`` turns a misconfiguration into ``DataApiConfigError``
at start-up instead of a surprise on the first request.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from rowgate.dataapi.errors import DataApiConfigError

# Roles a token must never name, whatever the allow-list says: the admin role is
# reached only through the backend's admin pool.
FORBIDDEN_ROLES = frozenset({"project_admin"})
# PostgREST refuses these at start-up: they are not application schemas.
FORBIDDEN_SCHEMAS = frozenset({"pg_catalog", "information_schema"})
MIN_SECRET_LENGTH = 32
# PostgREST's ``db-tx-end``: whether ``Prefer: tx=`` may override the default end.
TX_ENDS = frozenset(
    {"commit", "commit-allow-override", "rollback", "rollback-allow-override"}
)
_ANON_KEY = re.compile(r"anon_[0-9a-f]{64}")


@dataclass(frozen=True)
class DataApiConfig:
    """How the data API authenticates requests and what it exposes."""

    jwt_secret: str
    anon_key: str | None = None
    jwt_aud: str | None = None
    anon_role: str = "anon"
    allowed_roles: frozenset[str] = frozenset({"anon", "authenticated"})
    schemas: tuple[str, ...] = ("public",)
    clock_skew: int = 30
    max_rows: int | None = None
    # A function called with no arguments after the request settings and before
    # the main statement (PostgREST's ``db-pre-request``): ``fn`` or ``schema.fn``.
    pre_request: str | None = None
    # PostgREST's default: ``Prefer: tx=`` is ignored, so an app that relies on a
    # rollback behaves the same here as behind the PostgREST it may move to.
    # ``commit-allow-override`` lets clients (postgrest-js ``rollback()``) choose.
    tx_end: str = "commit"
    # PostgREST's ``db-aggregates-enabled``: ``count()``, ``amount.sum()`` ...
    aggregates: bool = False
    # Extra anon keys decided at run time (the backend's rotating key ring): a
    # bearer token it accepts is anonymous, like ``anon_key``.
    anon_key_check: Callable[[str], bool] | None = field(default=None, compare=False)

    def validate(self) -> None:
        """Raise ``DataApiConfigError`` unless these settings are safe to serve."""
        if len(self.jwt_secret) < MIN_SECRET_LENGTH:
            raise DataApiConfigError(
                f"the JWT secret must be at least {MIN_SECRET_LENGTH} characters"
            )
        if self.anon_key is not None and not _ANON_KEY.fullmatch(self.anon_key):
            raise DataApiConfigError("the anon key must be 'anon_' and 64 hex digits")
        if self.anon_role not in self.allowed_roles:
            raise DataApiConfigError(
                f"the anon role {self.anon_role!r} is not in allowed_roles"
            )
        forbidden = sorted(self.allowed_roles & FORBIDDEN_ROLES)
        if forbidden:
            raise DataApiConfigError(f"roles {forbidden} may not come from a token")
        self._validate_schemas()
        if self.tx_end not in TX_ENDS:
            raise DataApiConfigError(f"tx_end must be one of {sorted(TX_ENDS)}")
        if self.pre_request is not None and not all(self.pre_request_name):
            raise DataApiConfigError(
                "pre_request must be 'function' or 'schema.function'"
            )
        if self.clock_skew < 0 or (self.max_rows is not None and self.max_rows < 0):
            raise DataApiConfigError("clock_skew and max_rows must not be negative")

    @property
    def pre_request_name(self) -> tuple[str, ...]:
        """The pre-request function's name, schema first when one is given."""
        if self.pre_request is None:
            return ()
        schema, dot, name = self.pre_request.rpartition(".")
        return (schema, name) if dot else (name,)

    @property
    def tx_override(self) -> bool:
        return self.tx_end.endswith("-allow-override")

    @property
    def tx_rollback(self) -> bool:
        """Whether a request that does not ask otherwise is rolled back."""
        return self.tx_end.startswith("rollback")

    def _validate_schemas(self) -> None:
        if not self.schemas:
            raise DataApiConfigError("at least one schema must be exposed")
        bad = sorted(set(self.schemas) & FORBIDDEN_SCHEMAS)
        if bad or any(not name for name in self.schemas):
            raise DataApiConfigError(f"schemas {bad or ['']} cannot be exposed")
