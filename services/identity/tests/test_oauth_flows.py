"""Identity over HTTP against real PostgreSQL and Redis: login, refresh rotation with reuse
detection, client credentials, revocation, userinfo, login throttling."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from typing import Any

import pytest
from bijmantra.adapters.grpc.auth import JwtVerifier
from bijmantra.adapters.postgres import create_engine
from bijmantra.adapters.postgres.identity import register_client, register_service_client
from bijmantra.application.tenancy import FIRST_PARTY_CLIENT, hash_secret
from bijmantra.testkit.provision import ProvisionedDatabase
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from .conftest import AUDIENCE, ISSUER, Member, basic, new_member

pytestmark = pytest.mark.integration

Client = AsyncTestClient
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def login(identity: Client, member: Member, password: str | None = None) -> Any:
    return await identity.post(
        "/api/v1/auth/login", json={"email": member.email, "password": password or member.password}
    )


async def refresh(identity: Client, token: str, client_id: str = FIRST_PARTY_CLIENT) -> Any:
    return await identity.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": token, "client_id": client_id},
        headers=FORM,
    )


async def verifier(identity: Client) -> JwtVerifier:
    async def keys() -> dict[str, Any]:
        return (await identity.get("/.well-known/jwks.json")).json()

    return JwtVerifier(keys, issuer=ISSUER, audience=AUDIENCE)


# ---------------------------------------------------------------- login


async def test_login_returns_access_and_refresh_tokens(identity: Client, member: Member) -> None:
    response = await login(identity, member)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    data = response.json()["data"]
    assert data["token_type"] == "Bearer"
    assert 300 <= data["expires_in"] <= 900
    assert data["organization_id"] == str(member.organization_id)
    assert data["roles"] == ["breeder"]
    assert data["refresh_token"].startswith(member.organization_id.hex + ".")
    principal = await (await verifier(identity)).verify(data["access_token"])
    assert principal.subject == str(member.user_id)
    assert principal.tenant_id == member.organization_id


async def test_refresh_tokens_are_stored_only_as_hashes(
    identity: Client, member: Member, database: ProvisionedDatabase
) -> None:
    token = (await login(identity, member)).json()["data"]["refresh_token"]
    owner = create_engine(database.owner_url, pool_size=1)
    try:
        async with owner.connect() as conn:
            stored = (
                (
                    await conn.execute(
                        text("SELECT token_hash FROM identity.refresh_tokens WHERE tenant_id = :t"),
                        {"t": member.organization_id},
                    )
                )
                .scalars()
                .all()
            )
    finally:
        await owner.dispose()
    assert [bytes(h) for h in stored] == [hash_secret(token)]


async def test_unknown_user_and_wrong_password_get_the_same_answer(
    identity: Client, member: Member
) -> None:
    wrong = await login(identity, member, password="not-the-password")
    unknown = await identity.post(
        "/api/v1/auth/login",
        json={"email": f"nobody-{uuid.uuid4().hex}@example.org", "password": "x"},
    )
    assert wrong.status_code == unknown.status_code == 401
    strip = lambda r: {k: v for k, v in r.json().items() if k != "meta"}  # noqa: E731
    assert strip(wrong) == strip(unknown)


# ---------------------------------------------------------------- refresh rotation


async def test_refresh_rotates_the_refresh_token(identity: Client, member: Member) -> None:
    first = (await login(identity, member)).json()["data"]["refresh_token"]
    response = await refresh(identity, first)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    second = body["refresh_token"]
    assert second != first
    principal = await (await verifier(identity)).verify(body["access_token"])
    assert principal.tenant_id == member.organization_id
    assert principal.roles == frozenset({"breeder"})
    third = await refresh(identity, second)
    assert third.status_code == 200, third.text


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(
    identity: Client, member: Member
) -> None:
    first = (await login(identity, member)).json()["data"]["refresh_token"]
    second = (await refresh(identity, first)).json()["refresh_token"]

    reuse = await refresh(identity, first)
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"

    # The legitimate holder's newest token is dead too: the family is revoked.
    after = await refresh(identity, second)
    assert after.status_code == 400
    assert after.json()["error"] == "invalid_grant"

    # A new login starts a new, independent family.
    fresh = (await login(identity, member)).json()["data"]["refresh_token"]
    assert (await refresh(identity, fresh)).status_code == 200


async def test_concurrent_refreshes_of_one_token_rotate_it_at_most_once(
    identity: Client, member: Member
) -> None:
    token = (await login(identity, member)).json()["data"]["refresh_token"]
    responses = await asyncio.gather(*(refresh(identity, token) for _ in range(5)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) <= 1
    assert all(s in (200, 400) for s in statuses)


async def test_unknown_and_forged_refresh_tokens_are_rejected(
    identity: Client, member: Member
) -> None:
    genuine = (await login(identity, member)).json()["data"]["refresh_token"]
    other_tenant = uuid.uuid4().hex + "." + genuine.split(".", 1)[1]
    for token in [
        "nope",
        genuine + "x",
        other_tenant,
        f"{member.organization_id.hex}.{secrets.token_urlsafe(32)}",
    ]:
        response = await refresh(identity, token)
        assert response.status_code == 400, token
        assert response.json()["error"] == "invalid_grant"
    assert (await refresh(identity, genuine)).status_code == 200


async def test_refresh_token_of_one_client_is_refused_to_another_and_the_family_revoked(
    identity: Client, member: Member, identity_engine: AsyncEngine
) -> None:
    client_id, secret = await machine_client(
        identity_engine, member.organization_id, grants=["refresh_token"]
    )
    token = (await login(identity, member)).json()["data"]["refresh_token"]
    stolen = await identity.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": token},
        headers={**FORM, **basic(client_id, secret)},
    )
    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"
    assert (await refresh(identity, token)).status_code == 400


async def test_refresh_stops_when_the_membership_is_gone(
    identity: Client, member: Member, identity_engine: AsyncEngine
) -> None:
    token = (await login(identity, member)).json()["data"]["refresh_token"]
    async with identity_engine.begin() as conn:
        await conn.execute(
            text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(member.organization_id)}
        )
        await conn.execute(
            text("DELETE FROM identity.memberships WHERE user_id = :u"), {"u": member.user_id}
        )
    response = await refresh(identity, token)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_refresh_cannot_widen_the_scope(identity: Client, member: Member) -> None:
    token = (await login(identity, member)).json()["data"]["refresh_token"]
    response = await identity.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": token,
            "client_id": FIRST_PARTY_CLIENT,
            "scope": "openid brapi admin",
        },
        headers=FORM,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


async def test_a_refused_scope_does_not_burn_the_refresh_token(
    identity: Client, member: Member, database: ProvisionedDatabase
) -> None:
    """Issue 17 defect 6: the scope is checked before the token is rotated."""
    token = (await login(identity, member)).json()["data"]["refresh_token"]
    for scope in ("openid brapi admin", "x" * 900):
        wider = await identity.post(
            "/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": token,
                  "client_id": FIRST_PARTY_CLIENT, "scope": scope},
            headers=FORM,
        )  # fmt: skip
        assert wider.status_code == 400
        assert wider.json()["error"] == "invalid_scope"
    owner = create_engine(database.owner_url, pool_size=1)
    try:
        async with owner.connect() as conn:
            used = (
                await conn.execute(
                    text("SELECT used_at FROM identity.refresh_tokens WHERE token_hash = :h"),
                    {"h": hash_secret(token)},
                )
            ).scalar_one()
    finally:
        await owner.dispose()
    assert used is None
    # The same token still refreshes (once), and its family was not revoked as reused.
    again = await refresh(identity, token)
    assert again.status_code == 200, again.text
    assert (await refresh(identity, again.json()["refresh_token"])).status_code == 200


# ---------------------------------------------------------------- revocation


async def test_revoking_a_refresh_token_ends_its_family(identity: Client, member: Member) -> None:
    first = (await login(identity, member)).json()["data"]["refresh_token"]
    second = (await refresh(identity, first)).json()["refresh_token"]
    revoked = await identity.post(
        "/oauth/revoke", data={"token": second, "client_id": FIRST_PARTY_CLIENT}, headers=FORM
    )
    assert revoked.status_code == 200
    assert (await refresh(identity, second)).status_code == 400
    # Unknown tokens are accepted silently (RFC 7009 section 2.2).
    unknown = await identity.post(
        "/oauth/revoke", data={"token": "garbage", "client_id": FIRST_PARTY_CLIENT}, headers=FORM
    )
    assert unknown.status_code == 200


async def test_revocation_by_another_client_has_no_effect(
    identity: Client, member: Member, identity_engine: AsyncEngine
) -> None:
    client_id, secret = await machine_client(
        identity_engine, member.organization_id, grants=["refresh_token"]
    )
    token = (await login(identity, member)).json()["data"]["refresh_token"]
    response = await identity.post(
        "/oauth/revoke", data={"token": token}, headers={**FORM, **basic(client_id, secret)}
    )
    assert response.status_code == 200
    assert (await refresh(identity, token)).status_code == 200


# ---------------------------------------------------------------- client credentials


async def machine_client(
    engine: AsyncEngine,
    organization: uuid.UUID,
    *,
    grants: list[str] | None = None,
    roles: list[str] | None = None,
    scope: str = "brapi",
) -> tuple[str, str]:
    client_id, secret = f"svc-{uuid.uuid4().hex[:12]}", secrets.token_urlsafe(32)
    await register_client(
        engine,
        client_id=client_id,
        name="Field scanner",
        tenant_id=organization,
        secret_hash=hash_secret(secret),
        grant_types=grants or ["client_credentials"],
        scope=scope,
        roles=roles or ["data-manager"],
    )
    return client_id, secret


async def client_credentials(identity: Client, headers: dict[str, str], **fields: str) -> Any:
    return await identity.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", **fields},
        headers={**FORM, **headers},
    )


async def test_client_credentials_issue_a_token_for_the_clients_organization(
    identity: Client, member: Member, identity_engine: AsyncEngine
) -> None:
    client_id, secret = await machine_client(identity_engine, member.organization_id)
    response = await client_credentials(identity, basic(client_id, secret))
    assert response.status_code == 200, response.text
    body = response.json()
    assert "refresh_token" not in body
    assert body["scope"] == "brapi"
    principal = await (await verifier(identity)).verify(body["access_token"])
    assert principal.subject == f"client:{client_id}"
    assert principal.tenant_id == member.organization_id
    assert principal.roles == frozenset({"data-manager"})
    # client_secret_post works as well
    post = await client_credentials(identity, {}, client_id=client_id, client_secret=secret)
    assert post.status_code == 200, post.text


async def test_client_credentials_reject_bad_clients(
    identity: Client, member: Member, identity_engine: AsyncEngine
) -> None:
    client_id, secret = await machine_client(identity_engine, member.organization_id)
    wrong = await client_credentials(identity, basic(client_id, secret + "x"))
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    unknown = await client_credentials(identity, basic("no-such-client", secret))
    assert unknown.status_code == 401
    assert unknown.json()["error"] == "invalid_client"
    public = await client_credentials(identity, {}, client_id=FIRST_PARTY_CLIENT)
    assert public.status_code == 400
    assert public.json()["error"] == "unauthorized_client"
    scope = await client_credentials(identity, basic(client_id, secret), scope="brapi admin")
    assert scope.status_code == 400
    assert scope.json()["error"] == "invalid_scope"
    no_grant_id, no_grant_secret = await machine_client(
        identity_engine, member.organization_id, grants=["refresh_token"]
    )
    no_grant = await client_credentials(identity, basic(no_grant_id, no_grant_secret))
    assert no_grant.status_code == 400
    assert no_grant.json()["error"] == "unauthorized_client"


async def test_an_organization_client_cannot_mint_a_token_for_another_organization(
    identity: Client, member: Member, identity_engine: AsyncEngine
) -> None:
    client_id, secret = await machine_client(identity_engine, member.organization_id)
    other = await new_member(identity_engine)
    refused = await client_credentials(
        identity, basic(client_id, secret), organization_id=str(other.organization_id)
    )
    assert refused.status_code == 400
    assert refused.json()["error"] == "unauthorized_client"
    malformed = await client_credentials(identity, basic(client_id, secret), organization_id="x")
    assert malformed.json()["error"] == "invalid_request"
    own = await client_credentials(
        identity, basic(client_id, secret), organization_id=str(member.organization_id)
    )
    assert own.status_code == 200, own.text
    principal = await (await verifier(identity)).verify(own.json()["access_token"])
    assert principal.tenant_id == member.organization_id


async def test_the_platform_worker_client_acts_for_the_named_organization_only_as_analysis_worker(
    identity: Client, member: Member, identity_engine: AsyncEngine
) -> None:
    client_id, secret = f"worker-{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(32)
    await register_service_client(
        identity_engine,
        client_id=client_id,
        name="worker",
        secret_hash=hash_secret(secret),
        roles=["analysis-worker"],
    )
    other = await new_member(identity_engine)
    for organization in (member.organization_id, other.organization_id):
        response = await client_credentials(
            identity, basic(client_id, secret), organization_id=str(organization)
        )
        assert response.status_code == 200, response.text
        principal = await (await verifier(identity)).verify(response.json()["access_token"])
        assert principal.tenant_id == organization
        assert principal.roles == frozenset({"analysis-worker"})
        assert principal.subject == f"service:{client_id}"
    unnamed = await client_credentials(identity, basic(client_id, secret))
    assert unnamed.status_code == 400
    assert unnamed.json()["error"] == "invalid_request"
    unknown = await client_credentials(
        identity, basic(client_id, secret), organization_id=str(uuid.uuid4())
    )
    assert unknown.json()["error"] == "invalid_request"
    wrong = await client_credentials(
        identity, basic(client_id, secret + "x"), organization_id=str(member.organization_id)
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    assert "access_token" not in wrong.json()


async def test_a_platform_client_is_limited_to_the_service_role_by_the_database(
    identity_engine: AsyncEngine, member: Member
) -> None:
    with pytest.raises(Exception, match="oauth_clients_platform_shape"):
        await register_service_client(
            identity_engine,
            client_id=f"worker-{uuid.uuid4().hex[:8]}",
            name="worker",
            secret_hash=hash_secret("s" * 32),
            roles=["admin"],
        )
    # nor can an organization's existing client be turned into a platform client
    client_id, _ = await machine_client(identity_engine, member.organization_id)
    with pytest.raises(ValueError, match="belongs to an organization"):
        await register_service_client(
            identity_engine,
            client_id=client_id,
            name="worker",
            secret_hash=hash_secret("s" * 32),
            roles=["analysis-worker"],
        )


async def test_token_endpoint_rejects_malformed_requests(identity: Client) -> None:
    unsupported = await identity.post("/oauth/token", data={"grant_type": "password"}, headers=FORM)
    assert unsupported.status_code == 400
    assert unsupported.json()["error"] == "unsupported_grant_type"
    missing = await identity.post("/oauth/token", data={}, headers=FORM)
    assert missing.json()["error"] == "invalid_request"
    as_json = await identity.post("/oauth/token", json={"grant_type": "client_credentials"})
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"


# ---------------------------------------------------------------- userinfo


async def test_userinfo_describes_the_token_holder(identity: Client, member: Member) -> None:
    access = (await login(identity, member)).json()["data"]["access_token"]
    response = await identity.get("/userinfo", headers={"Authorization": f"Bearer {access}"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["sub"] == str(member.user_id)
    assert body["tid"] == str(member.organization_id)
    assert body["email"] == member.email
    assert (await identity.get("/userinfo")).status_code == 401
    tampered = access[:-4] + ("AAAA" if not access.endswith("AAAA") else "BBBB")
    assert (
        await identity.get("/userinfo", headers={"Authorization": f"Bearer {tampered}"})
    ).status_code == 401


async def test_discovery_lists_the_endpoints(identity: Client) -> None:
    config = (await identity.get("/.well-known/openid-configuration")).json()
    assert config["token_endpoint"] == f"{ISSUER}/oauth/token"
    assert config["revocation_endpoint"] == f"{ISSUER}/oauth/revoke"
    assert config["userinfo_endpoint"] == f"{ISSUER}/userinfo"
    assert {"openid", "profile", "email"} <= set(config["scopes_supported"])
    assert config["response_types_supported"] == ["code"]
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert config["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {"nonce", "at_hash", "auth_time", "tid"} <= set(config["claims_supported"])


# ---------------------------------------------------------------- throttling


async def test_failed_logins_lock_the_account_with_back_off(
    identity: Client, member: Member
) -> None:
    for _ in range(5):
        assert (await login(identity, member, password="wrong")).status_code == 401
    locked = await login(identity, member, password="wrong")
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) >= 1
    # Even the right password is not checked while the account is locked.
    right = await login(identity, member)
    assert right.status_code == 429
    assert right.json()["error"]["code"] == "rate_limited"


async def test_unknown_accounts_lock_exactly_like_real_ones(
    identity: Client, member: Member
) -> None:
    ghost = Member(
        member.organization_id, uuid.uuid4(), f"ghost-{uuid.uuid4().hex}@example.org", "x"
    )
    answers = {}
    for who in (member, ghost):
        statuses = [(await login(identity, who, password="wrong")).status_code for _ in range(7)]
        answers[who.email] = statuses
    assert answers[member.email] == answers[ghost.email] == [401] * 5 + [429] * 2


async def test_other_accounts_are_not_locked_by_one_accounts_failures(
    identity: Client, member: Member, identity_engine: AsyncEngine
) -> None:
    for _ in range(6):
        await login(identity, member, password="wrong")
    other = await new_member(identity_engine)
    assert (await login(identity, other)).status_code == 200


async def test_new_tables_with_tenant_id_force_row_level_security(
    database: ProvisionedDatabase,
) -> None:
    owner = create_engine(database.owner_url, pool_size=1)
    try:
        async with owner.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' "
                        "WHERE n.nspname = 'identity' AND c.relkind = 'r'"
                    )
                )
            ).all()
    finally:
        await owner.dispose()
    tables = {r[0]: (r[1], r[2]) for r in rows}
    for table in (
        "oauth_clients",
        "refresh_token_families",
        "refresh_tokens",
        "authorization_codes",
        "memberships",
    ):
        assert tables[table] == (True, True), table
