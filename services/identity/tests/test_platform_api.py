"""Platform API over HTTP against real PostgreSQL: organizations, members, invitations,
users/me; permissions from the application layer; identity events in ``identity.outbox``."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import msgspec
import pytest
from bijmantra.adapters.nats import connect, ensure_stream
from bijmantra.adapters.postgres import create_engine
from bijmantra.application.events import decode_envelope
from bijmantra.identity.config import Settings
from bijmantra.identity.production import create_app
from bijmantra.testkit.mail import SmtpCatcher
from bijmantra.testkit.provision import ProvisionedDatabase
from bijmantra.testkit.servers import free_port
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from .conftest import AUDIENCE, ISSUER, Member, new_member

pytestmark = pytest.mark.integration

Client = AsyncTestClient
NIL_TENANT = "00000000-0000-0000-0000-000000000000"


async def token_for(identity: Client, member: Member, organization: uuid.UUID | None = None) -> str:
    response = await identity.post(
        "/api/v1/auth/login",
        json={
            "email": member.email,
            "password": member.password,
            "organizationId": str(organization or member.organization_id),
        },
    )
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def outbox(database: ProvisionedDatabase, tenant: uuid.UUID | str) -> list[Any]:
    owner = create_engine(database.owner_url, pool_size=1)
    try:
        async with owner.connect() as conn:
            rows = (
                (
                    await conn.execute(
                        text(
                            "SELECT envelope FROM identity.outbox WHERE tenant_id = :t ORDER BY seq"
                        ),
                        {"t": str(tenant)},
                    )
                )
                .scalars()
                .all()
            )
    finally:
        await owner.dispose()
    return [decode_envelope(bytes(r)) for r in rows]


@pytest.fixture
async def admin(identity_engine: AsyncEngine) -> Member:
    return await new_member(identity_engine, roles=["admin"])


async def test_a_user_founds_an_organization_and_becomes_its_admin(
    identity: Client, admin: Member, database: ProvisionedDatabase
) -> None:
    token = await token_for(identity, admin)
    name = f"Seed Bank {uuid.uuid4().hex[:6]}"
    created = await identity.post(
        "/api/v1/organizations", json={"name": name}, headers=bearer(token)
    )
    assert created.status_code == 201, created.text
    body = created.json()
    org = uuid.UUID(body["data"]["id"])
    assert body["data"]["name"] == name
    assert body["meta"]["request_id"]
    links = {
        "self": f"/api/v1/organizations/{org}",
        "members": f"/api/v1/organizations/{org}/members",
    }
    assert body["links"] == links

    new_token = await token_for(identity, admin, org)
    fetched = await identity.get(f"/api/v1/organizations/{org}", headers=bearer(new_token))
    assert fetched.status_code == 200
    assert fetched.json()["data"]["name"] == name
    assert fetched.json()["links"] == links
    members = (
        await identity.get(f"/api/v1/organizations/{org}/members", headers=bearer(new_token))
    ).json()["data"]
    assert [(m["user_id"], m["roles"]) for m in members] == [(str(admin.user_id), ["admin"])]

    events = await outbox(database, org)
    assert [e.type for e in events] == ["tenancy.organization.created", "tenancy.member.added"]
    assert events[1].subject == str(admin.user_id)
    assert events[1].actor == str(admin.user_id)


async def test_another_organizations_name_is_not_revealed_by_a_conflict(
    identity: Client, admin: Member, identity_engine: AsyncEngine
) -> None:
    """Names are labels (ADR 0325): a 409 for a name held elsewhere told any signed-in user
    which organizations exist. Founding or renaming to a taken name succeeds like any other."""
    stranger = await new_member(identity_engine, roles=["admin"])
    taken = f"Seed Bank {uuid.uuid4().hex[:6]}"
    founded = await identity.post(
        "/api/v1/organizations",
        json={"name": taken},
        headers=bearer(await token_for(identity, admin)),
    )
    assert founded.status_code == 201, founded.text
    stranger_token = await token_for(identity, stranger)
    same = await identity.post(
        "/api/v1/organizations", json={"name": taken}, headers=bearer(stranger_token)
    )
    assert same.status_code == 201, same.text
    assert same.json()["data"]["id"] != founded.json()["data"]["id"]
    renamed = await identity.patch(
        f"/api/v1/organizations/{stranger.organization_id}",
        json={"name": taken},
        headers=bearer(stranger_token),
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["data"]["name"] == taken


async def test_members_are_invited_changed_and_removed_with_events(
    identity: Client,
    admin: Member,
    identity_engine: AsyncEngine,
    database: ProvisionedDatabase,
    smtp_server: SmtpCatcher,
) -> None:
    other = await new_member(identity_engine)  # an existing user of another organization
    token = await token_for(identity, admin)
    base = f"/api/v1/organizations/{admin.organization_id}/members"
    invited = await identity.post(
        base, json={"email": other.email.upper(), "roles": ["viewer"]}, headers=bearer(token)
    )
    assert invited.status_code == 202, invited.text
    invitation_id = invited.json()["data"]["id"]
    # The existing account accepts with the mailed link and its own password.
    [mail] = smtp_server.wait_for(other.email)
    accepted = await identity.post(
        "/api/v1/auth/invitations/accept",
        json={"token": mail.query_value("token"), "password": other.password},
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["data"]["user_id"] == str(other.user_id)
    again = await identity.post(
        base, json={"email": other.email, "roles": ["viewer"]}, headers=bearer(token)
    )
    assert again.status_code == 409

    # The invited user now chooses between two organizations; a token names exactly one.
    ambiguous = await identity.post(
        "/api/v1/auth/login", json={"email": other.email, "password": other.password}
    )
    assert ambiguous.status_code == 422
    member_token = await token_for(identity, other, admin.organization_id)
    refresh = (
        await identity.post(
            "/api/v1/auth/login",
            json={
                "email": other.email,
                "password": other.password,
                "organizationId": str(admin.organization_id),
            },
        )
    ).json()["data"]["refresh_token"]

    changed = await identity.patch(
        f"{base}/{other.user_id}", json={"roles": ["breeder"]}, headers=bearer(token)
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["roles"] == ["breeder"]
    # The role change revoked the tokens issued before it (issue 17, defect 7): a new one.
    assert (await identity.get(base, headers=bearer(member_token))).status_code == 401
    await asyncio.sleep(1.1)  # tokens of the very second of the change count as before it
    member_token = await token_for(identity, other, admin.organization_id)

    # A non-admin member may read but not administer.
    assert (await identity.get(base, headers=bearer(member_token))).status_code == 200
    forbidden = await identity.delete(f"{base}/{admin.user_id}", headers=bearer(member_token))
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "forbidden"

    removed = await identity.delete(f"{base}/{other.user_id}", headers=bearer(token))
    assert removed.status_code == 204
    listed = (await identity.get(base, headers=bearer(token))).json()["data"]
    assert [m["user_id"] for m in listed] == [str(admin.user_id)]
    # Their sessions in this organization end with the membership.
    after = await identity.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "client_id": "bijmantra-first-party",
        },
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert after.status_code == 400

    events = [(e.type, e.subject) for e in await outbox(database, admin.organization_id)]
    assert events == [
        ("tenancy.invitation.created", invitation_id),
        ("tenancy.member.added", str(other.user_id)),
        ("tenancy.invitation.accepted", str(other.user_id)),
        ("tenancy.member.role_changed", str(other.user_id)),
        ("tenancy.member.removed", str(other.user_id)),
    ]


async def test_an_organization_keeps_at_least_one_admin(identity: Client, admin: Member) -> None:
    token = await token_for(identity, admin)
    base = f"/api/v1/organizations/{admin.organization_id}/members/{admin.user_id}"
    demote = await identity.patch(base, json={"roles": ["viewer"]}, headers=bearer(token))
    assert demote.status_code == 409
    assert (await identity.delete(base, headers=bearer(token))).status_code == 409
    members = (
        await identity.get(
            f"/api/v1/organizations/{admin.organization_id}/members", headers=bearer(token)
        )
    ).json()
    assert members["data"][0]["roles"] == ["admin"]


async def test_a_token_of_another_organization_is_401_and_bad_input_changes_nothing(
    identity: Client, admin: Member, identity_engine: AsyncEngine
) -> None:
    stranger = await new_member(identity_engine, roles=["admin"])
    token = await token_for(identity, admin)
    for organization in (stranger.organization_id, uuid.uuid4()):  # existing or not: same answer
        theirs = f"/api/v1/organizations/{organization}"
        for response in (
            await identity.get(theirs, headers=bearer(token)),
            await identity.get(theirs + "/members", headers=bearer(token)),
            await identity.patch(theirs, json={"name": "Hijacked"}, headers=bearer(token)),
            await identity.delete(f"{theirs}/members/{stranger.user_id}", headers=bearer(token)),
        ):
            assert response.status_code == 401, response.text
            assert response.json()["error"]["code"] == "unauthorized"
    ours = f"/api/v1/organizations/{admin.organization_id}"
    for body in ({"name": ""}, {"name": "x" * 201}, {"title": "x"}, {"name": 3}):
        bad = await identity.patch(ours, json=body, headers=bearer(token))
        assert bad.status_code == 422, body
        assert bad.json()["error"]["code"] == "validation"
    for roles in (["root"], ["analysis-worker"]):  # a service-client role is never a member's
        bad_roles = await identity.post(
            ours + "/members", json={"email": "a@b.org", "roles": roles}, headers=bearer(token)
        )
        assert bad_roles.status_code == 422, roles
    malformed = await identity.patch(
        ours, content=b"{nope", headers={**bearer(token), "content-type": "application/json"}
    )
    assert malformed.status_code == 400, malformed.text  # unreadable: 400, not 422
    assert malformed.json()["error"]["code"] == "malformed"
    assert (
        await identity.get(ours + "/members/not-a-uuid", headers=bearer(token))
    ).status_code in (404, 405)
    assert (await identity.get(ours)).status_code == 401
    unchanged = (await identity.get(ours, headers=bearer(token))).json()["data"]["name"]
    assert unchanged == f"Org {admin.organization_id.hex[:8]}"


async def test_users_me_describes_the_caller_and_their_organizations(
    identity: Client, admin: Member
) -> None:
    token = await token_for(identity, admin)
    me = await identity.get("/api/v1/users/me", headers=bearer(token))
    assert me.status_code == 200, me.text
    data = me.json()["data"]
    assert data["id"] == str(admin.user_id)
    assert data["email"] == admin.email
    assert data["organization_id"] == str(admin.organization_id)
    assert data["roles"] == ["admin"]
    assert [o["id"] for o in data["organizations"]] == [str(admin.organization_id)]
    assert (await identity.get("/api/v1/users/me", headers=bearer(token + "x"))).status_code == 401


async def test_failed_logins_and_refresh_token_reuse_are_identity_events(
    identity: Client, admin: Member, database: ProvisionedDatabase
) -> None:
    wrong = await identity.post(
        "/api/v1/auth/login", json={"email": admin.email, "password": "wrong-password"}
    )
    assert wrong.status_code == 401
    failures = [e for e in await outbox(database, NIL_TENANT) if e.subject == str(admin.user_id)]
    assert [e.type for e in failures] == ["tenancy.login.failed"]
    assert admin.email not in msgspec.json.encode(failures[0]).decode()

    first = (
        await identity.post(
            "/api/v1/auth/login", json={"email": admin.email, "password": admin.password}
        )
    ).json()["data"]["refresh_token"]
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    fields = {"grant_type": "refresh_token", "client_id": "bijmantra-first-party"}
    assert (
        await identity.post("/oauth/token", data={**fields, "refresh_token": first}, headers=form)
    ).status_code == 200
    assert (
        await identity.post("/oauth/token", data={**fields, "refresh_token": first}, headers=form)
    ).status_code == 400
    [reuse] = [
        e
        for e in await outbox(database, admin.organization_id)
        if e.type.endswith("reuse_detected")
    ]
    assert reuse.subject == str(admin.user_id)
    assert reuse.data["client_id"] == "bijmantra-first-party"


async def test_identity_events_are_relayed_to_jetstream(
    database: ProvisionedDatabase,
    nats_url: str,
    limiter_redis_url: str,
    identity_engine: AsyncEngine,
) -> None:
    admin = await new_member(identity_engine, roles=["admin"])
    settings = Settings(
        database_url=database.identity_url,
        issuer=ISSUER,
        audience=AUDIENCE,
        grpc_port=free_port(),
        redis_url=limiter_redis_url,
        nats_url=nats_url,
    )
    nc = await connect(nats_url, name="identity-test")
    js = nc.jetstream()
    await ensure_stream(js)
    subscription = await js.subscribe(
        "bijmantra.events.tenancy.organization.created", ordered_consumer=True
    )
    try:
        async with AsyncTestClient(
            app=create_app(settings), base_url="https://identity.test"
        ) as identity:
            token = await token_for(identity, admin)
            name = f"Relayed {uuid.uuid4().hex[:8]}"
            created = await identity.post(
                "/api/v1/organizations", json={"name": name}, headers=bearer(token)
            )
            assert created.status_code == 201
            organization = created.json()["data"]["id"]
            seen = None
            while seen is None:  # bounded by the timeout of next_msg
                message = await subscription.next_msg(timeout=30)
                candidate = decode_envelope(message.data)
                if candidate.tenant_id == organization:
                    seen = candidate
    finally:
        await subscription.unsubscribe()
        await nc.close()
    assert seen.data == {"name": name}
    assert seen.source == "identity"
    assert message.headers is not None
    assert message.headers.get("Nats-Msg-Id") == seen.id
