"""``rowgate link``: check the backend's project, then scaffold a working app.

The steps, each reported: fetch the project's metadata, anon key, JWT secret and
database connection from the backend's admin API; write the scaffold files; merge
the env files; add the dependency and the run command; then (outside ``--json``)
install what is missing and run ``setup``.

Re-running is safe. ``.rowgate/scaffold.json`` remembers the checksum of every file
as written: an untouched file is refreshed in place, a file the user changed (or had
before the first link) is kept and the new version is written beside it as
``<name>.new``. ``.env.local`` keeps every value the user set and only refreshes
placeholders. This module imports nothing of the app at run time: it writes files.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from rowgate.config import parse_env_file
from rowgate.errors import RowgateError

AUTH_PROVIDERS = ("better-auth",)
MANIFEST = Path(".rowgate") / "scaffold.json"
# Digests of the backend-derived values link last wrote to .env.local: a value
# still equal to one is link's to refresh (a rotated anon key); any other is the
# user's. BETTER_AUTH_SECRET is never refreshed: a new one signs everybody out.
ENV_MANIFEST = Path(".rowgate") / "env.json"
BACKEND_KEYS = (
    "DATABASE_URL",
    "INSFORGE_BASE_URL",
    "INSFORGE_ANON_KEY",
    "INSFORGE_JWT_SECRET",
    "ROWGATE_PROJECT_ID",
)
ENV_MARKER = "# --- rowgate: Better Auth + data API bridge ---"
DEPENDENCY = "rowgate"

# The placeholders .env.example carries; a .env.local value still equal to one of
# these is stale and gets the backend's real value.
ENV_DEFAULTS: dict[str, str] = {
    "DATABASE_URL": "postgresql://postgres:postgres@127.0.0.1:5432/postgres",
    "BETTER_AUTH_SECRET": "replace-with-64-random-hex-characters",
    "BETTER_AUTH_URL": "http://127.0.0.1:3000",
    "INSFORGE_BASE_URL": "http://127.0.0.1:7130",
    "INSFORGE_ANON_KEY": "replace-with-the-backend-anon-key",
    "INSFORGE_JWT_SECRET": "replace-with-the-backend-JWT_SECRET",
}
_MASKED_PASSWORD = re.compile(r":\*+@")


class LinkError(RowgateError):
    """The project cannot be linked: bad options, or the backend refused."""


@dataclass(frozen=True)
class Backend:
    """What the linked backend told us."""

    base_url: str
    project_id: str
    project_name: str
    anon_key: str
    jwt_secret: str
    database_url: str | None


@dataclass
class LinkReport:
    created: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    env_written: list[str] = field(default_factory=list)
    env_refreshed: list[str] = field(default_factory=list)
    env_kept: list[str] = field(default_factory=list)
    dependency_added: bool = False
    app: str = "app:app"
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "replaced": self.replaced,
            "unchanged": self.unchanged,
            "kept": self.kept,
            "env": {
                "written": self.env_written,
                "refreshed": self.env_refreshed,
                "kept": self.env_kept,
            },
            "dependencyAdded": self.dependency_added,
            "app": self.app,
            "warnings": self.warnings,
        }


def check_provider(auth: str) -> None:
    if auth not in AUTH_PROVIDERS:
        raise LinkError(f'invalid --auth "{auth}"; valid: {", ".join(AUTH_PROVIDERS)}')


def fetch_backend(
    base_url: str,
    api_key: str,
    project_id: str,
    *,
    transport: httpx.BaseTransport | None = None,
) -> Backend:
    """Ask the backend's admin API for the project and the values an app needs."""
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(
        base_url=base_url.rstrip("/"), headers=headers, timeout=30, transport=transport
    ) as client:
        meta = _get(client, "/api/metadata")
        if meta.get("projectId") != project_id:
            raise LinkError(
                f"no access to project {project_id} at {base_url}: the admin key "
                f"belongs to project {meta.get('projectId')!r}"
            )
        anon = _get(client, "/api/metadata/anon-key").get("anonKey", "")
        secret = _get(client, "/api/secrets/JWT_SECRET").get("value", "")
        database = _database_url(client)
    return Backend(
        base_url=base_url.rstrip("/"),
        project_id=project_id,
        project_name=str(meta.get("projectName", project_id)),
        anon_key=str(anon),
        jwt_secret=str(secret),
        database_url=database,
    )


