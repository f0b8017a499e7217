"""Invitations in PostgreSQL: the tenant's offers (row-level security), and the mailer's
cross-tenant view of which offers wait for delivery (role ``bijmantra_identity_mailer``, which
may read only ids and times; migration 0020)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from bijmantra.adapters.postgres.connection_store import TenantConnectionStore
from bijmantra.adapters.postgres.ddl import set_local_role
from bijmantra.adapters.postgres.engine import opened_transaction
from bijmantra.application.tenancy import PendingInvitation
from bijmantra.kernel import TenantId
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

MAILER_ROLE = "bijmantra_identity_mailer"


def _invitation(row: Any) -> PendingInvitation:
    return PendingInvitation(row[0], row[1], frozenset(row[2]), row[3], row[4], row[5], row[6])


class PostgresInvitations(TenantConnectionStore):
    async def add(self, invitation: PendingInvitation) -> None:
        # The open offer to this address (one at most, unique index) is replaced: revoked,
        # so that it still counts among the organization's invitations of the day.
        await self._execute(
            "UPDATE identity.invitations SET revoked_at = :at WHERE lower(email) = lower(:e) "
            "AND accepted_at IS NULL AND revoked_at IS NULL",
            e=invitation.email,
            at=invitation.created_at,
        )
        await self._execute(
            "INSERT INTO identity.invitations (id, tenant_id, email, roles, display_name, "
            "invited_by, created_at, expires_at, next_attempt_at) "
            "VALUES (:id, :t, :e, :r, :n, :by, :at, :exp, :at)",
            id=invitation.id, t=self._tenant, e=invitation.email, r=sorted(invitation.roles),
            n=invitation.display_name, by=invitation.invited_by, at=invitation.created_at,
            exp=invitation.expires_at,
        )  # fmt: skip

    async def lock(self) -> None:
        await self._execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))",
            key=f"organization-invitations:{self._tenant}",
        )

    async def created_since(self, since: datetime) -> list[datetime]:
        rows = await self._rows(
            "SELECT created_at FROM identity.invitations WHERE created_at > :since "
            "ORDER BY created_at",
            since=since,
        )
        return [row[0] for row in rows]

    async def open(self) -> list[PendingInvitation]:
        return await self._all(
            "SELECT id, email, roles, display_name, invited_by, created_at, expires_at "
            "FROM identity.invitations WHERE accepted_at IS NULL AND revoked_at IS NULL "
            "AND expires_at > now() ORDER BY created_at",
            _invitation,
        )

    async def revoke(self, invitation_id: uuid.UUID, now: datetime) -> bool:
        result = await self._connection.execute(
            text(
                "UPDATE identity.invitations SET revoked_at = :now WHERE id = :id "
                "AND accepted_at IS NULL AND revoked_at IS NULL"
            ),
            {"id": invitation_id, "now": now},
        )
        return bool(result.rowcount)

    async def claim_unsent(
        self, invitation_id: uuid.UUID, now: datetime
    ) -> PendingInvitation | None:
        return await self._first(
            "SELECT id, email, roles, display_name, invited_by, created_at, expires_at "
            "FROM identity.invitations WHERE id = :id AND sent_at IS NULL "
            "AND next_attempt_at <= :now "
            "AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > :now "
            "FOR UPDATE SKIP LOCKED",
            _invitation,
            id=invitation_id,
            now=now,
        )

    async def issue_token(
        self, invitation_id: uuid.UUID, token_hash: bytes, lease_until: datetime
    ) -> None:
        await self._execute(
            "UPDATE identity.invitations SET token_hash = :h, next_attempt_at = :lease "
            "WHERE id = :id",
            id=invitation_id,
            h=token_hash,
            lease=lease_until,
        )

    async def mark_sent(self, invitation_id: uuid.UUID, now: datetime) -> None:
        await self._execute(
            "UPDATE identity.invitations SET sent_at = :now WHERE id = :id",
            id=invitation_id,
            now=now,
        )

    async def delivery_failed(self, invitation_id: uuid.UUID) -> int:
        rows = await self._rows(
            "UPDATE identity.invitations SET send_attempts = send_attempts + 1 "
            "WHERE id = :id RETURNING send_attempts",
            id=invitation_id,
        )
        return int(rows[0][0]) if rows else 0

    async def retry_at(self, invitation_id: uuid.UUID, when: datetime) -> None:
        await self._execute(
            "UPDATE identity.invitations SET next_attempt_at = :at WHERE id = :id",
            id=invitation_id,
            at=when,
        )

    async def take(self, token_hash: bytes, now: datetime) -> PendingInvitation | None:
        return await self._first(
            "SELECT id, email, roles, display_name, invited_by, created_at, expires_at "
            "FROM identity.invitations WHERE token_hash = :h "
            "AND accepted_at IS NULL AND revoked_at IS NULL "
            "AND expires_at > :now FOR UPDATE",
            _invitation,
            h=token_hash,
            now=now,
        )

    async def mark_accepted(
        self, invitation_id: uuid.UUID, user_id: uuid.UUID, now: datetime
    ) -> None:
        await self._execute(
            "UPDATE identity.invitations SET accepted_at = :now, user_id = :u WHERE id = :id",
            id=invitation_id,
            u=user_id,
            now=now,
        )


class PostgresDueInvitations:
    """Implements ``DueInvitations`` as the mailer role: ids across tenants, nothing else."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def due(
        self, now: datetime, limit: int, max_attempts: int
    ) -> list[tuple[TenantId, uuid.UUID]]:
        # The mailer's round opens like a unit of work: a pooled connection a restart ended is
        # replaced at the first statement (ADR 0341, 0346).
        mailer = text(set_local_role(MAILER_ROLE))
        async with opened_transaction(self._engine, lambda c: c.execute(mailer)) as (conn, _):
            rows = (
                await conn.execute(
                    text(
                        "SELECT tenant_id, id FROM identity.invitations WHERE sent_at IS NULL "
                        "AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > :now "
                        "AND next_attempt_at <= :now "
                        "AND send_attempts < :max ORDER BY next_attempt_at LIMIT :limit"
                    ),
                    {"now": now, "limit": limit, "max": max_attempts},
                )
            ).all()
        return [(TenantId(r[0]), r[1]) for r in rows]
