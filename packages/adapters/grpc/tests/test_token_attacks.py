"""Forged and out-of-policy access tokens are rejected by ``JwtVerifier`` with ``Unauthorized``.

Each attack starts from a token the verifier accepts (``test_a_well_formed_token_is_accepted``)
and changes exactly one thing, so a rejection is caused by that one thing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import pytest
from bijmantra.adapters.grpc.auth import JwtVerifier
from bijmantra.kernel import Forbidden, Unauthorized
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

ISSUER = "https://identity.test"
AUDIENCE = "bijmantra"
TENANT = uuid.UUID("0193a000-0000-7000-8000-0000000000aa")


def _key(kid: str) -> RSAKey:
    return RSAKey.generate_key(
        2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"}, private=True
    )


SIGNING_KEY = _key("current")
OTHER_KEY = _key("attacker")


class KeySource:
    """Serves a JWK Set like identity's GetSigningKeys and counts the fetches."""

    def __init__(self, *keys: RSAKey) -> None:
        self.keys = list(keys)
        self.fetches = 0

    async def __call__(self) -> dict[str, Any]:
        self.fetches += 1
        return KeySet(self.keys).as_dict(private=False)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "tid": str(TENANT),
        "roles": ["breeder"],
        "scope": "openid brapi",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: RSAKey = SIGNING_KEY, **header: Any) -> str:
    return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "at+jwt", **header}, payload, key)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: dict[str, Any]) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def verifier(source: KeySource | None = None, **kwargs: Any) -> JwtVerifier:
    return JwtVerifier(source or KeySource(SIGNING_KEY), issuer=ISSUER, audience=AUDIENCE, **kwargs)


async def test_a_well_formed_token_is_accepted() -> None:
    principal = await verifier().verify(sign(claims()))
    assert principal.tenant_id == TENANT
    assert principal.subject == "user-1"
    assert principal.roles == frozenset({"breeder"})


async def test_a_token_without_the_required_scope_is_refused_every_time() -> None:
    """A sign-in-only token (``openid``) once reached the APIs with its holder's roles; a
    verifier asked for a scope refuses it (403), the first time and from its cache."""
    strict = verifier(required_scope="brapi")
    token = sign(claims(scope="openid profile"))
    for _ in range(2):
        with pytest.raises(Forbidden):
            await strict.verify(token)
    assert (await strict.verify(sign(claims()))).scopes == frozenset({"openid", "brapi"})
    assert (await verifier().verify(token)).scopes == frozenset({"openid", "profile"})


async def test_alg_none_is_rejected() -> None:
    token = f"{b64json({'alg': 'none', 'typ': 'JWT', 'kid': 'current'})}.{b64json(claims())}."
    with pytest.raises(Unauthorized):
        await verifier().verify(token)


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
async def test_alg_none_with_a_signature_part_is_rejected(alg: str) -> None:
    token = f"{b64json({'alg': alg, 'kid': 'current'})}.{b64json(claims())}.{b64(b'x')}"
    with pytest.raises(Unauthorized):
        await verifier().verify(token)


@pytest.mark.parametrize(
    "secret",
    [
        SIGNING_KEY.as_pem(private=False),
        json.dumps(SIGNING_KEY.as_dict(private=False)).encode(),
    ],
    ids=["pem", "jwk-json"],
)
async def test_hs256_signed_with_the_public_key_is_rejected(secret: bytes) -> None:
    """The key-confusion attack: the public key used as an HMAC secret."""
    signing_input = (
        f"{b64json({'alg': 'HS256', 'typ': 'JWT', 'kid': 'current'})}.{b64json(claims())}"
    )
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(Unauthorized):
        await verifier().verify(f"{signing_input}.{b64(signature)}")


async def test_expired_token_is_rejected() -> None:
    now = int(time.time())
    token = sign(claims(iat=now - 3600, nbf=now - 3600, exp=now - 120))
    with pytest.raises(Unauthorized):
        await verifier(leeway=30).verify(token)