def _get(client: httpx.Client, path: str) -> dict[str, Any]:
    try:
        response = client.get(path)
    except httpx.HTTPError as exc:
        raise LinkError(
            f"cannot reach the backend at {client.base_url}: {exc}"
        ) from exc
    if response.status_code in (401, 403):
        raise LinkError(
            f"the backend at {client.base_url} refused the admin key; pass the "
            "project's key with --api-key (INSFORGE_API_KEY in its .env.local)"
        )
    if response.is_error:
        raise LinkError(
            f"{path} answered {response.status_code}: {response.text[:200]}"
        )
    body = response.json()
    return body if isinstance(body, dict) else {}


def _database_url(client: httpx.Client) -> str | None:
    """The database URL with the real password spliced in, or None when the backend
    does not share it."""
    try:
        conn = _get(client, "/api/metadata/database-connection-string")
        password = _get(client, "/api/metadata/database-password").get(
            "databasePassword", ""
        )
    except LinkError:
        return None
    url = str(conn.get("connectionURL", ""))
    if not url:
        return None
    params = conninfo_to_dict(url)
    params.pop("password", None)
    if password:
        params["password"] = str(password)
    return make_conninfo("", **params)


# -- files --------------------------------------------------------------------------


def scaffold_files(project_dir: Path) -> dict[str, str]:
    """Relative path → content of every file ``link`` writes."""
    templates = resources.files("rowgate.scaffold") / "templates"
    demo = resources.files("rowgate.demo")
    bootstrap = resources.files("rowgate.migrations") / "bootstrap"
    files = {
        "auth_server.py": (templates / "auth_server.py.tmpl").read_text(),
        "bridge.py": (templates / "bridge.py.tmpl").read_text(),
        "pages.py": (templates / "pages.py.tmpl").read_text(),
        "data_client.py": (templates / "data_client.py.tmpl").read_text(),
        "static/rowgate-data.js": (demo / "static" / "rowgate-data.js").read_text(),
        "migrations/0001_better-auth-bootstrap.sql": (
            bootstrap / "0001_better-auth-bootstrap.sql"
        ).read_text(),
        "migrations/0002_posts.sql": (
            demo / "migrations" / "0002_posts.sql"
        ).read_text(),
    }
    if existing_app(project_dir) is None:
        files["app.py"] = (templates / "app.py.tmpl").read_text()
    return files


_APP_ASSIGNMENT = re.compile(r"^(\w+)\s*(?::[^=]+)?=\s*(?:Starlette|FastAPI)\(", re.M)


