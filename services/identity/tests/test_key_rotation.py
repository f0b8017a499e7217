"""Signing-key rotation without downtime, against real PostgreSQL: a running identity picks up
a key rotated by another process, tokens of the previous key stay valid, and the key before
that leaves the JWKS (and its tokens stop verifying)."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from bijmantra.adapters.grpc.auth import JwtVerifier
from bijmantra.adapters.postgres.identity import PostgresSigningKeys
from bijmantra.identity.config import Settings
from bijmantra.identity.production import create_app
from bijmantra.identity.tokens import SigningKeyRing
from bijmantra.kernel import Unauthorized
from bijmantra.testkit.provision import ProvisionedDatabase
from bijmantra.testkit.servers import free_port
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from .conftest import AUDIENCE, ISSUER, Member

pytestmark = pytest.mark.integration

Client = AsyncTestClient


def kid_of(token: str) -> str:
    header = token.split(".", 1)[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


async def published(identity: Client) -> list[str]:
    return [k["kid"] for k in (await identity.get("/.well-known/jwks.json")).json()["keys"]]


async def wait_for_keys(identity: Client, expected: set[str]) -> None:
    """The app reloads its keys every 0.1 s; wait (boundedly) until it shows ``expected``."""
    for _ in range(200):
        if set(await published(identity)) == expected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"JWKS never became {expected}: {await published(identity)}")


async def fresh_token(identity: Client, member: Member) -> str:
    response = await identity.post(
        "/api/v1/auth/login", json={"email": member.email, "password": member.password}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["access_token"])


async def test_rotation_keeps_the_previous_key_and_retires_the_one_before(
    database: ProvisionedDatabase,
    limiter_redis_url: str,
    identity_engine: AsyncEngine,
    member: Member,
) -> None:
    settings = Settings(
        database_url=database.identity_url,
        issuer=ISSUER,
        audience=AUDIENCE,
        grpc_port=free_port(),
        redis_url=limiter_redis_url,
        key_reload_interval=0.1,
        key_publish_delay=0,
    )
    operator = SigningKeyRing(
        PostgresSigningKeys(identity_engine)
    )  # ``bijmantra-identity rotate-keys``
    async with AsyncTestClient(
        app=create_app(settings), base_url="https://identity.test"
    ) as identity:

        async def keys() -> dict[str, Any]:
            return (await identity.get("/.well-known/jwks.json")).json()

        def verifier() -> JwtVerifier:
            return JwtVerifier(keys, issuer=ISSUER, audience=AUDIENCE, refetch_interval=0)

        before = await fresh_token(identity, member)
        first = kid_of(before)
        assert first in await published(identity)

        second, _ = await operator.rotate()
        await wait_for_keys(identity, {first, second})
        during = await fresh_token(identity, member)
        assert kid_of(during) == second
        check = verifier()
        assert (await check.verify(before)).subject == str(member.user_id)  # no one is logged out
        assert (await check.verify(during)).subject == str(member.user_id)

        third, retired = await operator.rotate()
        assert first in retired
        await wait_for_keys(identity, {second, third})
        assert kid_of(await fresh_token(identity, member)) == third
        later = verifier()
        assert (await later.verify(during)).subject == str(member.user_id)
        with pytest.raises(Unauthorized):
            await later.verify(before)
