"""One typed settings object, read once at the edge from the environment and
``.env.local``.

Names follow the system rowgate is compatible with (``DATABASE_URL``,
``BETTER_AUTH_SECRET``, ``INSFORGE_JWT_SECRET`` …) so a project's env files work
unchanged. Real environment variables win over ``.env.local``, which wins over
``.env``. libpq's own ``PG*`` variables select the database when ``DATABASE_URL`` is
unset. Nothing below this module reads ``os.environ``.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from rowgate.auth.errors import AuthConfigError
from rowgate.auth.options import parse_versioned_secrets
from rowgate.errors import RowgateError

ENV_FILES = (".env", ".env.local")
LIBPQ_SELECTORS = (
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGDATABASE",
    "PGSERVICE",
    "PGUSER",
)
MIN_SECRET_LENGTH = 32

ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


class ConfigError(RowgateError):
    """A setting is missing or malformed; raised at start-up, never per request."""


def parse_env_file(text: str) -> dict[str, str]:
    """Parse dotenv text: ``KEY=value`` lines, ``#`` comments, optional quotes."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = ENV_LINE.match(line)
        if match is None:
            continue
        key, raw = match.groups()
        values[key] = _unquote(raw)
    return values


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    # An unquoted value ends at an inline comment, as in most dotenv dialects.
    return re.split(r"\s+#", raw, maxsplit=1)[0]