def existing_app(project_dir: Path) -> str | None:
    """``module:variable`` of a Starlette or FastAPI app the project already has.

    An ``app.py`` that ``link`` itself wrote does not count: it is ours to refresh.
    """
    manifest = project_dir / MANIFEST
    ours = json.loads(manifest.read_text()) if manifest.is_file() else {}
    for candidate in ("app.py", "main.py", "asgi.py"):
        path = project_dir / candidate
        if not path.is_file() or candidate in ours:
            continue
        match = _APP_ASSIGNMENT.search(path.read_text(encoding="utf-8"))
        if match:
            return f"{path.stem}:{match.group(1)}"
    return None


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_files(project_dir: Path, files: dict[str, str], report: LinkReport) -> None:
    """Write ``files``, never overwriting a file the user changed."""
    manifest_path = project_dir / MANIFEST
    manifest: dict[str, str] = (
        json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    )
    for relative, content in files.items():
        path = project_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(content, encoding="utf-8")
            report.created.append(relative)
        else:
            current = digest(path.read_text(encoding="utf-8"))
            if current == digest(content):
                report.unchanged.append(relative)
            elif manifest.get(relative) == current:
                path.write_text(content, encoding="utf-8")
                report.replaced.append(relative)
            else:
                beside = path.with_name(path.name + ".new")
                beside.write_text(content, encoding="utf-8")
                report.kept.append(relative)
                continue
        manifest[relative] = digest(content)
    manifest_path.parent.mkdir(exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


# -- env files ----------------------------------------------------------------------


def filled_env(backend: Backend) -> dict[str, str]:
    """The values ``.env.local`` should hold for ``backend``."""
    return {
        "DATABASE_URL": backend.database_url or ENV_DEFAULTS["DATABASE_URL"],
        "BETTER_AUTH_SECRET": secrets.token_hex(32),
        "BETTER_AUTH_URL": ENV_DEFAULTS["BETTER_AUTH_URL"],
        "INSFORGE_BASE_URL": backend.base_url,
        "INSFORGE_ANON_KEY": backend.anon_key or ENV_DEFAULTS["INSFORGE_ANON_KEY"],
        "INSFORGE_JWT_SECRET": backend.jwt_secret
        or ENV_DEFAULTS["INSFORGE_JWT_SECRET"],
        "ROWGATE_PROJECT_ID": backend.project_id,
    }


def merge_env_example(project_dir: Path, report: LinkReport) -> None:
    path = project_dir / ".env.example"
    existed = path.exists()
    existing = path.read_text(encoding="utf-8") if existed else ""
    if ENV_MARKER in existing:
        return
    defined = parse_env_file(existing)
    lines = [f"{k}={v}" for k, v in ENV_DEFAULTS.items() if k not in defined]
    block = "\n".join([ENV_MARKER, *lines]) + "\n"
    separator = "" if not existing else ("\n" if existing.endswith("\n") else "\n\n")
    path.write_text(existing + separator + block, encoding="utf-8")
    (report.replaced if existed else report.created).append(".env.example")


def merge_env_local(
    project_dir: Path, values: dict[str, str], report: LinkReport
) -> None:
    """Write missing keys, refresh stale placeholders, keep the user's values."""
    path = project_dir / ".env.local"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    current = parse_env_file(text)
    written_path = project_dir / ENV_MANIFEST
    written: dict[str, str] = (
        json.loads(written_path.read_text()) if written_path.is_file() else {}
    )
    lines = text.splitlines()
    for index, line in enumerate(lines):
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or key not in values or key.startswith("#"):
            continue
        value = value.strip()
        ours = key in BACKEND_KEYS and written.get(key) == digest(value)
        if (ours or _is_stale(key, value)) and values[key] != value:
            lines[index] = f"{key}={values[key]}"
            report.env_refreshed.append(key)
        else:
            report.env_kept.append(key)
    missing = [k for k in values if k not in current]
    if missing:
        if lines and lines[-1].strip():
            lines.append("")
        lines.extend(f"{k}={values[k]}" for k in missing)
        report.env_written.extend(missing)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)
    final = parse_env_file(path.read_text(encoding="utf-8"))
    for key in BACKEND_KEYS:
        if key in values and final.get(key) == values[key]:
            written[key] = digest(values[key])
    written_path.parent.mkdir(exist_ok=True)
    written_path.write_text(json.dumps(written, indent=2, sort_keys=True) + "\n")


def ignore_env_local(project_dir: Path) -> bool:
    """Make sure git never picks up the secrets; True when .gitignore changed."""
    path = project_dir / ".gitignore"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if any(line.strip() in (".env.local", "/.env.local") for line in text.splitlines()):
        return False
    separator = "" if not text or text.endswith("\n") else "\n"
    path.write_text(text + separator + ".env.local\n", encoding="utf-8")
    return True


def _is_stale(key: str, value: str) -> bool:
    return value == ENV_DEFAULTS.get(key) or bool(_MASKED_PASSWORD.search(value))


# -- dependency and run command -----------------------------------------------------


