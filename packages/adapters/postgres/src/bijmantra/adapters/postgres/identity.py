"""Identity's tables: users, memberships (RLS by tenant or by the acting user), signing keys,
OAuth clients, refresh-token families."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bijmantra.adapters.postgres.engine import opened_transaction
from bijmantra.adapters.postgres.rows import parameters, record
from bijmantra.adapters.postgres.tenancy import write_identity_events
from bijmantra.adapters.postgres.uow import tenant_transaction
from bijmantra.application.tenancy import (
    Membership,
    OAuthClient,
    Refresh,
    RefreshFamily,
    Rotation,
    RotationResult,
    UserRecord,
)
from bijmantra.application.tenancy.authorization import AuthorizationCode
from bijmantra.kernel import TenantId
from sqlalchemy import CursorResult, TextClause, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

_USER_BY_EMAIL = text(
    "SELECT id, email, display_name, password_hash FROM identity.users "
    "WHERE lower(email) = lower(:email)"
)
_USER_BY_ID = text(
    "SELECT id, email, display_name, password_hash FROM identity.users WHERE id = :id"
)


async def _in_tenant(
    engine: AsyncEngine, tenant_id: TenantId, sql: str, params: Mapping[str, Any]
) -> CursorResult[Any]:
    """One statement in a transaction of its own, under the tenant's row-level security (the
    answer is read in full before the transaction ends)."""
    async with tenant_transaction(engine, tenant_id) as conn:
        return await conn.execute(text(sql), params)


async def _as_client(
    engine: AsyncEngine, client_id: str, sql: str, params: Mapping[str, Any]
) -> CursorResult[Any]:
    """One statement in a transaction of its own as the OAuth client ``client_id`` (the
    ``app.client_id`` setting the clients' row-level security reads)."""
    setting = select(func.set_config("app.client_id", client_id, True))
    async with opened_transaction(engine, lambda conn: conn.execute(setting)) as (conn, _):
        return await conn.execute(text(sql), params)


class PostgresUserDirectory:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def _user(self, query: TextClause, params: dict[str, Any]) -> UserRecord | None:
        async def read(conn: AsyncConnection) -> UserRecord | None:
            row = (await conn.execute(query, params)).one_or_none()
            return None if row is None else UserRecord(*row)

        async with opened_transaction(self._engine, read) as (_, user):
            return user

    async def find_by_email(self, email: str) -> UserRecord | None:
        return await self._user(_USER_BY_EMAIL, {"email": email})

    async def find_by_id(self, user_id: uuid.UUID) -> UserRecord | None:
        return await self._user(_USER_BY_ID, {"id": user_id})

    async def memberships(self, user_id: uuid.UUID) -> list[Membership]:
        setting = select(func.set_config("app.user_id", str(user_id), True))
        async with opened_transaction(self._engine, lambda c: c.execute(setting)) as (conn, _):
            rows = (
                await conn.execute(
                    text(
                        "SELECT m.tenant_id, o.name, m.roles FROM identity.memberships m "
                        "JOIN identity.organizations o ON o.id = m.tenant_id "
                        "WHERE m.user_id = :user ORDER BY o.name"
                    ),
                    {"user": user_id},
                )
            ).all()
        return [Membership(TenantId(r[0]), r[1], frozenset(r[2])) for r in rows]


_ACTIVE_KEYS = text(
    "SELECT kid, private_key_pem, created_at FROM identity.signing_keys "
    "WHERE retired_at IS NULL ORDER BY created_at DESC, kid"
)
_RETIRE_ALL_BUT_NEWEST = text(
    "UPDATE identity.signing_keys SET retired_at = now() WHERE retired_at IS NULL "
    "AND kid NOT IN (SELECT kid FROM identity.signing_keys WHERE retired_at IS NULL "
    "ORDER BY created_at DESC, kid LIMIT :keep) RETURNING kid"
)
_ADD_KEY = text(
    "INSERT INTO identity.signing_keys (kid, algorithm, private_key_pem, public_jwk) "
    "VALUES (:kid, :alg, :pem, CAST(:jwk AS jsonb))"
)


class PostgresSigningKeys:
    """Signing keys in the identity schema; every unretired key is published in the JWKS."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def active(self) -> list[tuple[str, str, datetime]]:
        """(kid, private PEM, created at) of every unretired key, newest first."""
        # Every replica's periodic reload: opened like a unit of work (ADR 0341, 0346).
        async with opened_transaction(self._engine, lambda c: c.execute(_ACTIVE_KEYS)) as opened:
            rows = opened[1].all()
        return [(r[0], r[1], r[2]) for r in rows]

    async def retire_all_but_newest(self, keep: int) -> list[str]:
        """Retire every unretired key except the ``keep`` newest; return the retired kids."""
        async with opened_transaction(
            self._engine, lambda c: c.execute(_RETIRE_ALL_BUT_NEWEST, {"keep": keep})
        ) as (_, retired):
            return list(retired.scalars())

    async def add(
        self, kid: str, algorithm: str, private_pem: str, public_jwk: Mapping[str, object]
    ) -> None:
        row = {"kid": kid, "alg": algorithm, "pem": private_pem, "jwk": json.dumps(public_jwk)}
        async with opened_transaction(self._engine, lambda c: c.execute(_ADD_KEY, row)):
            pass


async def register_member(
    engine: AsyncEngine,
    *,
    organization_id: uuid.UUID,
    organization_name: str,
    user_id: uuid.UUID,
    email: str,
    display_name: str,
    password_hash: str,
    roles: list[str],
) -> None:
    """Create (or keep) an organization, a user and their membership, in one transaction."""
    tenant = select(func.set_config("app.tenant_id", str(organization_id), True))
    async with opened_transaction(engine, lambda c: c.execute(tenant)) as (conn, _):
        await conn.execute(
            text(
                "INSERT INTO identity.organizations (id, name) VALUES (:id, :name) ON CONFLICT "
                "DO NOTHING"
            ),
            {"id": organization_id, "name": organization_name},
        )
        await conn.execute(
            text(
                "INSERT INTO identity.users (id, email, display_name, password_hash) "
                "VALUES (:id, :email, :name, :hash) ON CONFLICT DO NOTHING"
            ),
            {"id": user_id, "email": email, "name": display_name, "hash": password_hash},
        )
        await conn.execute(
            text(
                "INSERT INTO identity.memberships (tenant_id, user_id, roles) VALUES (:t, :u, :r) "
                "ON CONFLICT (tenant_id, user_id) DO UPDATE SET roles = excluded.roles"
            ),
            {"t": organization_id, "u": user_id, "r": roles},
        )


def _family(row: Any) -> RefreshFamily:
    return RefreshFamily(row[0], TenantId(row[1]), row[2], row[3], row[4], row[5])


class PostgresRefreshTokenStore:
    """Refresh-token families and their tokens (hashed); every statement runs under tenant RLS."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def start_family(
        self, family: RefreshFamily, token_hash: bytes, token_expires_at: datetime
    ) -> None:
        async with tenant_transaction(self._engine, family.tenant_id) as conn:
            await conn.execute(
                text(
                    "INSERT INTO identity.refresh_token_families "
                    "(id, tenant_id, user_id, client_id, scope, expires_at) "
                    "VALUES (:id, :tenant_id, :user_id, :client_id, :scope, :expires_at)"
                ),
                parameters(family),
            )
            await conn.execute(
                text(
                    "INSERT INTO identity.refresh_tokens (token_hash, tenant_id, family_id, "
                    "expires_at) "
                    "VALUES (:hash, :tenant, :family, :expires)"
                ),
                {
                    "hash": token_hash,
                    "tenant": family.tenant_id,
                    "family": family.id,
                    "expires": token_expires_at,
                },
            )

    async def rotate(self, refresh: Refresh) -> RotationResult:
        now = refresh.now
        async with tenant_transaction(self._engine, refresh.tenant_id) as conn:
            # Lock the family row: concurrent refreshes of one family are serialised, so a
            # token can be consumed at most once.
            row = (
                await conn.execute(
                    text(
                        "SELECT f.id, f.tenant_id, f.user_id, f.client_id, f.scope, f.expires_at, "
                        "f.revoked_at, t.used_at, t.expires_at "
                        "FROM identity.refresh_tokens t "
                        "JOIN identity.refresh_token_families f ON f.id = t.family_id "
                        "WHERE t.token_hash = :hash FOR UPDATE OF f, t"
                    ),
                    {"hash": refresh.old_hash},
                )
            ).one_or_none()
            if row is None:
                return RotationResult(Rotation.INVALID)
            family = _family(row)
            revoked_at, used_at, token_expires_at = row[6], row[7], row[8]
            if revoked_at is not None:
                return RotationResult(Rotation.INVALID, family)
            if used_at is not None:
                await conn.execute(
                    text(
                        "UPDATE identity.refresh_token_families SET revoked_at = :now, "
                        "revoked_reason = 'reuse' "
                        "WHERE id = :id"
                    ),
                    {"now": now, "id": family.id},
                )
                await write_identity_events(conn, [refresh.reuse_event(family)])
                return RotationResult(Rotation.REUSED, family)
            if token_expires_at <= now or family.expires_at <= now:
                return RotationResult(Rotation.INVALID, family)
            refresh.check(
                family
            )  # raises before the token is marked used: the transaction rolls back
            await conn.execute(
                text("UPDATE identity.refresh_tokens SET used_at = :now WHERE token_hash = :hash"),
                {"now": now, "hash": refresh.old_hash},
            )
            await conn.execute(
                text(
                    "INSERT INTO identity.refresh_tokens (token_hash, tenant_id, family_id, "
                    "expires_at) "
                    "VALUES (:hash, :tenant, :family, :expires)"
                ),
                {
                    "hash": refresh.new_hash,
                    "tenant": refresh.tenant_id,
                    "family": family.id,
                    "expires": min(refresh.new_expires_at, family.expires_at),
                },
            )
            return RotationResult(Rotation.ROTATED, family)

    async def revoke_family(self, tenant_id: TenantId, family_id: uuid.UUID, reason: str) -> None:
        await _in_tenant(
            self._engine,
            tenant_id,
            "UPDATE identity.refresh_token_families SET revoked_at = now(), "
            "revoked_reason = :reason WHERE id = :id AND revoked_at IS NULL",
            {"id": family_id, "reason": reason},
        )

    async def revoke_family_of(
        self, tenant_id: TenantId, token_hash: bytes, client_id: str, reason: str
    ) -> bool:
        result = await _in_tenant(
            self._engine,
            tenant_id,
            "UPDATE identity.refresh_token_families f SET revoked_at = now(), "
            "revoked_reason = :reason FROM identity.refresh_tokens t "
            "WHERE t.family_id = f.id AND t.token_hash = :hash "
            "AND f.client_id = :client AND f.revoked_at IS NULL",
            {"hash": token_hash, "client": client_id, "reason": reason},
        )
        return bool(result.rowcount)


