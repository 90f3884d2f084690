"""The ``rowgate`` command line: thin commands over the library, no business logic.

Every command reads one ``Settings`` object from the environment and ``.env.local``
of the project directory. Errors rowgate raises on purpose print as one line and
exit non-zero; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from rowgate import __version__, serving
from rowgate.config import (
    Settings,
    load_settings,
    new_admin_key,
    new_anon_key,
    new_secret,
)
from rowgate.envfile import add_missing
from rowgate.errors import RowgateError
from rowgate.migrations import files as migration_files
from rowgate.migrations.engine import Status, Transport, status, up
from rowgate.migrations.transport import DirectTransport, HttpTransport

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

app = typer.Typer(
    help="Better Auth-compatible auth and a PostgREST-compatible data API over "
    "one Postgres guarded by row level security.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database commands.", no_args_is_help=True)
migrations_app = typer.Typer(
    help="Numbered SQL migrations in migrations/.", no_args_is_help=True
)
auth_app = typer.Typer(help="Auth tables.", no_args_is_help=True)
keys_app = typer.Typer(help="The backend's keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
db_app.add_typer(migrations_app, name="migrations")
app.add_typer(auth_app, name="auth")
app.add_typer(keys_app, name="keys")

ProjectDir = Annotated[
    Path,
    typer.Option(
        "--project-dir",
        "-C",
        help="The project directory (its .env.local and migrations/).",
        file_okay=False,
        resolve_path=True,
    ),
]

ApiBaseUrl = Annotated[
    str | None,
    typer.Option(
        "--api-base-url", help="The backend's URL (default INSFORGE_BASE_URL)."
    ),
]
ApiKey = Annotated[
    str | None,
    typer.Option("--api-key", help="The admin key (default INSFORGE_API_KEY)."),
]

_state: dict[str, bool] = {"debug": False}
T = TypeVar("T")


def _print_version(value: bool) -> None:
    if value:
        console.print(f"rowgate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks and debug logs.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    _state["debug"] = debug
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        if debug
        else _OneLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO, handlers=[handler]
    )
    if not debug:
        # Each HTTP call the CLI makes is not news; failures are reported anyway.
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.WARNING)


class _OneLineFormatter(logging.Formatter):
    """Log lines without tracebacks: the exception's type and text on the same
    line, so a failing server says why in one line; ``--debug`` shows the rest."""

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record = logging.makeLogRecord(record.__dict__)
            record.msg = f"{record.getMessage()} ({type(exc).__name__}: {exc})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return super().format(record)


@contextmanager
def _friendly_errors(*, as_json: bool = False) -> Iterator[None]:
    """Turn a ``RowgateError`` into one line on stderr (or, for ``--json``, one
    JSON object on stdout) and exit 1; ``--debug`` lets the traceback through."""
    try:
        yield
    except RowgateError as exc:
        if _state["debug"]:
            raise
        if as_json:
            print(json.dumps({"success": False, "error": str(exc)}))
        else:
            errors.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None


def _settings(project_dir: Path) -> Settings:
    return load_settings(project_dir, os.environ)


# -- migrations ---------------------------------------------------------------------


Remote = Annotated[
    bool,
    typer.Option(
        "--remote",
        help="Go through the backend's admin API (INSFORGE_BASE_URL and "
        "INSFORGE_API_KEY) instead of DATABASE_URL.",
    ),
]


@contextmanager
def _transport(settings: Settings, remote: bool) -> Iterator[Transport]:
    if remote:
        if not settings.insforge_api_key:
            raise RowgateError("--remote needs INSFORGE_API_KEY (the admin key)")
        with HttpTransport(
            settings.insforge_base_url, settings.insforge_api_key
        ) as transport:
            yield transport
        return
    from rowgate.provision import check_reachable

    conninfo = settings.require_database_url()
    check_reachable(conninfo)
    with DirectTransport(conninfo) as direct:
        yield direct


@migrations_app.command("up")
def migrations_up(
    project_dir: ProjectDir = Path("."),
    target: Annotated[
        str | None, typer.Argument(help="Apply only this one pending migration.")
    ] = None,
    to: Annotated[
        str | None,
        typer.Option("--to", help="Apply pending migrations up to this version."),
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Apply every pending migration.")
    ] = False,
    accept_drift: Annotated[
        bool,
        typer.Option(
            "--accept-drift",
            help="Record the new checksum of edited applied files without running "
            "them.",
        ),
    ] = False,
    remote: Remote = False,
) -> None:
    """Apply migrations: exactly one of TARGET, --to or --all."""
    with _friendly_errors():
        if sum([target is not None, to is not None, all_]) != 1:
            raise RowgateError(
                "use exactly one apply mode: `up <target>`, `up --to <version>` or "
                "`up --all`"
            )
        from rowgate.provision import project_migrations

        files = project_migrations(project_dir)
        limit = None
        if to is not None or target is not None:
            limit = migration_files.resolve_target(files, to or target or "")
        with _transport(_settings(project_dir), remote) as transport:
            if target is not None:
                _refuse_skipping(files, transport, limit)
            applied = up(
                transport,
                files,
                to=limit,
                accept_drift=accept_drift,
                on_apply=lambda f: console.print(f"  applying {f.filename}"),
            )
        if not applied:
            console.print("No pending migrations to apply.")
            return
        console.print(f"Applied {len(applied)} migration file(s).")


def _refuse_skipping(
    files: list[migration_files.MigrationFile],
    transport: Transport,
    target: int | None,
) -> None:
    pending = [
        e for e in status(files, transport.applied()) if e.status is Status.PENDING
    ]
    if pending and target is not None and pending[0].version != target:
        raise RowgateError(
            f"migration {target} is not the next pending one; apply "
            f"{pending[0].filename} first"
        )


@migrations_app.command("status")
def migrations_status(
    project_dir: ProjectDir = Path("."), remote: Remote = False
) -> None:
    """Show every migration: applied, pending, drifted or older than the head."""
    with _friendly_errors():
        from rowgate.provision import project_migrations

        files = project_migrations(project_dir)
        with _transport(_settings(project_dir), remote) as transport:
            entries = status(files, transport.applied())
        table = Table("version", "name", "status")
        colours = {
            Status.APPLIED: "green",
            Status.PENDING: "yellow",
            Status.DRIFTED: "red",
            Status.OLDER_THAN_HEAD: "red",
            Status.MISSING: "magenta",
        }
        for entry in entries:
            colour = colours[entry.status]
            table.add_row(
                str(entry.version),
                entry.name,
                f"[{colour}]{entry.status.value}[/{colour}]",
            )
        console.print(table)


migrations_app.command("list", help="Alias of `status`.")(migrations_status)


@migrations_app.command("new")
def migrations_new(
    name: Annotated[str, typer.Argument(help="lowercase-words-with-hyphens")],
    project_dir: ProjectDir = Path("."),
) -> None:
    """Create the next empty migration file in migrations/."""
    with _friendly_errors():
        folder = project_dir / "migrations"
        if not folder.is_dir():
            _adopt_default_migrations(project_dir)
        files = migration_files.discover(folder)
        filename = migration_files.next_filename(files, name, applied_head=0)
        path = folder / filename
        with path.open("x", encoding="utf-8"):
            pass
        console.print(f"Created migration file {path.relative_to(project_dir)}")


def _adopt_default_migrations(project_dir: Path) -> None:
    """Give a project without ``migrations/`` the files it has been using.

    Such a project runs the built-in bootstrap and the demo's migrations; once the
    folder exists it runs only what the folder holds, so those files move in
    first, unchanged (same checksums), and the new file is numbered after them.
    """
    from rowgate.provision import project_migrations

    defaults = project_migrations(project_dir)
    folder = project_dir / "migrations"
    folder.mkdir()
    for migration in defaults:
        (folder / migration.filename).write_text(migration.sql, encoding="utf-8")
    console.print(
        "Copied the migrations this project was using into migrations/: "
        + ", ".join(m.filename for m in defaults)
    )


# -- auth and setup -----------------------------------------------------------------


@auth_app.command("migrate")
def auth_migrate(project_dir: ProjectDir = Path(".")) -> None:
    """Create Better Auth's tables in the better_auth schema (idempotent)."""
    with _friendly_errors():
        from rowgate.provision import check_reachable, migrate_auth

        conninfo = _settings(project_dir).require_database_url()
        check_reachable(conninfo)
        created = migrate_auth(conninfo)
        console.print(
            f"Created {', '.join(created)}."
            if created
            else "Auth tables are up to date."
        )


