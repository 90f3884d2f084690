"""Editing dotenv files without losing what the user wrote.

Keys are appended, never reordered: every other line, comment or value is kept
byte for byte, so a file the user tuned by hand survives every command that touches
it. The one exception is ``set_value``, for a command whose job is to change a
value (key rotation), which rewrites that key's line and nothing else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from rowgate.config import ENV_LINE, parse_env_file


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


def set_value(path: Path, key: str, value: str) -> None:
    """Give ``key`` the value ``value`` in ``path``, in place when it is defined.

    Every line defining ``key`` is rewritten (the last one wins when parsed, so all
    must agree); the file is replaced atomically so a crash leaves old or new.
    """
    if not path.exists() or key not in parse_env_file(path.read_text("utf-8")):
        add_missing(path, {key: value})
        return
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for index, line in enumerate(lines):
        body = line.rstrip("\r\n")
        match = ENV_LINE.match(body)
        if match is not None and match.group(1) == key:
            # Keep what precedes the value (indent, ``export``) and the line end.
            lines[index] = body[: match.start(2)] + value + line[len(body) :]
    scratch = path.with_name(path.name + ".rowgate-tmp")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("".join(lines))
    os.replace(scratch, path)
