"""Identity's part of issue 17 defect 8 and defect 3, against real PostgreSQL and Redis: NUL
characters are a clean 400, X-Forwarded-For is believed from nobody by default, and a user may
found only a bounded number of organizations."""

from __future__ import annotations

import uuid

import pytest
from bijmantra.adapters.postgres import create_engine
from bijmantra.edge.client_address import client_address, parse_networks
from bijmantra.identity.config import Settings
from bijmantra.identity.edge import MAX_BODY
from bijmantra.testkit.provision import ProvisionedDatabase
from sqlalchemy import text

from .conftest import Member
from .test_platform_api import Client, bearer, token_for

pytestmark = pytest.mark.integration
NUL = "a\x00b"


@pytest.mark.parametrize("field", ["email", "password"])
async def test_a_nul_character_in_a_login_is_a_clean_400(
    identity: Client, member: Member, field: str
) -> None:
    body = {"email": member.email, "password": member.password, field: member.email + NUL}
    for path in ("/api/v1/auth/login", "/api/v1/auth/session"):
        response = await identity.post(path, json=body, headers={"X-Request-Id": "nul-probe"})
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "malformed"  # text PostgreSQL cannot store (ADR 0143)
        assert "NUL" in error["message"]
        assert response.json()["meta"]["request_id"] == "nul-probe"
    # The account is not locked by the refused requests, and still signs in.
    assert (await token_for(identity, member)).count(".") == 2


async def test_a_body_past_the_bound_is_413_before_it_is_read(identity: Client) -> None:
    body = b'{"email": "' + b"a" * (MAX_BODY + 1) + b'"}'
    login = await identity.post("/api/v1/auth/login", content=body, headers={"X-Request-Id": "big"})
    assert login.status_code == 413, login.text
    assert login.json()["meta"]["request_id"] == "big"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    token = await identity.post("/oauth/token", content=b"a=" + body, headers=form)
    assert token.status_code == 413, token.text


async def test_nul_characters_elsewhere_change_nothing(identity: Client, member: Member) -> None:
    token = await token_for(identity, member)
    created = await identity.post(
        "/api/v1/organizations", json={"name": f"Org{NUL}"}, headers=bearer(token)
    )
    assert created.status_code == 400, created.text
    form = await identity.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": NUL,
              "client_id": "bijmantra-first-party"},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert form.status_code == 400
    assert form.json()["error"] == "invalid_request"


def test_forwarded_for_is_believed_from_nobody_unless_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("IDENTITY_TRUSTED_PROXIES", raising=False)
    monkeypatch.delenv("TRUSTED_PROXIES", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://unused")
    default = parse_networks(Settings.from_env().trusted_proxies)
    # A local process naming any address it likes is counted under its own (loopback) one.
    assert client_address("127.0.0.1", "203.0.113.9", default) == "127.0.0.1"
    monkeypatch.setenv("IDENTITY_TRUSTED_PROXIES", "10.1.0.0/16")
    gateway = parse_networks(Settings.from_env().trusted_proxies)
    assert client_address("10.1.2.3", "203.0.113.9", gateway) == "203.0.113.9"
    assert client_address("127.0.0.1", "203.0.113.9", gateway) == "127.0.0.1"


async def test_a_user_may_found_only_a_bounded_number_of_organizations(
    identity: Client, member: Member, database: ProvisionedDatabase
) -> None:
    token = await token_for(identity, member)
    statuses = [
        (
            await identity.post(
                "/api/v1/organizations",
                json={"name": f"Org {uuid.uuid4().hex[:10]}"},
                headers=bearer(token),
            )
        ).status_code
        for _ in range(11)
    ]
    assert statuses == [201] * 10 + [403]
    owner = create_engine(database.owner_url, pool_size=1)
    try:
        async with owner.connect() as conn:
            founded = (
                await conn.execute(
                    text("SELECT count(*) FROM identity.organizations WHERE created_by = :u"),
                    {"u": member.user_id},
                )
            ).scalar_one()
    finally:
        await owner.dispose()
    assert founded == 10