@app.command("setup")
def setup_command(project_dir: ProjectDir = Path(".")) -> None:
    """Bootstrap (0001), auth tables, then every migration. Safe to re-run."""
    with _friendly_errors():
        _run_setup(_settings(project_dir))


def _run_setup(settings: Settings) -> None:
    from rowgate.provision import DatabaseUnreachable, project_migrations, setup

    try:
        report = setup(
            settings.require_database_url(),
            project_migrations(settings.project_dir),
            authenticator_password=settings.authenticator_password,
            progress=lambda message: console.print(f"  {message}"),
        )
    except DatabaseUnreachable as exc:
        raise RowgateError(
            f"{exc}. Start Postgres or fix DATABASE_URL in .env.local, then run "
            "`rowgate setup` again."
        ) from exc
    console.print(
        f"Setup complete: {len(report.applied)} migration(s) applied, "
        f"{len(report.auth_created)} auth object(s) created."
    )


@app.command("config")
def config_command(project_dir: ProjectDir = Path(".")) -> None:
    """Print the effective settings with secrets masked."""
    with _friendly_errors():
        for key, value in _settings(project_dir).masked().items():
            console.print(f"{key} = {value}", highlight=False)


# -- keys -------------------------------------------------------------------------


@keys_app.command("rotate-anon")
def rotate_anon_key(
    grace_hours: Annotated[
        float,
        typer.Option(
            "--grace-hours",
            min=0,
            max=720,
            help="How long the old key keeps working (0 retires it at once).",
        ),
    ] = 24,
    api_base_url: ApiBaseUrl = None,
    api_key: ApiKey = None,
    project_dir: ProjectDir = Path("."),
) -> None:
    """Replace the anon key on the backend and in .env.local.

    Keys that were already in a grace period keep it unless it ends later than
    the new one, so --grace-hours 0 retires every older key at once.
    """
    import httpx

    from rowgate.envfile import set_value

    with _friendly_errors():
        settings = _settings(project_dir)
        base_url, key = _backend_access(
            settings, api_base_url, api_key, "rotating the anon key"
        )
        try:
            response = httpx.post(
                base_url + "/api/secrets/anon-key/rotate",
                json={"gracePeriodHours": grace_hours},
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            )
        except httpx.HTTPError as exc:
            raise RowgateError(
                f"cannot reach the backend at {base_url} ({exc}); "
                "start it with `rowgate serve` and run this again"
            ) from exc
        if response.status_code != 200:
            raise RowgateError(
                f"the backend refused the rotation ({response.status_code}): "
                f"{_message_of(response)}"
            )
        body = response.json()
        set_value(project_dir / ".env.local", "INSFORGE_ANON_KEY", body["anonKey"])
        expires = body.get("previousKeyExpiresAt") or "now"
        console.print(
            "Rotated the anon key and wrote it to .env.local; the previous key "
            f"stops working at {expires}. Restart the app to serve the new key.",
            highlight=False,
        )


