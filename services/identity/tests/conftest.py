"""An identity app on the real PostgreSQL and Redis, driven over HTTP in-process."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from bijmantra.adapters.email import SmtpSettings
from bijmantra.adapters.postgres import create_engine
from bijmantra.adapters.postgres.identity import register_member
from bijmantra.identity.config import Settings
from bijmantra.identity.passwords import Argon2PasswordHasher
from bijmantra.identity.production import create_app
from bijmantra.testkit.mail import SmtpCatcher
from bijmantra.testkit.provision import ProvisionedDatabase
from bijmantra.testkit.servers import free_port
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

ISSUER = "https://identity.test"
INVITATION_URL = "https://bijmantra.test/api/v1/auth/invitations/accept"
AUDIENCE = "bijmantra"
LIMITER_DB = 7  # a Redis database of its own, flushed before every test


@dataclass(frozen=True)
class Member:
    organization_id: uuid.UUID
    user_id: uuid.UUID
    email: str
    password: str


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


@pytest.fixture(scope="session")
async def identity_engine(database: ProvisionedDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database.identity_url, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def limiter_redis_url(redis_url: str) -> str:
    return redis_url.rsplit("/", 1)[0] + f"/{LIMITER_DB}"


@pytest.fixture
async def identity(
    database: ProvisionedDatabase,
    limiter_redis_url: str,
    smtp_server: SmtpCatcher,
    identity_engine: AsyncEngine,
) -> AsyncIterator[AsyncTestClient]:
    redis = Redis.from_url(limiter_redis_url)
    await redis.flushdb()
    await redis.aclose()
    async with identity_engine.begin() as conn:  # every test's client has the same address
        await conn.execute(text("DELETE FROM identity.login_failures"))
    settings = identity_settings(database, limiter_redis_url, smtp_server)
    async with AsyncTestClient(
        app=create_app(settings), base_url="https://identity.test"
    ) as client:
        yield client


def identity_settings(
    database: ProvisionedDatabase, redis_url: str, smtp_server: SmtpCatcher
) -> Settings:
    return Settings(
        database_url=database.identity_url,
        issuer=ISSUER,
        audience=AUDIENCE,
        grpc_port=free_port(),
        redis_url=redis_url,
        login_backoff_base=60,  # locks outlast a slow run: lock assertions never race the clock
        smtp=SmtpSettings(smtp_server.host, smtp_server.port, "Bijmantra <no-reply@identity.test>"),
        invitation_url=INVITATION_URL,
    )


@pytest.fixture
async def member(identity_engine: AsyncEngine) -> Member:
    return await new_member(identity_engine)


async def new_member(
    engine: AsyncEngine, *, roles: list[str] | None = None, organization_id: uuid.UUID | None = None
) -> Member:
    organization = organization_id or uuid.uuid4()
    user = uuid.uuid4()
    password = f"pw-{uuid.uuid4().hex}"
    email = f"{user.hex[:12]}@example.org"
    await register_member(
        engine,
        organization_id=organization,
        organization_name=f"Org {organization.hex[:8]}",
        user_id=user,
        email=email,
        display_name="Test Breeder",
        password_hash=Argon2PasswordHasher().hash(password),
        roles=roles or ["breeder"],
    )
    return Member(organization, user, email, password)