def read_environment(project_dir: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """Merge ``.env``, ``.env.local`` and the process environment, in rising order."""
    merged: dict[str, str] = {}
    for name in ENV_FILES:
        path = project_dir / name
        if path.is_file():
            merged.update(parse_env_file(path.read_text(encoding="utf-8")))
    merged.update(environ)
    return merged


def new_secret() -> str:
    """A fresh 256-bit secret as 64 hex characters."""
    return secrets.token_hex(32)


def new_anon_key() -> str:
    """An opaque anon key: ``anon_`` and 64 hex characters, not a JWT."""
    return "anon_" + secrets.token_hex(32)


def new_admin_key() -> str:
    """An admin API key: ``ik_`` and 64 hex characters."""
    return "ik_" + secrets.token_hex(32)


@dataclass(frozen=True)
class Settings:
    """Everything the app, the backend and the CLI need to know.

    ``database_url`` is ``None`` when neither ``DATABASE_URL`` nor a libpq ``PG*``
    variable is set: ``rowgate dev`` then starts the embedded server, and every other
    command refuses to guess.
    """

    project_dir: Path
    database_url: str | None
    better_auth_secret: str
    better_auth_url: str
    trusted_origins: tuple[str, ...]
    insforge_jwt_secret: str
    insforge_base_url: str
    insforge_anon_key: str
    insforge_api_key: str
    authenticator_password: str | None
    project_id: str
    project_name: str
    # Older cookie secrets still accepted (``BETTER_AUTH_SECRETS``, current first).
    previous_auth_secrets: tuple[str, ...] = ()
    # ``off``, ``memory``, ``database`` or ``redis``; None: the command decides
    # (``rowgate dev`` off, as Better Auth outside production; otherwise memory).
    rate_limit: str | None = None
    redis_url: str = "redis://127.0.0.1:6379/0"
    trusted_proxies: tuple[str, ...] = ()
    # The data API, named after PostgREST's settings so a move either way is a
    # rename: db-schemas, db-pre-request, db-tx-end, db-max-rows, jwt-aud.
    db_schemas: tuple[str, ...] = ("public",)
    db_pre_request: str | None = None
    db_tx_end: str = "commit"
    db_max_rows: int | None = None
    db_aggregates: bool = False
    jwt_aud: str | None = None

    @property
    def app_host_port(self) -> tuple[str, int]:
        return _host_port(self.better_auth_url, 3000)

    @property
    def backend_host_port(self) -> tuple[str, int]:
        return _host_port(self.insforge_base_url, 7130)

    @property
    def app_origin(self) -> str:
        return _origin(self.better_auth_url)

    def require_database_url(self) -> str:
        if self.database_url is None:
            raise ConfigError(
                "DATABASE_URL is not set; set it (or libpq's PG* variables) in the "
                "environment or .env.local, or let `rowgate dev` (without "
                "--no-embedded) start an embedded Postgres"
            )
        return self.database_url

    def authenticator_url(self) -> str:
        """The data API's connection: the same database, as ``authenticator``."""
        params = conninfo_to_dict(self.require_database_url())
        params["user"] = "authenticator"
        params.pop("password", None)
        if self.authenticator_password:
            params["password"] = self.authenticator_password
        return make_conninfo("", **params)

    def validate_secrets(self) -> None:
        """Fail at start-up on secrets too weak to sign cookies or tokens."""
        for name, value in (
            ("BETTER_AUTH_SECRET", self.better_auth_secret),
            ("INSFORGE_JWT_SECRET", self.insforge_jwt_secret),
        ):
            if len(value) < MIN_SECRET_LENGTH:
                raise ConfigError(
                    f"{name} must be at least {MIN_SECRET_LENGTH} characters; "
                    "run `rowgate dev` once or set a random value in .env.local"
                )
        if self.better_auth_secret == self.insforge_jwt_secret:
            raise ConfigError(
                "BETTER_AUTH_SECRET and INSFORGE_JWT_SECRET must differ: one signs "
                "cookies, the other the data API's tokens"
            )

    def masked(self) -> dict[str, str]:
        """The effective settings as text, secrets shown by their first characters."""
        shown: dict[str, str] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if value is None:
                shown[field.name] = "(not set)"
                continue
            text = ",".join(value) if isinstance(value, tuple) else str(value)
            shown[field.name] = _mask(text) if field.name in _SECRET_FIELDS else text
        if self.database_url:
            shown["database_url"] = mask_conninfo(self.database_url)
        return shown


_SECRET_FIELDS = frozenset(
    {
        "better_auth_secret",
        "insforge_jwt_secret",
        "insforge_anon_key",
        "insforge_api_key",
        "authenticator_password",
        "previous_auth_secrets",
        "redis_url",
    }
)


def _mask(value: str) -> str:
    if value in ("", "None"):
        return value
    return value[:4] + "…" if len(value) > 8 else "…"


def mask_conninfo(conninfo: str) -> str:
    """A connection string with its password hidden, for messages and logs."""
    params = conninfo_to_dict(conninfo)
    if "password" in params:
        params["password"] = "********"  # noqa: S105 (a mask, not a secret)
    return make_conninfo("", **params)


def loopback_twins(*origins: str) -> list[str]:
    """``origins`` plus, for each on 127.0.0.1 or localhost, the same on the other:
    a browser may open the app by either name."""
    found = set(origins)
    twins = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}
    for origin in origins:
        parts = urlsplit(origin)
        if parts.hostname in twins:
            port = f":{parts.port}" if parts.port else ""
            found.add(f"{parts.scheme}://{twins[parts.hostname]}{port}")
    return sorted(found)


def load_settings_from_env(project_dir: Path) -> Settings:
    """Settings for an app process: this process's environment and the project's
    env files."""
    return load_settings(project_dir, os.environ)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def _check_url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name} must be an absolute http(s) URL, got {value!r}")
    try:
        parts.port  # noqa: B018 -- urlsplit checks the port only when asked
    except ValueError:
        raise ConfigError(
            f"{name} has no valid port (1-65535), got {value!r}"
        ) from None
    return value.rstrip("/")


def _database_url(env: Mapping[str, str]) -> str | None:
    url = env.get("DATABASE_URL", "").strip()
    if url:
        try:
            conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            raise ConfigError(
                f"DATABASE_URL is not a connection string ({str(exc).strip()}); "
                "use the form postgresql://user:password@host:5432/dbname"
            ) from None
        return url
    if any(env.get(name) for name in LIBPQ_SELECTORS):
        # An empty conninfo lets libpq read the PG* variables itself.
        return ""
    return None