def _backend_access(
    settings: Settings, base_url: str | None, key: str | None, needed_by: str
) -> tuple[str, str]:
    """The backend's URL and admin key: the options, else the settings."""
    key = key or settings.insforge_api_key
    if not key:
        raise RowgateError(
            f"{needed_by} needs the backend's admin key: pass --api-key or set "
            "INSFORGE_API_KEY"
        )
    return (base_url or settings.insforge_base_url).rstrip("/"), key


def _message_of(response: Any) -> str:
    try:
        return str(response.json().get("message", response.text))
    except ValueError:
        return str(response.text)[:200]


# -- link -------------------------------------------------------------------------


@app.command("link")
def link_command(
    project_id: Annotated[
        str, typer.Option("--project-id", help="The backend's project id.")
    ],
    auth: Annotated[
        str, typer.Option("--auth", help="The auth provider to scaffold.")
    ] = "better-auth",
    api_base_url: ApiBaseUrl = None,
    api_key: ApiKey = None,
    json_output: Annotated[
        bool,
        typer.Option("--json", help="Print a JSON report; skip install and setup."),
    ] = False,
    skip_install: Annotated[
        bool, typer.Option("--skip-install", help="Do not install dependencies.")
    ] = False,
    skip_setup: Annotated[
        bool, typer.Option("--skip-setup", help="Do not run `rowgate setup`.")
    ] = False,
    project_dir: ProjectDir = Path("."),
) -> None:
    """Scaffold auth, the bridge, pages and data helpers into this project."""
    from rowgate.scaffold import link as scaffold

    with _friendly_errors(as_json=json_output):
        scaffold.check_provider(auth)
        settings = _settings(project_dir)
        base_url, key = _backend_access(settings, api_base_url, api_key, "link")
        backend = scaffold.fetch_backend(base_url, key, project_id)
        report = scaffold.link(project_dir, backend)
        if json_output:
            print(json.dumps({"success": True, **report.as_json()}))
            return
        _print_link_report(backend, report)
        if not skip_install:
            _install_dependencies()
        if not skip_setup:
            _setup_after_link(project_dir)
        console.print(
            "\nNext: [bold]rowgate run[/bold] serves the app; sign up at "
            f"{_settings(project_dir).better_auth_url}/sign-up"
        )


