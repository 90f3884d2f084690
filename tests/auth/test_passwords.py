"""Password hashes: Better Auth's scrypt recipe, checked independently."""

from __future__ import annotations

import re

from rowgate.auth import passwords
from tests.auth.support import recipe

# Produced by better-auth 1.7.29's own hashPassword (better-auth/crypto).
BETTER_AUTH_HASH = (
    "49567842b1803783d4ba9fb0658bf150:b150f7a105201707b61b69e8596276fd0fbfff2e"
    "547a50f0e657263efda718cf97dfd38f20912b75b9a8531563216e9350a09c3b5ee6b0621"
    "2d913f495a3e3a9"
)
BETTER_AUTH_PASSWORD = "correct horse battery staple"
BETTER_AUTH_NFKC_HASH = (
    "62d206b4b9284796a3e65bbdbdcd5de0:bb376db8bade6b8a847a76d21da928fbacff6283"
    "ba059f009c9807afc96d997be4fc7ac2c0e64ba9d89daf4cb5c3b7d09c8a603c48ab39344"
    "871f4c670a65dcd"
)


def test_better_auth_hash_verifies() -> None:
    assert passwords.verify_password_blocking(BETTER_AUTH_HASH, BETTER_AUTH_PASSWORD)
    assert not passwords.verify_password_blocking(BETTER_AUTH_HASH, "wrong password")


def test_nfkc_equivalent_password_verifies() -> None:
    # The hash was made from "\ufb01nal-password-\u00fc"; NFKC folds the ligature.
    assert passwords.verify_password_blocking(BETTER_AUTH_NFKC_HASH, "final-password-ü")


def test_new_hash_follows_recipe_with_hex_text_salt() -> None:
    stored = passwords.hash_password_blocking("p\u00e4ssword-\u2460")
    salt_hex, key_hex = stored.split(":")
    assert re.fullmatch(r"[0-9a-f]{32}", salt_hex)
    assert key_hex == recipe("p\u00e4ssword-\u2460", salt_hex)


def test_malformed_hash_never_matches() -> None:
    assert not passwords.verify_password_blocking("no-colon-here", "whatever")
    assert not passwords.verify_password_blocking("abcd:not-hex", "whatever")


def test_length_counts_utf16_code_units() -> None:
    assert passwords.password_length("\U0001f600" * 4) == 8
    assert passwords.password_length("abcdefg") == 7
    assert passwords.password_length("\u00e9") == 1


async def test_async_hash_round_trips() -> None:
    stored = await passwords.hash_password("async password")
    assert await passwords.verify_password(stored, "async password")
    assert not await passwords.verify_password(stored, "other password")