def load_settings(
    project_dir: Path, environ: Mapping[str, str], *, generated: Mapping[str, str] = {}
) -> Settings:
    """Build the settings for ``project_dir``.

    ``generated`` supplies values (fresh secrets) for keys found nowhere else; the
    caller decides whether to persist them.
    """
    env = {**generated, **read_environment(project_dir, environ)}
    app_url = _check_url("BETTER_AUTH_URL", env.get("BETTER_AUTH_URL", _DEFAULT_APP))
    origins = tuple(
        o.strip().rstrip("/")
        for o in env.get("BETTER_AUTH_TRUSTED_ORIGINS", "").split(",")
        if o.strip()
    )
    auth_secrets = _auth_secrets(env)
    return Settings(
        project_dir=project_dir,
        database_url=_database_url(env),
        better_auth_secret=auth_secrets[0],
        previous_auth_secrets=auth_secrets[1:],
        rate_limit=_rate_limit(env),
        redis_url=env.get("REDIS_URL", "").strip() or "redis://127.0.0.1:6379/0",
        trusted_proxies=_csv(env.get("ROWGATE_TRUSTED_PROXIES", "")),
        db_schemas=_csv(env.get("ROWGATE_DB_SCHEMAS", "")) or ("public",),
        db_pre_request=env.get("ROWGATE_DB_PRE_REQUEST", "").strip() or None,
        db_tx_end=env.get("ROWGATE_DB_TX_END", "").strip() or "commit",
        db_max_rows=_max_rows(env.get("ROWGATE_DB_MAX_ROWS", "")),
        db_aggregates=_flag("ROWGATE_DB_AGGREGATES_ENABLED", env),
        jwt_aud=env.get("ROWGATE_JWT_AUD", "").strip() or None,
        better_auth_url=app_url,
        trusted_origins=origins,
        insforge_jwt_secret=env.get("INSFORGE_JWT_SECRET", ""),
        insforge_base_url=_check_url(
            "INSFORGE_BASE_URL", env.get("INSFORGE_BASE_URL", _DEFAULT_BACKEND)
        ),
        insforge_anon_key=env.get("INSFORGE_ANON_KEY", ""),
        insforge_api_key=env.get("INSFORGE_API_KEY", ""),
        authenticator_password=env.get("ROWGATE_AUTHENTICATOR_PASSWORD") or None,
        project_id=env.get("ROWGATE_PROJECT_ID", "local"),
        project_name=env.get("ROWGATE_PROJECT_NAME", project_dir.resolve().name),
    )


RATE_LIMIT_MODES = ("off", "memory", "database", "redis")


def _csv(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _auth_secrets(env: Mapping[str, str]) -> tuple[str, ...]:
    """The cookie secrets, current first: ``BETTER_AUTH_SECRETS`` (Better Auth's
    ``<version>:<secret>,...`` rotation list) wins over ``BETTER_AUTH_SECRET``."""
    versioned = env.get("BETTER_AUTH_SECRETS", "").strip()
    if not versioned:
        return (env.get("BETTER_AUTH_SECRET", ""),)
    try:
        return parse_versioned_secrets(versioned)
    except AuthConfigError as exc:
        raise ConfigError(f"BETTER_AUTH_SECRETS: {exc}") from None


def _max_rows(text: str) -> int | None:
    if not text.strip():
        return None
    if not text.strip().isdigit():
        raise ConfigError(f"ROWGATE_DB_MAX_ROWS must be a whole number; got {text!r}")
    return int(text)


def _flag(name: str, env: Mapping[str, str]) -> bool:
    """A yes/no setting: ``true`` or ``false`` (also 1/0, yes/no, on/off)."""
    text = env.get(name, "").strip().lower()
    if text in ("", "false", "0", "no", "off"):
        return False
    if text in ("true", "1", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be true or false; got {text!r}")


def _rate_limit(env: Mapping[str, str]) -> str | None:
    mode = env.get("ROWGATE_RATE_LIMIT", "").strip().lower()
    if not mode:
        return None
    if mode not in RATE_LIMIT_MODES:
        raise ConfigError(
            f"ROWGATE_RATE_LIMIT must be one of {', '.join(RATE_LIMIT_MODES)}; "
            f"got {mode!r}"
        )
    return mode


_DEFAULT_APP = "http://127.0.0.1:3000"
_DEFAULT_BACKEND = "http://127.0.0.1:7130"