def _print_link_report(backend: Any, report: Any) -> None:
    console.print(
        f"[green]Linked[/green] to project [bold]{backend.project_name}[/bold] "
        f"({backend.project_id}) at {backend.base_url}"
    )
    rows = [
        ("created", report.created, "green"),
        ("replaced", report.replaced, "cyan"),
        ("kept", report.kept, "yellow"),
    ]
    for label, names, colour in rows:
        for name in names:
            suffix = f" (new version in {name}.new)" if label == "kept" else ""
            console.print(f"  [{colour}]{label:<9}[/{colour}] {name}{suffix}")
    if report.unchanged:
        console.print(f"  [dim]unchanged {len(report.unchanged)} file(s)[/dim]")
    if report.env_written or report.env_refreshed:
        console.print(
            f"  .env.local: wrote {', '.join(report.env_written) or 'nothing'}; "
            f"refreshed {', '.join(report.env_refreshed) or 'nothing'}"
        )
    if report.env_kept:
        console.print(
            f"  .env.local: kept your values for {', '.join(report.env_kept)}"
        )
    for warning in report.warnings:
        console.print(f"  [yellow]warning:[/yellow] {warning}")


def _install_dependencies() -> None:
    import importlib.util
    import subprocess

    if importlib.util.find_spec("rowgate") is not None:
        console.print("  dependencies already installed")
        return
    with console.status("Installing dependencies…"):
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "rowgate"],
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        first = (result.stderr.strip().splitlines() or ["pip failed"])[-1]
        console.print(f"  [yellow]warning:[/yellow] install failed: {first}")
        console.print("  Run `pip install rowgate` yourself, then `rowgate setup`.")


def _setup_after_link(project_dir: Path) -> None:
    try:
        with console.status("Running setup (schema and migrations)…"):
            _run_setup(_settings(project_dir))
    except RowgateError as exc:
        console.print(f"  [yellow]warning:[/yellow] setup failed: {exc}")
        console.print("  Fix DATABASE_URL in .env.local, then run `rowgate setup`.")


@app.command("run")
def run_app(
    project_dir: ProjectDir = Path("."),
    app_path: Annotated[
        str | None,
        typer.Option(
            "--app", help="module:variable (default [tool.rowgate] app, or app:app)."
        ),
    ] = None,
) -> None:
    """Serve the project's web app on BETTER_AUTH_URL."""
    import tomllib

    with _friendly_errors():
        settings = _settings(project_dir)
        pyproject = project_dir / "pyproject.toml"
        configured = None
        if pyproject.is_file():
            tool = tomllib.loads(pyproject.read_text()).get("tool", {})
            configured = tool.get("rowgate", {}).get("app")
        target = app_path or configured or "app:app"
        host, port = settings.app_host_port
        sys.path.insert(0, str(project_dir))
        _check_ports([(host, port, "BETTER_AUTH_URL")])
        serving.serve([(_load_app(target), host, port)], access_log=_state["debug"])


