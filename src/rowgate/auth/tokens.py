"""Random identifiers and tokens in Better Auth's alphabets.

Row ids and session tokens are 32 characters of ``[A-Za-z0-9]``; reset tokens
24. ``secrets.choice`` draws each character uniformly from the OS's CSPRNG
(it rejects out-of-range draws itself), so no character is likelier than
another.
"""

from __future__ import annotations

import secrets
import string

ALPHANUMERIC = string.ascii_letters + string.digits

ID_LENGTH = 32
RESET_TOKEN_LENGTH = 24
DELETE_ACCOUNT_TOKEN_LENGTH = 32


def random_string(length: int, alphabet: str = ALPHANUMERIC) -> str:
    """``length`` characters drawn uniformly and independently from ``alphabet``."""
    return "".join(secrets.choice(alphabet) for _ in range(length))


def generate_id() -> str:
    """A row id for user, session, account or verification."""
    return random_string(ID_LENGTH)


def generate_session_token() -> str:
    """A session token (the value the session cookie signs)."""
    return random_string(ID_LENGTH)


def generate_delete_account_token() -> str:
    """A delete-account token: 32 digits and lower-case letters, as Better Auth's."""
    return random_string(
        DELETE_ACCOUNT_TOKEN_LENGTH, string.digits + string.ascii_lowercase
    )


def generate_reset_token() -> str:
    """A password-reset token."""
    return random_string(RESET_TOKEN_LENGTH)
