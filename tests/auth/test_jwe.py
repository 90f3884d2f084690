"""Better Auth's encrypted cookie format: round trips, refusals, rotation.

Byte compatibility with Better Auth itself is proven in ``test_interop`` (each
server reads the other's ``jwe`` cookie cache); these pin the edges."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from rowgate.auth import jwe
from tests.auth.support import SECRET

OLD_SECRET = "an-older-secret-still-accepted-while-rotating-0123"
SALT = "better-auth-session"
NOW = 1_800_000_000
PAYLOAD = {"session": {"token": "t"}, "user": {"name": "Zoë \ud800"}, "version": "1"}


def test_a_round_trip_keeps_the_payload_and_adds_the_claims() -> None:
    token = jwe.encrypt(PAYLOAD, SECRET, SALT, 300, now_s=NOW)
    claims = jwe.decrypt(token, [SECRET], SALT, now_s=NOW)

    assert claims is not None
    assert {k: claims[k] for k in PAYLOAD} == PAYLOAD
    assert (claims["iat"], claims["exp"]) == (NOW, NOW + 300)
    assert len(claims["jti"]) == 36
    header = json.loads(jwe._unb64(token.split(".")[0]))
    assert header == {
        "alg": "dir",
        "enc": "A256CBC-HS512",
        "kid": jwe.thumbprint(jwe.derive_key(SECRET, SALT)),
    }
    assert token.split(".")[1] == ""  # dir: no encrypted key


def test_each_token_is_encrypted_afresh() -> None:
    first = jwe.encrypt(PAYLOAD, SECRET, SALT, 300, now_s=NOW)
    second = jwe.encrypt(PAYLOAD, SECRET, SALT, 300, now_s=NOW)

    assert first.split(".")[2:] != second.split(".")[2:]


def test_the_key_is_hkdf_sha256_of_the_secret() -> None:
    # An independent HKDF (RFC 5869) as the reference.
    reference = HKDF(
        algorithm=hashes.SHA256(), length=64, salt=SALT.encode(), info=jwe.INFO
    ).derive(SECRET.encode())

    assert jwe.derive_key(SECRET, SALT) == reference
    assert jwe.derive_key(SECRET, "better-auth-account") != reference


def test_expiry_allows_fifteen_seconds_of_skew() -> None:
    token = jwe.encrypt(PAYLOAD, SECRET, SALT, 60, now_s=NOW)

    assert jwe.decrypt(token, [SECRET], SALT, now_s=NOW + 60 + 15) is not None
    assert jwe.decrypt(token, [SECRET], SALT, now_s=NOW + 60 + 16) is None


def test_a_rotated_secret_still_opens_its_tokens() -> None:
    token = jwe.encrypt(PAYLOAD, OLD_SECRET, SALT, 300, now_s=NOW)

    assert jwe.decrypt(token, [SECRET, OLD_SECRET], SALT, now_s=NOW) is not None
    assert jwe.decrypt(token, [SECRET], SALT, now_s=NOW) is None


def _flip(segment: str) -> str:
    raw = bytearray(jwe._unb64(segment))
    raw[0] ^= 1
    return jwe._b64(bytes(raw))


@pytest.mark.parametrize("part", [0, 2, 3, 4])
def test_any_altered_part_is_refused(part: int) -> None:
    parts = jwe.encrypt(PAYLOAD, SECRET, SALT, 300, now_s=NOW).split(".")
    parts[part] = _flip(parts[part])

    assert jwe.decrypt(".".join(parts), [SECRET], SALT, now_s=NOW) is None


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b.c",
        "a..b.c.d",
        "x.y.z.w.v",
        "e30..AAAA.AAAA.AAAA",
        "....",
        # A header nested deeper than json can read.
        jwe._b64(b"[" * 5000) + "..AAAA.AAAA.AAAA",
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    assert jwe.decrypt(token, [SECRET], SALT, now_s=NOW) is None
