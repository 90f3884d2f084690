"""mint_token: the exact header and claim set, verified with PyJWT."""

from __future__ import annotations

import json

import jwt
import pytest

from rowgate.bridge.token import BridgeConfigError, mint_token
from rowgate.errors import RowgateError
from tests.auth.support import JWT_SECRET


def test_claims_are_exactly_the_five() -> None:
    token = mint_token("user-1", JWT_SECRET, now=1_700_000_000)
    claims = jwt.decode(
        token,
        JWT_SECRET,
        algorithms=["HS256"],
        audience="insforge-api",
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims == {
        "sub": "user-1",
        "role": "authenticated",
        "aud": "insforge-api",
        "iat": 1_700_000_000,
        "exp": 1_700_003_600,
    }


def test_header_is_hs256_jwt() -> None:
    header = jwt.get_unverified_header(mint_token("u", JWT_SECRET))
    assert header == {"alg": "HS256", "typ": "JWT"}
    raw = jwt.utils.base64url_decode(mint_token("u", JWT_SECRET).split(".")[0])
    assert json.loads(raw) == {"alg": "HS256", "typ": "JWT"}


def test_lifetime_sets_exp() -> None:
    token = mint_token("u", JWT_SECRET, now=100, lifetime=60)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 60


def test_other_secret_fails_verification() -> None:
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            mint_token("u", JWT_SECRET),
            "some-other-secret-that-is-long-enough-1234",
            algorithms=["HS256"],
            audience="insforge-api",
        )


def test_empty_secret_is_a_config_error() -> None:
    with pytest.raises(BridgeConfigError) as raised:
        mint_token("u", "")
    assert isinstance(raised.value, RowgateError)