class PostgresOAuthClients:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def find(self, client_id: str) -> OAuthClient | None:
        found = await _as_client(
            self._engine,
            client_id,
            "SELECT client_id, name, secret_hash, grant_types, redirect_uris, scope, tenant_id, "
            "roles, acts_for_tenants FROM identity.oauth_clients WHERE client_id = :id "
            "AND disabled_at IS NULL",
            {"id": client_id},
        )
        row = found.one_or_none()
        if row is None:
            return None
        return record(
            OAuthClient,
            row,
            secret_hash=None if row.secret_hash is None else bytes(row.secret_hash),
            grant_types=frozenset(row.grant_types),
            redirect_uris=tuple(row.redirect_uris),
            scope=frozenset(row.scope.split()),
            roles=frozenset(row.roles),
        )

    async def exists(self, tenant_id: TenantId) -> bool:
        """Implements ``KnownOrganizations``: a platform client may act only for a real one."""
        found = await _in_tenant(
            self._engine,
            tenant_id,
            "SELECT 1 FROM identity.organizations WHERE id = :id",
            {"id": tenant_id},
        )
        return found.first() is not None


async def register_client(
    engine: AsyncEngine,
    *,
    client_id: str,
    name: str,
    tenant_id: uuid.UUID,
    secret_hash: bytes | None,
    grant_types: list[str],
    scope: str,
    roles: list[str] | None = None,
    redirect_uris: list[str] | None = None,
) -> None:
    """Register an OAuth client of one organization (machine client or third-party app)."""
    async with tenant_transaction(engine, TenantId(tenant_id)) as conn:
        await conn.execute(
            text(
                "INSERT INTO identity.oauth_clients "
                "(client_id, name, secret_hash, grant_types, redirect_uris, scope, tenant_id, "
                "roles) "
                "VALUES (:id, :name, :secret, :grants, :uris, :scope, :tenant, :roles)"
            ),
            {
                "id": client_id,
                "name": name,
                "secret": secret_hash,
                "grants": grant_types,
                "uris": redirect_uris or [],
                "scope": scope,
                "tenant": tenant_id,
                "roles": roles or [],
            },
        )


