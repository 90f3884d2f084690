"""Password hashing exactly as Better Auth stores it in ``account.password``.

A hash is ``"<salt>:<key>"`` in lower-case hex: the salt is 16 random bytes
written as 32 hex characters, and it is that hex *text* (not the bytes) that
scrypt takes as its salt; the key is scrypt(NFKC(password), N=16384, r=16, p=1,
64 bytes). Hashing costs tens of milliseconds of CPU and 32 MiB of memory, so
it runs in worker threads (hashlib releases the GIL) under a limiter that caps
how many run at once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import unicodedata

import anyio
import anyio.to_thread

logger = logging.getLogger("rowgate.auth")

SCRYPT_N = 16384
SCRYPT_R = 16
SCRYPT_P = 1
KEY_LENGTH = 64
SALT_BYTES = 16
# 128 * r * N bytes of work memory, with headroom for OpenSSL's own checks.
_MAXMEM = 2 * 128 * SCRYPT_R * SCRYPT_N

# Each hash holds 32 MiB and a core for ~100 ms. Leave one core to the event
# loop so sessions keep answering while a burst of sign-ins hashes (the sign-in
# benchmark measures this); the bound also caps the memory such a burst takes.
_limiter = anyio.CapacityLimiter(max(1, (os.cpu_count() or 2) - 1))


def password_length(password: str) -> int:
    """The length Better Auth measures: JavaScript's ``string.length``, i.e.
    UTF-16 code units of the password as sent (before NFKC)."""
    return len(password.encode("utf-16-le")) // 2


def derive_key(password: str, salt_hex: str) -> bytes:
    """The raw scrypt key for ``password`` under the hex-text salt."""
    return hashlib.scrypt(
        unicodedata.normalize("NFKC", password).encode("utf-8"),
        salt=salt_hex.encode("ascii"),
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        dklen=KEY_LENGTH,
        maxmem=_MAXMEM,
    )


def hash_password_blocking(password: str) -> str:
    """A new ``salt:key`` hash; blocks for the length of one scrypt run."""
    salt_hex = secrets.token_hex(SALT_BYTES)
    return f"{salt_hex}:{derive_key(password, salt_hex).hex()}"


def verify_password_blocking(stored: str, password: str) -> bool:
    """Whether ``password`` matches the ``salt:key`` hash ``stored``.

    A stored value that is not a ``salt:key`` pair never matches (Better Auth
    answers 500 there; refusing the password is the safer reading).
    """
    salt_hex, sep, key_hex = stored.partition(":")
    if not sep or not salt_hex or not key_hex:
        logger.warning("stored password hash is not in salt:key form")
        return False
    try:
        expected = bytes.fromhex(key_hex)
    except ValueError:
        logger.warning("stored password hash has a key that is not hex")
        return False
    return hmac.compare_digest(derive_key(password, salt_hex), expected)


async def hash_password(password: str) -> str:
    """``hash_password_blocking`` in a worker thread."""
    return await anyio.to_thread.run_sync(
        hash_password_blocking, password, limiter=_limiter
    )


async def verify_password(stored: str, password: str) -> bool:
    """``verify_password_blocking`` in a worker thread."""
    return await anyio.to_thread.run_sync(
        verify_password_blocking, stored, password, limiter=_limiter
    )