def add_dependency(project_dir: Path, app: str) -> bool:
    """Add ``rowgate`` to the project's requirements; True when something changed.

    ``requirements.txt`` gets a line; a ``pyproject.toml`` gets an entry in
    ``[project].dependencies`` and ``[tool.rowgate] app``; with neither, a minimal
    ``pyproject.toml`` is created. Existing text is only ever added to.
    """
    requirements = project_dir / "requirements.txt"
    pyproject = project_dir / "pyproject.toml"
    if requirements.is_file():
        return _add_requirement(requirements)
    if not pyproject.is_file():
        name = re.sub(r"[^a-z0-9-]+", "-", project_dir.resolve().name.lower()) or "app"
        pyproject.write_text(
            f'[project]\nname = "{name.strip("-") or "app"}"\nversion = "0.1.0"\n'
            f'requires-python = ">=3.11"\ndependencies = ["{DEPENDENCY}"]\n\n'
            f'[tool.rowgate]\napp = "{app}"\n',
            encoding="utf-8",
        )
        return True
    return _add_to_pyproject(pyproject, app)


def _requirement_name(line: str) -> str:
    return re.split(r"[<>=!~\[; ]", line.strip())[0].lower()


def _add_requirement(path: Path) -> bool:
    text = path.read_text(encoding="utf-8")
    if any(_requirement_name(line) == DEPENDENCY for line in text.splitlines()):
        return False
    separator = "" if not text or text.endswith("\n") else "\n"
    path.write_text(text + separator + DEPENDENCY + "\n", encoding="utf-8")
    return True


def _add_to_pyproject(path: Path, app: str) -> bool:
    text = path.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    changed = False
    deps = data.get("project", {}).get("dependencies")
    if deps is not None and not any(_requirement_name(d) == DEPENDENCY for d in deps):
        start = re.compile(r"(^dependencies\s*=\s*\[)", re.MULTILINE)
        text, count = start.subn(rf'\1"{DEPENDENCY}", ', text, count=1)
        changed = count == 1
    if "rowgate" not in data.get("tool", {}):
        separator = "" if text.endswith("\n") else "\n"
        text += f'{separator}\n[tool.rowgate]\napp = "{app}"\n'
        changed = True
    if changed:
        path.write_text(text, encoding="utf-8")
    return changed


# -- the whole command --------------------------------------------------------------

Say = Callable[[str], None]


def link(
    project_dir: Path,
    backend: Backend,
    *,
    say: Say | None = None,
) -> LinkReport:
    """Write the scaffold and env files for ``backend`` into ``project_dir``."""
    report = LinkReport()
    (say or (lambda _m: None))(f"Linked to project {backend.project_name}")
    write_files(project_dir, scaffold_files(project_dir), report)
    merge_env_example(project_dir, report)
    merge_env_local(project_dir, filled_env(backend), report)
    had_ignore_file = (project_dir / ".gitignore").exists()
    if ignore_env_local(project_dir):
        (report.replaced if had_ignore_file else report.created).append(".gitignore")
    app = existing_app(project_dir)
    report.app = app or "app:app"
    requirements = project_dir / "requirements.txt"
    manifest = (
        requirements if requirements.is_file() else project_dir / "pyproject.toml"
    )
    had_manifest = manifest.is_file()
    report.dependency_added = add_dependency(project_dir, report.app)
    if report.dependency_added:
        (report.replaced if had_manifest else report.created).append(manifest.name)
    if app is not None:
        report.warnings.append(
            f"kept your app {app}: mount auth_server.auth at /api/auth, add "
            "bridge.route and *pages.routes to its routes, and use "
            "auth_server.lifespan"
        )
    if not backend.jwt_secret:
        report.warnings.append(
            "could not read JWT_SECRET from the backend; paste it into "
            "INSFORGE_JWT_SECRET in .env.local"
        )
    if backend.database_url is None:
        report.warnings.append(
            "the backend did not share its database URL; set DATABASE_URL in .env.local"
        )
    return report