async def register_service_client(
    engine: AsyncEngine, *, client_id: str, name: str, secret_hash: bytes, roles: list[str]
) -> None:
    """Register (or re-key) a platform service client that names its organization per token."""
    written = await _as_client(
        engine,
        client_id,
        "INSERT INTO identity.oauth_clients "
        "(client_id, name, secret_hash, grant_types, scope, roles, acts_for_tenants) "
        "VALUES (:id, :name, :secret, ARRAY['client_credentials'], '', :roles, true) "
        "ON CONFLICT (client_id) DO UPDATE SET name = excluded.name, "
        "secret_hash = excluded.secret_hash, roles = excluded.roles, disabled_at = NULL "
        "WHERE identity.oauth_clients.acts_for_tenants",
        {"id": client_id, "name": name, "secret": secret_hash, "roles": roles},
    )
    if written.rowcount != 1:
        raise ValueError(f"client id {client_id!r} belongs to an organization's client")


async def set_console_redirect_uris(engine: AsyncEngine, client_id: str, uris: list[str]) -> None:
    """Point the web console's public client at the gateway's origin (migration 0060)."""
    written = await _as_client(
        engine,
        client_id,
        "UPDATE identity.oauth_clients SET redirect_uris = :uris WHERE client_id = :id "
        "AND tenant_id IS NULL AND secret_hash IS NULL AND NOT acts_for_tenants",
        {"id": client_id, "uris": uris},
    )
    if written.rowcount != 1:
        raise ValueError(f"{client_id!r} is not the console's organization-less public client")


