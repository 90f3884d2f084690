"""Request-body checks that fail with Better Auth's ``VALIDATION_ERROR`` text.

Better Auth validates bodies with zod and reports every issue as
``[body.<field>] <zod message>``, joined with ``"; "``; the JS client and
forms show those strings, so the checks here reproduce them for the few field
kinds the endpoints use. Emails are checked with zod's email pattern (ASCII
local part, dotted domain ending in two or more letters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

from rowgate.auth.errors import APIError

# zod's email pattern, as a fact of its behaviour: dot-separated local atoms of
# letters, digits and _'+-, the last character not a quote; domain labels not
# starting with "-"; a top-level label of two or more letters.
EMAIL_PATTERN = re.compile(
    r"(?:[A-Za-z0-9_'+\-]+\.)*[A-Za-z0-9_'+\-]*[A-Za-z0-9_+\-]"
    r"@(?:[A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}",
    re.ASCII,
)


class _Missing:
    """The absent value: a body the request did not send, a key not there."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Kind(Enum):
    STRING = "string"
    NONEMPTY = "nonempty string"
    EMAIL = "email"
    BOOLEAN = "boolean"


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    required: bool = True


def js_type(value: Any) -> str:
    """The type name zod reports for a parsed JSON value."""
    if value is MISSING:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def is_email(value: str) -> bool:
    return EMAIL_PATTERN.fullmatch(value) is not None


def _issue(field: Field, value: Any) -> str | None:
    expected = "boolean" if field.kind is Kind.BOOLEAN else "string"
    if value is MISSING and not field.required:
        return None
    if js_type(value) != expected:
        return f"Invalid input: expected {expected}, received {js_type(value)}"
    if field.kind is Kind.EMAIL and not is_email(value):
        return "Invalid email address"
    if field.kind is Kind.NONEMPTY and value == "":
        return "Too small: expected string to have >=1 characters"
    return None


def validate_body(
    body: Any,
    fields: tuple[Field, ...],
    *,
    open_record: bool = False,
    location: str = "body",
) -> dict[str, Any]:
    """``body`` as a dict when every field passes; ``APIError`` otherwise.

    ``body`` is ``MISSING`` when the request had none. ``open_record`` marks schemas
    that also accept unknown keys (zod's ``.and(z.record(...))``), which report
    a second root issue for a non-object body. ``location`` names the part of
    the request in the messages (``query`` for query strings).
    """
    if not isinstance(body, dict):
        received = js_type(body)
        issues = [f"[{location}] Invalid input: expected object, received {received}"]
        if open_record:
            issues.append(
                f"[{location}] Invalid input: expected record, received {received}"
            )
        raise _validation_error(issues)
    issues = []
    for field in fields:
        problem = _issue(field, body.get(field.name, MISSING))
        if problem is not None:
            issues.append(f"[{location}.{field.name}] {problem}")
    if issues:
        raise _validation_error(issues)
    return body


def _validation_error(issues: list[str]) -> APIError:
    return APIError("VALIDATION_ERROR", message="; ".join(issues))
