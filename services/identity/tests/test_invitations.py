"""Invitations by email against real PostgreSQL and a real SMTP server (issue 17, defect 1).

The attack: any user founds an organization, "invites" an address that has no account, gets the
token back and accepts with a password of their choosing; when the real organization later
invites that address the account is attached silently and the attacker signs in there.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bijmantra.adapters.postgres import create_engine
from bijmantra.adapters.postgres.invitations import PostgresDueInvitations
from bijmantra.adapters.postgres.tenancy import tenancy_unit_of_work_factory
from bijmantra.application.tenancy import DeliverInvitations, InviteMember
from bijmantra.kernel import Principal, RateLimited, TenantId
from bijmantra.testkit.fakes import RecordingEmailSender
from bijmantra.testkit.mail import SmtpCatcher
from bijmantra.testkit.provision import ProvisionedDatabase
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from .conftest import INVITATION_URL, Member, new_member
from .test_platform_api import Client, bearer, outbox, token_for

pytestmark = pytest.mark.integration
ACCEPT = "/api/v1/auth/invitations/accept"


def _address() -> str:
    return f"invitee-{uuid.uuid4().hex[:10]}@example.org"


async def _invite(identity: Client, admin: Member, email: str, roles: list[str]) -> Any:
    return await identity.post(
        f"/api/v1/organizations/{admin.organization_id}/members",
        json={"email": email, "roles": roles},
        headers=bearer(await token_for(identity, admin)),
    )


async def _owner_rows(database: ProvisionedDatabase, sql: str, **params: Any) -> list[Any]:
    owner = create_engine(database.owner_url, pool_size=1)
    try:
        async with owner.connect() as conn:
            return list((await conn.execute(text(sql), params)).all())
    finally:
        await owner.dispose()


async def test_pre_claiming_an_address_through_an_own_organization_fails(
    identity: Client, identity_engine: AsyncEngine, smtp_server: SmtpCatcher
) -> None:
    attacker = await new_member(identity_engine)
    victim = _address()
    # Any user may found an organization and administer it.
    founded = await identity.post(
        "/api/v1/organizations",
        json={"name": f"Trap {uuid.uuid4().hex[:6]}"},
        headers=bearer(await token_for(identity, attacker)),
    )
    trap = uuid.UUID(founded.json()["data"]["id"])
    trap_token = await token_for(identity, attacker, trap)
    invited = await identity.post(
        f"/api/v1/organizations/{trap}/members",
        json={"email": victim, "roles": ["viewer"]},
        headers=bearer(trap_token),
    )
    assert invited.status_code == 202, invited.text
    leaked = invited.json()["data"].get("invitation", {}).get("token")
    if leaked:  # the old behaviour: the attacker claims the address with their own password
        await identity.post(ACCEPT, json={"token": leaked, "password": "attacker-chosen-pw"})
    assert "token" not in invited.text
    # The link went to the victim's mailbox, nowhere else.
    [trap_mail] = smtp_server.wait_for(victim)
    assert trap_mail.rcpt_tos == (victim,)
    assert smtp_server.messages_to(attacker.email) == []

    # The real organization invites the same address later.
    real = await new_member(identity_engine, roles=["admin"])
    assert (await _invite(identity, real, victim, ["breeder"])).status_code == 202
    [_, real_mail] = smtp_server.wait_for(victim, count=2)
    # No account was attached on the way: the attacker's password opens nothing ...
    login = await identity.post(
        "/api/v1/auth/login",
        json={"email": victim, "password": "attacker-chosen-pw",
              "organizationId": str(real.organization_id)},
    )  # fmt: skip
    assert login.status_code == 401
    # ... and the address's owner joins with the link they received.
    accepted = await identity.post(
        ACCEPT,
        json={"token": real_mail.query_value("token"), "password": "victims-own-password"},
    )
    assert accepted.status_code == 200, accepted.text
    mine = await identity.post(
        "/api/v1/auth/login",
        json={"email": victim, "password": "victims-own-password",
              "organizationId": str(real.organization_id)},
    )  # fmt: skip
    assert mine.json()["data"]["roles"] == ["breeder"]


async def test_inviting_an_existing_account_reveals_nothing_and_attaches_nothing(
    identity: Client,
    identity_engine: AsyncEngine,
    smtp_server: SmtpCatcher,
) -> None:
    admin = await new_member(identity_engine, roles=["admin"])
    existing = await new_member(identity_engine)
    known = await _invite(identity, admin, existing.email, ["viewer"])
    unknown = await _invite(identity, admin, _address(), ["viewer"])
    assert known.status_code == unknown.status_code == 202
    assert sorted(known.json()["data"]) == sorted(unknown.json()["data"])
    assert "user_id" not in known.json()["data"]
    members = await identity.get(
        f"/api/v1/organizations/{admin.organization_id}/members",
        headers=bearer(await token_for(identity, admin)),
    )
    assert [m["user_id"] for m in members.json()["data"]] == [str(admin.user_id)]
    not_yet = await identity.post(
        "/api/v1/auth/login",
        json={"email": existing.email, "password": existing.password,
              "organizationId": str(admin.organization_id)},
    )  # fmt: skip
    assert not_yet.status_code == 403  # not a member there

    # Holding the link is not enough for an account that has a password: its password is.
    token = smtp_server.wait_for(existing.email)[0].query_value("token")
    wrong = await identity.post(ACCEPT, json={"token": token, "password": "not-their-password"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "unauthorized"
    right = await identity.post(ACCEPT, json={"token": token, "password": existing.password})
    assert right.status_code == 200, right.text
    assert right.json()["data"]["user_id"] == str(existing.user_id)
    assert (await token_for(identity, existing, admin.organization_id)).count(".") == 2


async def test_guessing_an_accounts_password_through_an_invitation_locks_like_a_login(
    identity: Client,
    identity_engine: AsyncEngine,
    smtp_server: SmtpCatcher,
) -> None:
    """ADR 0331: the accept endpoint checked an existing account's password with no lock, so a
    link's holder could guess it without end; it now shares the login's back-off."""
    admin = await new_member(identity_engine, roles=["admin"])
    existing = await new_member(identity_engine)
    assert (await _invite(identity, admin, existing.email, ["viewer"])).status_code == 202
    token = smtp_server.wait_for(existing.email)[0].query_value("token")
    for _ in range(5):
        guess = await identity.post(ACCEPT, json={"token": token, "password": "a-guess-123"})
        assert guess.status_code == 401
    locked = await identity.post(ACCEPT, json={"token": token, "password": existing.password})
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "rate_limited"
    login = await identity.post(
        "/api/v1/auth/login", json={"email": existing.email, "password": existing.password}
    )
    assert login.status_code == 429  # one lock for the account, wherever it is guessed


async def test_a_new_address_accepts_once_through_the_mailed_link(
    identity: Client,
    identity_engine: AsyncEngine,
    smtp_server: SmtpCatcher,
    database: ProvisionedDatabase,
) -> None:
    admin = await new_member(identity_engine, roles=["admin"])
    email = _address()
    invited = await _invite(identity, admin, email, ["breeder"])
    [mail] = smtp_server.wait_for(email)
    assert mail.subject == f"Invitation to Org {admin.organization_id.hex[:8]} on Bijmantra"
    [link] = mail.links()
    assert link.startswith(INVITATION_URL + "?token=")
    token = mail.query_value("token")
    # Only the hash is stored; the token is in no event.
    [(stored,)] = await _owner_rows(
        database, "SELECT token_hash FROM identity.invitations WHERE id = :id",
        id=invited.json()["data"]["id"],
    )  # fmt: skip
    assert bytes(stored) == hashlib.sha256(token.encode()).digest()
    assert all(token not in repr(e) for e in await outbox(database, admin.organization_id))

    page = await identity.get(ACCEPT, params={"token": token})
    assert page.status_code == 200
    assert 'name="token"' in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    short = await identity.post(ACCEPT + "-form", data={"token": token, "password": "short"})
    assert short.status_code == 400
    done = await identity.post(
        ACCEPT + "-form",
        data={"token": token, "password": "a-long-new-password", "display_name": "New Breeder"},
    )
    assert done.status_code == 200, done.text
    replay = await identity.post(ACCEPT, json={"token": token, "password": "another-long-pw"})
    assert replay.status_code == 401
    login = await identity.post(
        "/api/v1/auth/login", json={"email": email, "password": "a-long-new-password"}
    )
    assert login.json()["data"]["roles"] == ["breeder"]
    types = [e.type for e in await outbox(database, admin.organization_id)]
    assert types == [
        "tenancy.invitation.created",
        "tenancy.user.registered",
        "tenancy.member.added",
        "tenancy.invitation.accepted",
    ]


async def test_bad_invitations_change_nothing_and_a_revoked_one_cannot_be_accepted(
    identity: Client, identity_engine: AsyncEngine, smtp_server: SmtpCatcher
) -> None:
    admin = await new_member(identity_engine, roles=["admin"])
    token = await token_for(identity, admin)
    base = f"/api/v1/organizations/{admin.organization_id}"
    for email in ("a@b.test\r\nBcc: x@evil.test", "no-at-sign", "a@" + "b" * 400 + ".org", ""):
        bad = await identity.post(
            base + "/members", json={"email": email, "roles": ["viewer"]}, headers=bearer(token)
        )
        assert bad.status_code == 422, email
    viewer = await new_member(identity_engine, organization_id=admin.organization_id)
    lower_role = await identity.post(
        base + "/members",
        json={"email": _address(), "roles": ["admin"]},
        headers=bearer(await token_for(identity, viewer)),
    )
    assert lower_role.status_code == 403
    assert smtp_server.messages_to("x@evil.test") == []
    listed = await identity.get(base + "/invitations", headers=bearer(token))
    assert listed.json()["data"] == []

    email = _address()
    invitation_id = (await _invite(identity, admin, email, ["viewer"])).json()["data"]["id"]
    link_token = smtp_server.wait_for(email)[0].query_value("token")
    revoked = await identity.delete(f"{base}/invitations/{invitation_id}", headers=bearer(token))
    assert revoked.status_code == 204
    late = await identity.post(ACCEPT, json={"token": link_token, "password": "long-enough-pw"})
    assert late.status_code == 401
    forged = f"{admin.organization_id.hex}.{'A' * 43}"
    assert (
        await identity.post(ACCEPT, json={"token": forged, "password": "x" * 12})
    ).status_code == 401


class _Clock:
    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def now(self) -> datetime:
        return self.at


async def test_a_refused_send_is_retried_later_with_a_link_that_works(
    identity_engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    admin = await new_member(identity_engine, roles=["admin"])
    tenancy = tenancy_unit_of_work_factory(identity_engine)
    clock = _Clock()
    principal = Principal(str(admin.user_id), TenantId(admin.organization_id), frozenset({"admin"}))
    email = _address()
    invitation = await InviteMember(tenancy, clock)(
        principal, admin.organization_id, email, ["viewer"]
    )
    sender = RecordingEmailSender()
    sender.fail_next = 1
    deliver = DeliverInvitations(
        tenancy, PostgresDueInvitations(identity_engine), sender, INVITATION_URL, clock
    )

    async def delivered() -> int:
        await deliver.run_once(limit=500)  # other tests' offers may be due too
        return len(sender.to(email))

    await deliver.run_once(limit=500)
    [(attempts, sent_at)] = await _owner_rows(
        database, "SELECT send_attempts, sent_at FROM identity.invitations WHERE id = :id",
        id=invitation.id,
    )  # fmt: skip
    assert (attempts, sent_at, sender.to(email)) == (1, None, [])
    assert await delivered() == 0  # not due again before the back-off
    clock.at += timedelta(seconds=3)
    assert await delivered() == 1
    assert await delivered() == 1  # sent once, never again
    [(token_hash,)] = await _owner_rows(
        database, "SELECT token_hash FROM identity.invitations WHERE id = :id", id=invitation.id
    )
    link_token = sender.to(email)[0].text.split("token=")[1].split()[0]
    assert bytes(token_hash) == hashlib.sha256(link_token.encode()).digest()


async def test_an_organization_sends_a_bounded_number_of_invitations_a_day(
    identity_engine: AsyncEngine,
) -> None:
    """Any user may found an organization and invite any address, and a re-invitation mails
    again: unbounded, one admin mailed one victim 1,200 times a minute (the write rate
    limit), under a subject naming an organization they had named (ADR 0335)."""
    admin = await new_member(identity_engine, roles=["admin"])
    tenancy = tenancy_unit_of_work_factory(identity_engine)
    clock = _Clock()
    principal = Principal(str(admin.user_id), TenantId(admin.organization_id), frozenset({"admin"}))
    invite = InviteMember(tenancy, clock, limit=5)
    victim = _address()
    for _ in range(4):
        await invite(principal, admin.organization_id, victim, ["viewer"])
        clock.at += timedelta(minutes=1)
    await invite(principal, admin.organization_id, _address(), ["viewer"])
    with pytest.raises(RateLimited) as refused:
        await invite(principal, admin.organization_id, victim, ["viewer"])
    [wait] = refused.value.details
    assert int(wait.message) == 24 * 3600 - 4 * 60  # the first leaves the day 4 minutes on
    clock.at += timedelta(days=1)
    await invite(principal, admin.organization_id, victim, ["viewer"])
    other = await new_member(identity_engine, roles=["admin"])
    theirs = Principal(str(other.user_id), TenantId(other.organization_id), frozenset({"admin"}))
    await InviteMember(tenancy, clock, limit=5)(theirs, other.organization_id, victim, ["viewer"])
