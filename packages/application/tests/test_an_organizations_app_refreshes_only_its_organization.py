"""An organization's app acts only for its organization (ADR 0383): a refresh-token family
it holds for another organization (obtained before the consent page held it to its own) is
ended at its next refresh, not rotated."""

from __future__ import annotations

import uuid

import pytest
from bijmantra.application.tenancy import UserRecord
from bijmantra.application.tenancy.login import AccessGrant
from bijmantra.application.tenancy.tokens import OAuthClient, RefreshSessions
from bijmantra.kernel import TenantId, Unauthorized
from bijmantra.testkit.identity_fakes import (
    FakeRefreshTokenStore,
    FakeTokenIssuer,
    FakeUserDirectory,
    IdentityTables,
    organization,
)

SCOPE = "openid brapi"


def app_of(tenant: TenantId | None) -> OAuthClient:
    grants = frozenset({"authorization_code", "refresh_token"})
    return OAuthClient(
        "an-app", "An app", None, grants, (), frozenset(SCOPE.split()), tenant, frozenset()
    )


async def test_an_organizations_app_cannot_refresh_another_organizations_family() -> None:
    tables = IdentityTables()
    ours, theirs = organization("Ours"), organization("Theirs")
    user = UserRecord(uuid.uuid4(), "member@ours.test", "Member", "hash")
    tables.register_member(ours, user, frozenset({"admin"}))
    sessions = RefreshSessions(
        FakeRefreshTokenStore(tables), FakeUserDirectory(tables), FakeTokenIssuer()
    )

    async def family() -> str:
        grant = AccessGrant(str(user.id), ours.id, frozenset({"admin"}), SCOPE)
        started = await sessions.start(grant, user_id=user.id, client_id="an-app", scope=SCOPE)
        assert started.refresh_token is not None
        return started.refresh_token

    foreign = await family()
    with pytest.raises(Unauthorized):
        await sessions.refresh(foreign, app_of(theirs.id))
    ended = [s.revoked_reason for s in tables.families.values()]
    assert ended == ["client_organization"]
    for client in (app_of(ours.id), app_of(None)):  # its own organization's app, the platform's
        refreshed = await sessions.refresh(await family(), client)
        assert refreshed.tenant_id == ours.id
