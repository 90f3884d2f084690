"""Better Auth's encrypted cookies: a compact JWE, ``dir`` + ``A256CBC-HS512``.

Better Auth's ``symmetricEncodeJWT``, so that either server reads the other's:

* the 64-byte key is HKDF-SHA256 of the secret, salted with the cookie's purpose
  (``better-auth-session`` for the cookie cache), with the info string
  ``BetterAuth.js Generated Encryption Key``;
* the protected header is ``{"alg":"dir","enc":"A256CBC-HS512","kid":...}``,
  ``kid`` being the key's RFC 7638 thumbprint, which picks the secret on reading
  when secrets rotate;
* the claims are the payload plus ``iat``, ``exp`` and a random ``jti``;
* RFC 7518 §5.2: AES-256-CBC under the key's second half, then an HMAC-SHA512
  tag, cut to 32 bytes, over the header, IV, ciphertext and header length,
  under its first half.

Reading allows 15 s of clock skew on ``exp``, as Better Auth's reader does, and
answers None for anything that does not decrypt and verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import uuid
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

ALG = "dir"
ENC = "A256CBC-HS512"
INFO = b"BetterAuth.js Generated Encryption Key"
KEY_BYTES = 64
IV_BYTES = 16
TAG_BYTES = 32
CLOCK_TOLERANCE_S = 15


def encrypt(
    payload: dict[str, Any], secret: str, salt: str, seconds: int, *, now_s: int
) -> str:
    """A JWE of ``payload`` valid for ``seconds`` from ``now_s``."""
    key = derive_key(secret, salt)
    header = _b64(_json({"alg": ALG, "enc": ENC, "kid": thumbprint(key)}))
    claims = {**payload, "iat": now_s, "exp": now_s + seconds, "jti": str(uuid.uuid4())}
    iv = os.urandom(IV_BYTES)
    padder = padding.PKCS7(algorithms.AES.block_size).padder()
    plain = padder.update(_json(claims)) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key[32:]), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(plain) + encryptor.finalize()
    tag = _tag(key, header, iv, ciphertext)
    return f"{header}..{_b64(iv)}.{_b64(ciphertext)}.{_b64(tag)}"


def decrypt(
    token: str, secrets: Sequence[str], salt: str, *, now_s: int
) -> dict[str, Any] | None:
    """The claims of ``token`` if one of ``secrets`` opens it and it is current."""
    parts = token.split(".")
    if len(parts) != 5 or parts[1]:
        return None
    try:
        header = json.loads(_unb64(parts[0]))
        iv, ciphertext, tag = (_unb64(part) for part in parts[2:])
    except (ValueError, binascii.Error, RecursionError):
        return None
    if not isinstance(header, dict) or header.get("alg") != ALG:
        return None
    if header.get("enc") != ENC or len(iv) != IV_BYTES:
        return None
    kid = header.get("kid")
    keys = [derive_key(secret, salt) for secret in secrets]
    if kid is not None:
        keys = [key for key in keys if hmac.compare_digest(thumbprint(key), str(kid))]
    for key in keys:
        claims = _open(key, parts[0], iv, ciphertext, tag)
        if claims is not None:
            return claims if _current(claims, now_s) else None
    return None


def derive_key(secret: str, salt: str) -> bytes:
    """HKDF-SHA256 (RFC 5869) of ``secret`` to the 64 bytes A256CBC-HS512 needs."""
    prk = hmac.new(salt.encode(), secret.encode(), hashlib.sha256).digest()
    okm, block = b"", b""
    for counter in range(1, -(-KEY_BYTES // 32) + 1):
        block = hmac.new(prk, block + INFO + bytes([counter]), hashlib.sha256).digest()
        okm += block
    return okm[:KEY_BYTES]


def thumbprint(key: bytes) -> str:
    """The RFC 7638 SHA-256 thumbprint of ``key`` as an ``oct`` JWK."""
    canonical = json.dumps({"k": _b64(key), "kty": "oct"}, separators=(",", ":"))
    return _b64(hashlib.sha256(canonical.encode()).digest())


def _open(
    key: bytes, header: str, iv: bytes, ciphertext: bytes, tag: bytes
) -> dict[str, Any] | None:
    if not hmac.compare_digest(_tag(key, header, iv, ciphertext), tag):
        return None
    decryptor = Cipher(algorithms.AES(key[32:]), modes.CBC(iv)).decryptor()
    unpadder = padding.PKCS7(algorithms.AES.block_size).unpadder()
    try:
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        claims = json.loads(unpadder.update(padded) + unpadder.finalize())
    except (ValueError, RecursionError):
        return None
    return claims if isinstance(claims, dict) else None


def _tag(key: bytes, header: str, iv: bytes, ciphertext: bytes) -> bytes:
    aad = header.encode("ascii")
    length = (len(aad) * 8).to_bytes(8, "big")
    mac = hmac.new(key[:32], aad + iv + ciphertext + length, hashlib.sha512)
    return mac.digest()[:TAG_BYTES]


def _current(claims: dict[str, Any], now_s: int) -> bool:
    expires = claims.get("exp")
    if not isinstance(expires, int) or isinstance(expires, bool):
        return False
    return now_s - CLOCK_TOLERANCE_S <= expires


def _json(value: Any) -> bytes:
    # ASCII escapes read the same in JavaScript and survive lone surrogates.
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
