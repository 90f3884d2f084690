"""Migration files: naming rules, discovery, checksums and header directives.

A migration is ``<version>_<name>.sql`` where the version is 1-64 digits compared
numerically (``0001`` is ``1``) and the name is ``[a-z0-9-]+``. Two directives may
appear in the leading comment block of a file:

``-- rowgate: no-transaction``
    run outside a transaction (for ``CREATE INDEX CONCURRENTLY``); such a file is
    not all-or-nothing. A file without it runs in one transaction and must not
    begin or end one itself (``transaction_control`` finds such statements).
``-- rowgate: as-owner``
    run as the connecting role instead of ``project_admin`` (the bootstrap needs this
    to create roles).

Everything here is pure apart from reading the directory.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from rowgate.errors import RowgateError

FILENAME = re.compile(r"^(\d{1,64})_([a-z0-9-]+)\.sql$")
NAME = re.compile(r"^[a-z0-9-]+$")
_DIRECTIVE = re.compile(r"^--\s*rowgate:\s*([a-z-]+)\s*$")
BOOTSTRAP_FILENAME = "0001_better-auth-bootstrap.sql"


class MigrationFileError(RowgateError):
    """A migration file is misnamed, duplicated, empty or cannot be found."""


@dataclass(frozen=True)
class MigrationFile:
    """One migration as found on disk (or shipped in the package)."""

    version: int
    filename: str
    name: str
    sql: str

    @property
    def canonical_version(self) -> str:
        """The version without leading zeros, as it is tracked in the database."""
        return str(self.version)

    @property
    def checksum(self) -> str:
        return checksum(self.sql)

    @property
    def directives(self) -> frozenset[str]:
        found: set[str] = set()
        for line in self.sql.splitlines():
            stripped = line.strip()
            if not stripped:
                continue
            if not stripped.startswith("--"):
                break
            match = _DIRECTIVE.match(stripped)
            if match:
                found.add(match.group(1))
        return frozenset(found)

    @property
    def transactional(self) -> bool:
        return "no-transaction" not in self.directives

    @property
    def as_owner(self) -> bool:
        return "as-owner" in self.directives


def checksum(sql_text: str) -> str:
    """SHA-256 of the file's text with line endings normalised."""
    normalised = sql_text.replace("\r\n", "\n")
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def parse_filename(filename: str) -> tuple[int, str]:
    match = FILENAME.match(filename)
    if match is None:
        raise MigrationFileError(
            f"Invalid migration filename: {filename}. Expected "
            "<version>_<name>.sql with a 1-64 digit version and a name of "
            "lowercase letters, digits and hyphens."
        )
    return int(match.group(1)), match.group(2)


def load(path: Path) -> MigrationFile:
    version, name = parse_filename(path.name)
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise MigrationFileError(
            f"Migration file is empty: {path.name}; write its SQL, or delete it"
        )
    return MigrationFile(version=version, filename=path.name, name=name, sql=text)


def discover(directory: Path) -> list[MigrationFile]:
    """Every ``*.sql`` file in ``directory``, validated and sorted by version."""
    if not directory.is_dir():
        return []
    files = [load(path) for path in sorted(directory.glob("*.sql"))]
    others = [
        p.name
        for p in directory.iterdir()
        if p.is_file() and p.suffix != ".sql" and not p.name.startswith(".")
    ]
    if others:
        raise MigrationFileError(
            f"Invalid migration filename: {others[0]}. Only <version>_<name>.sql "
            "files belong in migrations/."
        )
    return sort_and_check(files)


def sort_and_check(files: list[MigrationFile]) -> list[MigrationFile]:
    ordered = sorted(files, key=lambda f: f.version)
    for before, after in itertools.pairwise(ordered):
        if before.version == after.version:
            raise MigrationFileError(
                f"Duplicate migration version {after.version}: "
                f"{before.filename} and {after.filename}"
            )
    return ordered


