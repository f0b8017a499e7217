"""identity's composition root wired to the testkit's fakes alone: no PostgreSQL, Redis,
SMTP or NATS. A password login issues a token signed with a key the fake store keeps; an
admin's invitation is mailed by the mail loop through the recording sender; a wrong password
is counted by the limiter and recorded as an event."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from bijmantra.application.tenancy import UserRecord
from bijmantra.identity.bootstrap import IdentityAdapters, bootstrap
from bijmantra.identity.config import Settings
from bijmantra.observability.tracing_setup import Tracing
from bijmantra.testkit.fakes import FakeRevocationList, RecordingEmailSender
from bijmantra.testkit.identity_fakes import (
    FakeAuthorizationCodes,
    FakeBrowserSessions,
    FakeDueInvitations,
    FakeEventLog,
    FakeLoginLimiter,
    FakeOAuthClients,
    FakePasswordHasher,
    FakeRefreshTokenStore,
    FakeSigningKeys,
    FakeUserDirectory,
    IdentityTables,
    organization,
)
from bijmantra.testkit.servers import free_port
from bijmantra.testkit.tenancy_fakes import fake_tenancy_unit_of_work_factory
from litestar.testing import AsyncTestClient

PASSWORD = "correct horse battery staple"


async def _mailed(mailer: RecordingEmailSender, address: str) -> list[Any]:
    for _ in range(200):  # the mail loop runs beside the app; it is woken by the invite
        if sent := mailer.to(address):
            return sent
        await asyncio.sleep(0.01)
    return []


async def test_login_and_an_invitation_through_the_fakes_only() -> None:
    tables = IdentityTables()
    hasher = FakePasswordHasher()
    org = organization("Fake Seeds")
    admin = UserRecord(uuid.uuid4(), "admin@fake.test", "Admin", hasher.hash(PASSWORD))
    tables.register_member(org, admin, frozenset({"admin"}))
    mailer, limiter = RecordingEmailSender(), FakeLoginLimiter()
    adapters = IdentityAdapters(
        users=FakeUserDirectory(tables),
        refresh_tokens=FakeRefreshTokenStore(tables),
        clients=FakeOAuthClients(tables),
        codes=FakeAuthorizationCodes(tables),
        tenancy=fake_tenancy_unit_of_work_factory(tables),
        events=FakeEventLog(tables),
        due_invitations=FakeDueInvitations(tables),
        signing_keys=FakeSigningKeys(tables),
        hasher=hasher,
        browser_sessions=FakeBrowserSessions(),
        limiter=limiter,
        revocations=FakeRevocationList(),
        mailer=mailer,
    )
    settings = Settings(
        database_url="postgresql://unused",
        issuer="https://identity.test",
        audience="bijmantra",
        grpc_port=free_port(),
    )
    app = bootstrap(settings, adapters, Tracing())
    async with AsyncTestClient(app=app, base_url="https://identity.test") as identity:
        login = {"email": admin.email, "password": PASSWORD, "organizationId": str(org.id)}
        signed_in = await identity.post("/api/v1/auth/login", json=login)
        assert signed_in.status_code == 200, signed_in.text
        token = signed_in.json()["data"]["access_token"]
        [key] = (await identity.get("/.well-known/jwks.json")).json()["keys"]
        assert [key["kid"]] == [kid for kid, _, _, _ in tables.signing_keys]

        invited = await identity.post(
            f"/api/v1/organizations/{org.id}/members",
            json={"email": "new@fake.test", "roles": ["viewer"]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert invited.status_code == 202, invited.text
        assert len(await _mailed(mailer, "new@fake.test")) == 1

        wrong = await identity.post("/api/v1/auth/login", json={**login, "password": "no"})
        assert wrong.status_code == 401
        assert sum(limiter.failures.values()) == 1
        assert (await identity.get("/health/ready")).status_code == 200
    assert "tenancy.login.failed" in [e.type for e in tables.events]
