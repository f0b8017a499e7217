"""Identity's tables: users, memberships (RLS by tenant or by the acting user), signing keys."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bijmantra.application.tenancy import Membership, UserRecord
from bijmantra.kernel import TenantId


class PostgresUserDirectory:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def find_by_email(self, email: str) -> UserRecord | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT id, email, display_name, password_hash FROM identity.users "
                        "WHERE lower(email) = lower(:email)"
                    ),
                    {"email": email},
                )
            ).one_or_none()
        return None if row is None else UserRecord(*row)

    async def memberships(self, user_id: uuid.UUID) -> list[Membership]:
        async with self._engine.connect() as conn, conn.begin():
            await conn.execute(select(func.set_config("app.user_id", str(user_id), True)))
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


class PostgresSigningKeys:
    """Signing keys in the identity schema; every unretired key is published in the JWKS."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def active(self) -> list[tuple[str, str, dict[str, object]]]:
        """(kid, private PEM, public JWK), newest first."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT kid, private_key_pem, public_jwk FROM identity.signing_keys "
                        "WHERE retired_at IS NULL ORDER BY created_at DESC"
                    )
                )
            ).all()
        return [(r[0], r[1], r[2]) for r in rows]

    async def add(self, kid: str, algorithm: str, private_pem: str, public_jwk: dict[str, object]) -> None:
        import json

        async with self._engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO identity.signing_keys (kid, algorithm, private_key_pem, public_jwk) "
                    "VALUES (:kid, :alg, :pem, CAST(:jwk AS jsonb))"
                ),
                {"kid": kid, "alg": algorithm, "pem": private_pem, "jwk": json.dumps(public_jwk)},
            )


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
    async with engine.begin() as conn:
        await conn.execute(select(func.set_config("app.tenant_id", str(organization_id), True)))
        await conn.execute(
            text("INSERT INTO identity.organizations (id, name) VALUES (:id, :name) ON CONFLICT DO NOTHING"),
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