def bootstrap() -> MigrationFile:
    """The built-in bootstrap migration 0001 shipped with rowgate."""
    text = resources.files("rowgate.migrations") / "bootstrap" / BOOTSTRAP_FILENAME
    version, name = parse_filename(BOOTSTRAP_FILENAME)
    return MigrationFile(
        version=version, filename=BOOTSTRAP_FILENAME, name=name, sql=text.read_text()
    )


def resolve_target(files: list[MigrationFile], target: str) -> int:
    """A ``--to`` argument (a version such as ``0001`` or a filename) as a version."""
    if target.isdigit() and len(target) <= 64:
        return int(target)
    for migration in files:
        if migration.filename == target:
            return migration.version
    raise MigrationFileError(
        f"No migration matches {target!r}: give a version such as 0001 or an "
        "existing filename"
    )


def next_filename(files: list[MigrationFile], name: str, applied_head: int) -> str:
    """The filename ``new <name>`` creates: one past every known version."""
    if not NAME.match(name):
        raise MigrationFileError(
            "migration name must use lowercase letters, numbers, and hyphens only"
        )
    head = max([applied_head, *(f.version for f in files)], default=0)
    return f"{head + 1:04d}_{name}.sql"


_DOLLAR_TAG = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*\$|\$\$")


def split_statements(text: str) -> list[str]:
    """Split SQL text at top-level semicolons.

    Quotes, quoted identifiers, dollar-quoted bodies and comments are skipped over,
    so a semicolon inside any of them does not end a statement. Empty statements
    (only whitespace and comments) are dropped.
    """
    statements: list[str] = []
    start = i = 0
    has_code = False
    while i < len(text):
        char = text[i]
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end + 1
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = len(text) if end < 0 else end + 2
            continue
        if char in "'\"":
            end = i + 1
            while end < len(text):
                if text[end] == char and text[end + 1 : end + 2] == char:
                    end += 2
                    continue
                if text[end] == char:
                    break
                end += 1
            i, has_code = end + 1, True
            continue
        tag = _DOLLAR_TAG.match(text, i) if char == "$" else None
        if tag is not None:
            end = text.find(tag.group(0), tag.end())
            i = len(text) if end < 0 else end + len(tag.group(0))
            has_code = True
            continue
        if char == ";":
            if has_code:
                statements.append(text[start:i].strip())
            start, has_code = i + 1, False
        elif not char.isspace():
            has_code = True
        i += 1
    if has_code:
        statements.append(text[start:].strip())
    return statements


# Statements that end or open a transaction. Inside a file that runs in one
# transaction, a COMMIT makes everything before it permanent even if a later
# statement fails, which breaks all-or-nothing.
_TRANSACTION_CONTROL = re.compile(
    r"(BEGIN|COMMIT|END|ABORT|START\s+TRANSACTION|PREPARE\s+TRANSACTION"
    r"|ROLLBACK(?!\s+(TO|PREPARED)\b))\b",
    re.IGNORECASE,
)
_BEGIN_ATOMIC = re.compile(r"\bBEGIN\s+ATOMIC\b", re.IGNORECASE)
_LEADING_COMMENTS = re.compile(r"(\s+|--[^\n]*(\n|$)|/\*.*?\*/)*", re.DOTALL)


def transaction_control(text: str) -> str | None:
    """The first top-level statement of ``text`` that begins or ends a
    transaction, or None.

    ``split_statements`` cuts the body of a ``BEGIN ATOMIC … END`` function at its
    inner semicolons; the pieces up to the closing ``END`` are skipped here.
    """
    in_atomic_body = False
    for statement in split_statements(text):
        head = _without_leading_comments(statement)
        if in_atomic_body:
            in_atomic_body = not re.fullmatch(r"END", head, re.IGNORECASE)
            continue
        if _BEGIN_ATOMIC.search(head):
            in_atomic_body = not re.search(r"\bEND$", head, re.IGNORECASE)
            continue
        if _TRANSACTION_CONTROL.match(head):
            return head
    return None


def _without_leading_comments(statement: str) -> str:
    match = _LEADING_COMMENTS.match(statement)
    return statement[match.end() :] if match else statement
