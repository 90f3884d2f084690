"""The JWT attack set against the data API (#7, area 1).

Every refused credential is a 401 with PGRST301, and ``pg_stat_activity`` shows
that none of the data API's two connections ran anything for it: the backends'
``state_change`` and ``query_start`` are exactly what they were before the request.
A valid request does move them, which shows the check can see a statement.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import jwt
import psycopg
import pytest

from tests.auth.support import JWT_SECRET
from tests.security.conftest import (
    ANON_KEY,
    AUDIENCE,
    DATA_API_APP,
    activity,
    sign,
    user_token,
)

# Taken at import: the cases below are built once, so their offsets are far
# larger than any run of the suite and than the clock skew.
NOW = int(time.time())
SUB = "user_2NNEqL2nrIRdJ194ndJqAHwEfxC"
GOOD = {"sub": SUB, "role": "authenticated", "aud": AUDIENCE, "exp": NOW + 3600}


def segment(value: Any) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def forge(header: Any, payload: Any, *, secret: str = JWT_SECRET) -> str:
    """A token with any header and payload, HMAC-SHA256-signed with ``secret``."""
    signing_input = f"{segment(header)}.{segment(payload)}"
    digest = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256)
    return f"{signing_input}.{segment(digest.digest())}"


def unsecured(alg: str) -> str:
    return f"{segment({'alg': alg, 'typ': 'JWT'})}.{segment(GOOD)}."


def edited_payload(**changes: Any) -> str:
    header, _payload, signature = sign(GOOD).split(".")
    return f"{header}.{segment({**GOOD, **changes})}.{signature}"


def with_claims(**changes: Any) -> str:
    return sign({**GOOD, **changes})


def auth(value: str) -> list[tuple[str, str]]:
    return [("Authorization", value)]


def token_auth(token: str) -> list[tuple[str, str]]:
    return auth(f"Bearer {token}")


# Refused by the data API whether or not an audience is configured.
REFUSED: dict[str, list[tuple[str, str]]] = {
    "alg none": token_auth(unsecured("none")),
    "alg None": token_auth(unsecured("None")),
    "alg NONE": token_auth(unsecured("NONE")),
    "alg none, signed anyway": token_auth(forge({"alg": "none"}, GOOD)),
    "alg missing": token_auth(forge({"typ": "JWT"}, GOOD)),
    "alg lower-case hs256": token_auth(forge({"alg": "hs256"}, GOOD)),
    "alg HS384": token_auth(jwt.encode(GOOD, JWT_SECRET * 2, algorithm="HS384")),
    "alg HS512": token_auth(jwt.encode(GOOD, JWT_SECRET * 2, algorithm="HS512")),
    "alg RS256 with the secret as key": token_auth(forge({"alg": "RS256"}, GOOD)),
    "alg as a list": token_auth(forge({"alg": ["HS256"]}, GOOD)),
    "crit header": token_auth(forge({"alg": "HS256", "crit": ["exp"]}, GOOD)),
    "header not an object": token_auth(forge(["HS256"], GOOD)),
    "wrong secret": token_auth(sign(GOOD, secret="x" * 48)),
    "signature stripped": token_auth(sign(GOOD).rsplit(".", 1)[0] + "."),
    "signature truncated": token_auth(sign(GOOD)[:-2]),
    "payload edited: sub": token_auth(edited_payload(sub="someone-else")),
    "payload edited: role": token_auth(edited_payload(role="postgres")),
    "payload edited: exp": token_auth(edited_payload(exp=NOW + 10**8)),
    "header edited after signing": token_auth(
        segment({"alg": "HS256", "typ": "JWT", "kid": "x"})
        + "."
        + sign(GOOD).split(".", 1)[1]
    ),
    "payload not an object": token_auth(forge({"alg": "HS256"}, [GOOD])),
    "payload null": token_auth(forge({"alg": "HS256"}, None)),
    "payload not JSON": token_auth(forge({"alg": "HS256"}, b"{sub: 1}")),
    "exp NaN": token_auth(forge({"alg": "HS256"}, b'{"role":"anon","exp":NaN}')),
    "exp infinite": token_auth(forge({"alg": "HS256"}, b'{"role":"anon","exp":1e999}')),
    "expired": token_auth(with_claims(exp=NOW - 120)),
    "expired long ago": token_auth(with_claims(exp=1)),
    "not yet valid": token_auth(with_claims(nbf=NOW + 86400)),
    "issued in the future": token_auth(with_claims(iat=NOW + 86400)),
    "exp a string": token_auth(with_claims(exp=str(NOW + 600))),
    "exp a boolean": token_auth(with_claims(exp=True)),
    "exp null": token_auth(with_claims(exp=None)),
    "nbf a string": token_auth(with_claims(nbf="0")),
    "iat a string": token_auth(with_claims(iat=str(NOW))),
    "role postgres": token_auth(with_claims(role="postgres")),
    "role authenticator": token_auth(with_claims(role="authenticator")),
    "role project_admin": token_auth(with_claims(role="project_admin")),
    "role of the table owner": token_auth(with_claims(role="security_owner")),
    "role pg_read_all_data": token_auth(with_claims(role="pg_read_all_data")),
    "role public": token_auth(with_claims(role="public")),
    "role unknown": token_auth(with_claims(role="nobody_at_all")),
    "role in another case": token_auth(with_claims(role="Authenticated")),
    "role with a trailing space": token_auth(with_claims(role="authenticated ")),
    "role empty": token_auth(with_claims(role="")),
    "role null": token_auth(with_claims(role=None)),
    "role a list": token_auth(with_claims(role=["authenticated"])),
    "role an object": token_auth(with_claims(role={"name": "authenticated"})),
    "role a number": token_auth(with_claims(role=1)),
    "header empty": auth(""),
    "header only spaces": auth("   "),
    "scheme only": auth("Bearer"),
    "scheme and a space": auth("Bearer "),
    "basic auth": auth("Basic dXNlcjpwYXNz"),
    "other scheme": auth(f"Token {sign(GOOD)}"),
    "no scheme": auth(sign(GOOD)),
    "not a jwt": token_auth("not-a-token"),
    "two parts": token_auth("e30.e30"),
    "four parts": token_auth(sign(GOOD) + ".e30"),
    "trailing garbage": token_auth(sign(GOOD) + " extra"),
    "wrong anon key": token_auth("anon_" + "cd" * 32),
    "anon key upper-case": token_auth(ANON_KEY.upper()),
    "anon key with a suffix": token_auth(ANON_KEY + "0"),
    "repeated header": token_auth(sign(GOOD)) * 2,
    "repeated header, one bad": token_auth(sign(GOOD)) + auth("Bearer x.y.z"),
    "repeated, merged by a proxy": auth(f"Bearer {sign(GOOD)}, Bearer {sign(GOOD)}"),
}

# Refused only when the data API requires the bridge's audience.
REFUSED_WITH_AUDIENCE: dict[str, list[tuple[str, str]]] = {
    "aud missing": token_auth(sign({k: v for k, v in GOOD.items() if k != "aud"})),
    "aud wrong": token_auth(with_claims(aud="another-api")),
    "aud a prefix": token_auth(with_claims(aud="insforge")),
    "aud a number": token_auth(with_claims(aud=7)),
    "aud a list without it": token_auth(with_claims(aud=["another-api"])),
    "aud an empty list": token_auth(with_claims(aud=[])),
    "aud a list with a non-string": token_auth(with_claims(aud=[AUDIENCE, 1])),
    "aud null": token_auth(with_claims(aud=None)),
}


async def refused_without_a_statement(
    client: httpx.AsyncClient,
    owner: psycopg.Connection[Any],
    headers: list[tuple[str, str]],
) -> httpx.Response:
    before = activity(owner, DATA_API_APP)
    response = await client.get("/board?select=id", headers=headers)
    after = activity(owner, DATA_API_APP)

    assert len(before) == 2
    assert after == before, "a refused request ran a statement"
    return response


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "PGRST301"
    assert response.headers["www-authenticate"].startswith(
        'Bearer error="invalid_token"'
    )


@pytest.mark.parametrize("case", list(REFUSED))
async def test_refused_credentials_never_reach_postgres(
    data: httpx.AsyncClient,
    data_aud: httpx.AsyncClient,
    owner: psycopg.Connection[Any],
    case: str,
) -> None:
    plain = await refused_without_a_statement(data, owner, REFUSED[case])
    audience = await refused_without_a_statement(data_aud, owner, REFUSED[case])

    assert_refused(plain)
    assert_refused(audience)


@pytest.mark.parametrize("case", list(REFUSED_WITH_AUDIENCE))
async def test_audience_is_enforced_when_configured(
    data_aud: httpx.AsyncClient, owner: psycopg.Connection[Any], case: str
) -> None:
    response = await refused_without_a_statement(
        data_aud, owner, REFUSED_WITH_AUDIENCE[case]
    )

    assert_refused(response)


async def test_the_activity_check_sees_a_statement(
    data: httpx.AsyncClient, owner: psycopg.Connection[Any]
) -> None:
    before = activity(owner, DATA_API_APP)
    response = await data.get("/board?select=id", headers=token_auth(sign(GOOD)))
    after = activity(owner, DATA_API_APP)

    assert response.status_code == 200
    assert after != before


@pytest.mark.parametrize(
    ("template", "changes"),
    [
        ("bearer {}", {}),
        ("BEARER {}", {}),
        ("Bearer   {}  ", {}),
        ("Bearer {}", {"aud": ["another-api", AUDIENCE]}),
        ("Bearer {}", {"exp": -10}),
        ("Bearer {}", {"iat": 10, "nbf": 10}),
        ("Bearer {}", {"exp": 600.5}),
    ],
)
async def test_valid_variants_are_accepted(
    data_aud: httpx.AsyncClient, template: str, changes: dict[str, Any]
) -> None:
    # Times are offsets from now, taken when the test runs: inside the skew.
    now = time.time()
    claims = {
        name: now + value if name in ("exp", "iat", "nbf") else value
        for name, value in changes.items()
    }
    authorization = template.format(with_claims(**claims))

    response = await data_aud.get("/rpc/whoami", headers=auth(authorization))

    assert response.status_code == 200, response.text
    assert response.json()["role"] == "authenticated"
    assert response.json()["user_id"] == SUB


@pytest.mark.parametrize(
    "headers",
    [[], auth(f"Bearer {ANON_KEY}"), auth(f"bearer {ANON_KEY}")],
    ids=["no header", "anon key", "anon key, lower-case scheme"],
)
async def test_anonymous_credentials_run_as_anon(
    data_aud: httpx.AsyncClient, headers: list[tuple[str, str]]
) -> None:
    response = await data_aud.get("/rpc/whoami", headers=headers)

    assert response.json() == {
        "claims": '{"role":"anon"}',
        "user_id": None,
        "role": "anon",
    }


@pytest.mark.parametrize("sub", [SUB, "auth0|64ab", "github|12345", "x" * 300])
async def test_non_uuid_subjects_own_their_rows(
    data: httpx.AsyncClient, owner: psycopg.Connection[Any], sub: str
) -> None:
    headers = {"Authorization": f"Bearer {user_token(sub)}"}

    created = await data.post("/board", json={"body": "mine"}, headers=headers)
    listed = await data.get("/board?select=owner,body", headers=headers)

    assert created.status_code == 201, created.text
    assert {row["owner"] for row in listed.json()} == {sub}
    stored = owner.execute("SELECT count(*) FROM board WHERE owner = %s", (sub,))
    assert stored.fetchone() == (len(listed.json()),)


CLAIM_TEXTS = [
    'double "quotes" and \\backslashes\\',
    "single 'quotes'; DROP TABLE board; --",
    "ünïcødé, 中文, العربية, עברית",
    "emoji 🎉 👩🏽‍💻 🇳🇱 and a zero-width joiner \u200d",
    "line\nbreaks\tand\u2028separators\u2029",
    "</script><script>alert(1)</script>",
    "$$ dollar $tag$ quoting $$",
    "%s %(name)s {} {0}",
]


@pytest.mark.parametrize("text", CLAIM_TEXTS)
async def test_claims_round_trip_exactly(data: httpx.AsyncClient, text: str) -> None:
    claims = {
        "sub": text,
        "role": "authenticated",
        "exp": NOW + 3600,
        "name": text,
        "nested": {"list": [text, 1, 2.5, True, None], text: text},
    }

    response = await data.get("/rpc/whoami", headers=token_auth(sign(claims)))

    body = response.json()
    assert response.status_code == 200, response.text
    assert json.loads(body["claims"]) == claims
    assert body["user_id"] == text
    assert body["role"] == "authenticated"


async def test_claims_postgres_cannot_hold_get_an_error_response(
    data: httpx.AsyncClient,
) -> None:
    token = forge({"alg": "HS256"}, b'{"sub":"lone \\ud800","role":"authenticated"}')

    response = await data.get("/rpc/whoami", headers=token_auth(token))

    assert response.status_code in (400, 401)