async def test_token_not_yet_valid_is_rejected() -> None:
    now = int(time.time())
    token = sign(claims(nbf=now + 600, exp=now + 1200))
    with pytest.raises(Unauthorized):
        await verifier(leeway=30).verify(token)


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat", "iss", "aud", "sub", "jti", "tid"])
async def test_token_missing_a_required_claim_is_rejected(claim: str) -> None:
    with pytest.raises(Unauthorized):
        await verifier().verify(sign(claims(**{claim: None})))


async def test_wrong_issuer_is_rejected() -> None:
    with pytest.raises(Unauthorized):
        await verifier().verify(sign(claims(iss="https://evil.example")))


@pytest.mark.parametrize("aud", ["other-api", ["other-api"], ""])
async def test_wrong_audience_is_rejected(aud: Any) -> None:
    with pytest.raises(Unauthorized):
        await verifier().verify(sign(claims(aud=aud)))


async def test_unknown_kid_is_rejected_after_one_refetch() -> None:
    source = KeySource(SIGNING_KEY)
    check = verifier(source, refetch_interval=0)
    await check.verify(sign(claims()))  # keys loaded
    assert source.fetches == 1
    with pytest.raises(Unauthorized):
        await check.verify(sign(claims(), key=OTHER_KEY))
    assert source.fetches == 2, "an unknown kid must trigger exactly one JWKS refetch"


async def test_unknown_kid_refetches_are_throttled() -> None:
    source = KeySource(SIGNING_KEY)
    check = verifier(source, refetch_interval=60)
    await check.verify(sign(claims()))
    for _ in range(5):
        with pytest.raises(Unauthorized):
            await check.verify(sign(claims(), key=OTHER_KEY))
    assert source.fetches <= 2


async def test_a_rotated_in_key_is_found_by_refetching() -> None:
    """Key rotation without downtime: a kid published after the first fetch is accepted."""
    new_key = _key("next")
    source = KeySource(SIGNING_KEY)
    check = verifier(source, refetch_interval=0)
    await check.verify(sign(claims()))
    source.keys = [new_key, SIGNING_KEY]
    principal = await check.verify(sign(claims(), key=new_key))
    assert principal.tenant_id == TENANT


async def test_token_signed_by_another_key_under_a_known_kid_is_rejected() -> None:
    token = sign(claims(), key=OTHER_KEY, kid="current")
    with pytest.raises(Unauthorized):
        await verifier().verify(token)


async def test_tampered_payload_is_rejected() -> None:
    header, _, signature = sign(claims()).split(".")
    forged = claims(roles=["admin"], tid=str(uuid.uuid4()))
    with pytest.raises(Unauthorized):
        await verifier().verify(f"{header}.{b64json(forged)}.{signature}")


async def test_tampered_payload_is_rejected_even_after_the_genuine_token_was_cached() -> None:
    check = verifier()
    genuine = sign(claims())
    await check.verify(genuine)
    header, _, signature = genuine.split(".")
    with pytest.raises(Unauthorized):
        await check.verify(f"{header}.{b64json(claims(roles=['admin']))}.{signature}")


async def test_embedded_jwk_header_is_not_trusted() -> None:
    token = sign(claims(), key=OTHER_KEY, kid="current", jwk=OTHER_KEY.as_dict(private=False))
    with pytest.raises(Unauthorized):
        await verifier().verify(token)


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "a.b.c", "a.b", "....", "eyJhbGciOiJSUzI1NiJ9.!!.x", "eyJ9.eyJ9.eyJ9"],
)
async def test_malformed_tokens_are_rejected(token: str) -> None:
    with pytest.raises(Unauthorized):
        await verifier().verify(token)


async def test_non_numeric_expiry_is_rejected() -> None:
    with pytest.raises(Unauthorized):
        await verifier().verify(sign(claims(exp="9999999999")))


@pytest.mark.parametrize("roles", ["admin", {"admin": True}, [1]])
async def test_roles_that_are_not_a_list_of_strings_are_rejected(roles: Any) -> None:
    with pytest.raises(Unauthorized):
        await verifier().verify(sign(claims(roles=roles)))