def _load_app(target: str) -> Any:
    from uvicorn.importer import ImportFromStringError, import_from_string

    try:
        return import_from_string(target)
    except ImportFromStringError as exc:
        raise RowgateError(
            f"cannot load the app {target!r}: {exc}; run `rowgate link` in this "
            "project first, or pass --app module:variable"
        ) from None


def _check_ports(wanted: list[tuple[str, int, str]]) -> None:
    """Fail in one line, before anything starts, when a port is taken."""
    import socket

    for host, port, setting in wanted:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                raise RowgateError(
                    f"{host}:{port} is not free ({exc.strerror}); another "
                    f"`rowgate dev` or server may be running: stop it, or choose "
                    f"another port in {setting}"
                ) from None


# -- servers ------------------------------------------------------------------------


@app.command("serve")
def serve(
    project_dir: ProjectDir = Path("."),
    host: Annotated[
        str | None, typer.Option(help="Defaults to INSFORGE_BASE_URL.")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Defaults to INSFORGE_BASE_URL.")
    ] = None,
) -> None:
    """Run the backend: the data API (and admin API) on INSFORGE_BASE_URL."""
    with _friendly_errors():
        from rowgate.backend.app import create_backend

        settings = _settings(project_dir)
        default_host, default_port = settings.backend_host_port
        bind = (host or default_host, port or default_port)
        _check_ports([(*bind, "INSFORGE_BASE_URL or --port")])
        backend = create_backend(settings)
        serving.serve([(backend, *bind)], access_log=_state["debug"])


def _ensure_local_env(project_dir: Path) -> list[str]:
    """Create the project's secrets and keys in .env.local on first run only."""
    return add_missing(
        project_dir / ".env.local",
        {
            "BETTER_AUTH_SECRET": new_secret(),
            "INSFORGE_JWT_SECRET": new_secret(),
            "INSFORGE_ANON_KEY": new_anon_key(),
            "INSFORGE_API_KEY": new_admin_key(),
        },
        header="Generated by `rowgate dev`; keep this file out of version control.",
    )


@app.command("dev")
def dev(
    project_dir: ProjectDir = Path("."),
    embedded: Annotated[
        bool | None,
        typer.Option(
            "--embedded/--no-embedded",
            help="Use the embedded Postgres (default: when DATABASE_URL is unset).",
        ),
    ] = None,
) -> None:
    """Run the whole demo: database, setup, backend and app."""
    with _friendly_errors():
        written = _ensure_local_env(project_dir)
        if written:
            console.print(f"Wrote {', '.join(written)} to .env.local")
        settings = _settings(project_dir)
        _check_ports(
            [
                (*settings.backend_host_port, "INSFORGE_BASE_URL"),
                (*settings.app_host_port, "BETTER_AUTH_URL"),
            ]
        )
        use_embedded = settings.database_url is None if embedded is None else embedded
        with _database(settings, use_embedded) as database_url:
            settings = dataclasses.replace(settings, database_url=database_url)
            _run_setup(settings)
            _run_demo(settings)


@contextmanager
def _database(settings: Settings, embedded: bool) -> Iterator[str]:
    if not embedded:
        yield settings.require_database_url()
        return
    from rowgate.db.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(settings.project_dir / ".rowgate")
    console.print("Starting the embedded Postgres in .rowgate/ …")
    url = server.start()
    try:
        yield url
    finally:
        server.stop()
        console.print("Stopped the embedded Postgres.")


def _run_demo(settings: Settings) -> None:
    from rowgate.backend.app import create_backend
    from rowgate.demo.app import create_app

    app_host, app_port = settings.app_host_port
    backend_host, backend_port = settings.backend_host_port
    servers = [
        (create_backend(settings), backend_host, backend_port),
        (create_app(settings, development=True), app_host, app_port),
    ]

    def ready() -> None:
        console.print(f"\n  App      {settings.better_auth_url}")
        console.print(f"  Backend  {settings.insforge_base_url}")
        console.print(f"  Studio   {settings.insforge_base_url}/studio\n")

    serving.serve(servers, access_log=_state["debug"], on_ready=ready)


def main() -> None:
    """Console entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