class PostgresAuthorizationCodes:
    """Implements ``AuthorizationCodeStore``; codes are stored hashed, under tenant RLS."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def save(self, code_hash: bytes, code: AuthorizationCode) -> None:
        await _in_tenant(
            self._engine,
            code.tenant_id,
            "INSERT INTO identity.authorization_codes (code_hash, tenant_id, client_id, user_id, "
            "redirect_uri, scope, code_challenge, code_challenge_method, nonce, auth_time, "
            "expires_at) VALUES (:code_hash, :tenant_id, :client_id, :user_id, :redirect_uri, "
            ":scope, :code_challenge, :code_challenge_method, :nonce, :auth_time, :expires_at)",
            parameters(code, code_hash=code_hash),
        )

    async def consume(
        self, tenant_id: TenantId, code_hash: bytes, client_id: str, now: datetime
    ) -> AuthorizationCode | None:
        used = await _in_tenant(
            self._engine,
            tenant_id,
            "UPDATE identity.authorization_codes SET used_at = :now "
            "WHERE code_hash = :hash AND client_id = :client AND used_at IS NULL "
            "AND expires_at > :now RETURNING tenant_id, client_id, user_id, redirect_uri, scope, "
            "code_challenge, code_challenge_method, expires_at, nonce, auth_time, "
            "NULL::uuid AS family_id",  # the use case derives it from the code
            {"hash": code_hash, "client": client_id, "now": now},
        )
        row = used.one_or_none()
        return None if row is None else record(AuthorizationCode, row)

    async def was_used(self, tenant_id: TenantId, code_hash: bytes, client_id: str) -> bool:
        found = await _in_tenant(
            self._engine,
            tenant_id,
            "SELECT 1 FROM identity.authorization_codes WHERE code_hash = :hash "
            "AND client_id = :client AND used_at IS NOT NULL",
            {"hash": code_hash, "client": client_id},
        )
        return found.one_or_none() is not None
