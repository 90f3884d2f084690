"""Ids and tokens: Better Auth's length and alphabet, from the OS CSPRNG."""

from __future__ import annotations

import re

from rowgate.auth import tokens


def test_ids_are_32_alphanumerics_and_distinct() -> None:
    made = {tokens.generate_id() for _ in range(500)}
    assert len(made) == 500
    assert all(re.fullmatch(r"[A-Za-z0-9]{32}", value) for value in made)


def test_every_character_of_the_alphabet_occurs() -> None:
    seen = set("".join(tokens.generate_session_token() for _ in range(200)))
    assert seen == set(tokens.ALPHANUMERIC)


def test_reset_tokens_are_24_characters() -> None:
    assert re.fullmatch(r"[A-Za-z0-9]{24}", tokens.generate_reset_token())
