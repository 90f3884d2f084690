"""Editing dotenv files without losing what the user wrote.

Keys are only ever appended: an existing line, comment or value is kept byte for
byte, so a file the user tuned by hand survives every command that touches it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from rowgate.config import parse_env_file


def add_missing(
    path: Path, values: Mapping[str, str], *, header: str = ""
) -> list[str]:
    """Append each key of ``values`` that ``path`` does not define yet.

    Returns the keys written. The file is created with mode 0600 when absent, since
    it holds secrets.
    """
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    defined = parse_env_file(existing)
    missing = {k: v for k, v in values.items() if k not in defined}
    if not missing:
        return []
    lines = [f"{key}={value}" for key, value in missing.items()]
    block = "\n".join(([f"# {header}"] if header else []) + lines) + "\n"
    prefix = (
        ""
        if not existing or existing.endswith("\n\n")
        else ("\n" if existing.endswith("\n") else "\n\n")
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(prefix + block)
    return list(missing)
