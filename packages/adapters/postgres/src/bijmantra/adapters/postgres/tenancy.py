"""Identity's unit of work for the platform API: organizations, members, accounts, invitations,
with identity events written to ``identity.outbox`` in the same transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from bijmantra.adapters.postgres.connection_store import TenantConnectionStore
from bijmantra.adapters.postgres.invitations import PostgresInvitations
from bijmantra.adapters.postgres.outbox import write_outbox
from bijmantra.adapters.postgres.rows import parameters
from bijmantra.adapters.postgres.uow import TenantTransaction, tenant_transaction
from bijmantra.application.events import envelope_for
from bijmantra.application.tenancy import Member, Organization, UserRecord
from bijmantra.domain import DomainEvent
from bijmantra.kernel import TenantId
from bijmantra.observability import current_traceparent
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

SOURCE = "identity"


class PostgresOrganizations(TenantConnectionStore):
    async def get(self) -> Organization | None:
        return await self._first(
            "SELECT id, name, created_at FROM identity.organizations WHERE id = :id",
            lambda row: Organization(TenantId(row[0]), row[1], row[2]),
            id=self._tenant,
        )

    async def add(self, organization: Organization, founder: uuid.UUID) -> None:
        await self._execute(
            "INSERT INTO identity.organizations (id, name, created_at, created_by) "
            "VALUES (:id, :name, :created_at, :created_by)",
            **parameters(organization, created_by=founder),
        )

    async def count_founded_by(self, founder: uuid.UUID) -> int:
        # A transaction-scoped advisory lock per founder serialises concurrent creations.
        await self._execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))",
            key=f"found-organization:{founder}",
        )
        rows = await self._rows(
            "SELECT count(*) FROM identity.organizations WHERE created_by = :u", u=founder
        )
        return int(rows[0][0])

    async def rename(self, name: str) -> None:
        await self._execute(
            "UPDATE identity.organizations SET name = :name WHERE id = :id",
            id=self._tenant,
            name=name,
        )


def _member(row: Any) -> Member:
    return Member(row[0], row[1], row[2], frozenset(row[3]), row[4])


class PostgresMembers(TenantConnectionStore):
    """Memberships of the unit of work's tenant (RLS ``tenant_or_self``, no ``app.user_id``)."""

    async def list(self) -> list[Member]:
        return await self._all(
            "SELECT u.id, u.email, u.display_name, m.roles, m.created_at "
            "FROM identity.memberships m JOIN identity.users u ON u.id = m.user_id "
            "ORDER BY lower(u.email)",
            _member,
        )

    async def get(self, user_id: uuid.UUID) -> Member | None:
        return await self._first(
            "SELECT u.id, u.email, u.display_name, m.roles, m.created_at "
            "FROM identity.memberships m JOIN identity.users u ON u.id = m.user_id "
            "WHERE m.user_id = :u",
            _member,
            u=user_id,
        )

    async def find_by_email(self, email: str) -> Member | None:
        return await self._first(
            "SELECT u.id, u.email, u.display_name, m.roles, m.created_at "
            "FROM identity.memberships m JOIN identity.users u ON u.id = m.user_id "
            "WHERE lower(u.email) = lower(:e)",
            _member,
            e=email,
        )

    async def add(self, user_id: uuid.UUID, roles: frozenset[str]) -> None:
        await self._execute(
            "INSERT INTO identity.memberships (tenant_id, user_id, roles) VALUES (:t, :u, :r)",
            t=self._tenant,
            u=user_id,
            r=sorted(roles),
        )

    async def set_roles(self, user_id: uuid.UUID, roles: frozenset[str]) -> None:
        await self._execute(
            "UPDATE identity.memberships SET roles = :r WHERE user_id = :u",
            u=user_id,
            r=sorted(roles),
        )

    async def lock_admins(self) -> None:
        await self._execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))",
            key=f"organization-admins:{self._tenant}",
        )

    async def remove(self, user_id: uuid.UUID) -> None:
        await self._execute("DELETE FROM identity.memberships WHERE user_id = :u", u=user_id)
        await self._execute(
            "UPDATE identity.refresh_token_families "
            "SET revoked_at = now(), revoked_reason = 'membership_removed' "
            "WHERE user_id = :u AND revoked_at IS NULL",
            u=user_id,
        )


class PostgresAccounts(TenantConnectionStore):
    async def find_by_email(self, email: str) -> UserRecord | None:
        return await self._first(
            "SELECT id, email, display_name, password_hash FROM identity.users "
            "WHERE lower(email) = lower(:e)",
            lambda row: UserRecord(*row),
            e=email,
        )

    async def add(self, user: UserRecord) -> None:
        await self._execute(
            "INSERT INTO identity.users (id, email, display_name, password_hash) "
            "VALUES (:id, :email, :display_name, :password_hash)",
            **parameters(user),
        )

    async def set_password(self, user_id: uuid.UUID, password_hash: str, display_name: str) -> None:
        await self._execute(
            "UPDATE identity.users SET password_hash = :h, display_name = :n WHERE id = :id",
            id=user_id,
            h=password_hash,
            n=display_name,
        )


class PostgresTenancyUnitOfWork(TenantTransaction):
    """Implements ``TenancyUnitOfWork``: one transaction, ``app.tenant_id`` set at its start."""

    def _bind(self, connection: AsyncConnection) -> None:
        self.organizations = PostgresOrganizations(connection, self.tenant_id)
        self.members = PostgresMembers(connection, self.tenant_id)
        self.accounts = PostgresAccounts(connection, self.tenant_id)
        self.invitations = PostgresInvitations(connection, self.tenant_id)

    async def commit(self) -> None:
        assert self._connection is not None
        await write_identity_events(self._connection, self._events)
        self._events.clear()
        await self._connection.commit()


def tenancy_unit_of_work_factory(
    engine: AsyncEngine,
) -> Callable[[TenantId], PostgresTenancyUnitOfWork]:
    def factory(tenant_id: TenantId) -> PostgresTenancyUnitOfWork:
        return PostgresTenancyUnitOfWork(engine, tenant_id)

    return factory


async def write_identity_events(connection: AsyncConnection, events: Sequence[DomainEvent]) -> None:
    if events:
        await write_outbox(
            connection,
            # The request's trace context rides in the row (see ADR 0080).
            [envelope_for(e, source=SOURCE, traceparent=current_traceparent()) for e in events],
            schema="identity",
        )


class PostgresEventLog:
    """Implements ``EventLog``: events that change nothing else, in a transaction of their own."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, *events: DomainEvent) -> None:
        for tenant in {e.tenant_id for e in events}:
            async with tenant_transaction(self._engine, tenant) as conn:
                await write_identity_events(conn, [e for e in events if e.tenant_id == tenant])
