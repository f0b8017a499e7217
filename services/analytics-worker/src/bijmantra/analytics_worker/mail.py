"""The distribution mail consumer's ledger: the event id is recorded in the analytics schema
in a transaction that commits only after the SMTP server accepted the message. Claims of
one organization take turns (a transaction-scoped advisory lock), so the day's count each
reads includes every claim before it (ADR 0348). How the mail ended is kept with the claim,
and the deliveries that failed before it, in ``analytics.partner_mail_outcomes`` (ADR 0363)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bijmantra.adapters.postgres import first_delivery
from bijmantra.adapters.postgres.inbox import handled_today
from bijmantra.adapters.postgres.placement import PlacementEngines, as_placements
from bijmantra.application.distribution.notifications import (
    BACKSTOP_PER_DAY,
    MESSAGES,
    Claim,
    MailOutcome,
)
from bijmantra.application.events import EventEnvelope, subject_for
from bijmantra.domain.distribution.mail import MailFailure, MailStatus, may_mail
from bijmantra.kernel import TenantId
from bijmantra.observability import get_logger
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = get_logger(__name__)
MAIL_SUBJECTS = tuple(subject_for(t) for t in MESSAGES)
# One row per event of the organization (row-level security keeps it to the tenant's).
_OUTCOME = text(
    "SELECT tries, status, failure, at FROM analytics.partner_mail_outcomes "
    "WHERE tenant_id = CAST(:tenant AS uuid) AND event_id = CAST(:event AS uuid)"
)
_SETTLE = text(
    "INSERT INTO analytics.partner_mail_outcomes (tenant_id, event_id, status, failure, at) "
    "VALUES (CAST(:tenant AS uuid), CAST(:event AS uuid), :status, :failure, :at) "
    "ON CONFLICT (tenant_id, event_id) DO UPDATE "
    "SET status = excluded.status, failure = excluded.failure, at = excluded.at"
)
_FAILED_TRY = text(
    "INSERT INTO analytics.partner_mail_outcomes (tenant_id, event_id, tries) "
    "VALUES (CAST(:tenant AS uuid), CAST(:event AS uuid), 1) "
    "ON CONFLICT (tenant_id, event_id) DO UPDATE "
    "SET tries = analytics.partner_mail_outcomes.tries + 1"
)


def _keys(envelope: EventEnvelope) -> dict[str, str]:
    return {"tenant": envelope.tenant_id, "event": envelope.id}


async def _kept(conn: AsyncConnection, envelope: EventEnvelope) -> tuple[int, MailOutcome | None]:
    row = (await conn.execute(_OUTCOME, _keys(envelope))).first()
    if row is None:
        return 0, None
    if row.status is None:
        return int(row.tries), None
    failure = None if row.failure is None else MailFailure(row.failure)
    return int(row.tries), MailOutcome(MailStatus(row.status), row.at, failure)


class PostgresDeliveryLedger:
    def __init__(
        self, engine: AsyncEngine | PlacementEngines, per_day: int = BACKSTOP_PER_DAY
    ) -> None:
        """``per_day``: the consumer's bound, only for saying in the log what it held back."""
        self._placements = as_placements(engine)
        self._per_day = per_day

    def _tenant(self, envelope: EventEnvelope) -> TenantId:
        return TenantId(uuid.UUID(envelope.tenant_id))

    @asynccontextmanager
    async def claim(self, consumer: str, envelope: EventEnvelope) -> AsyncIterator[Claim]:
        """The row lock of the claim also makes a concurrent redelivery wait for the
        outcome of the first (send and commit, or fail and roll back) instead of sending."""
        async with self._placements.transaction(self._tenant(envelope)) as conn:
            handled = await handled_today(conn, consumer, envelope.tenant_id)
            first = await first_delivery(conn, consumer, envelope)
            tries, outcome = await _kept(conn, envelope)
            claim = Claim(first, handled, tries, None if first else outcome)
            if claim.first and not may_mail(handled, self._per_day):
                log.warning("partner mail not sent: the day's bound", tenant_id=envelope.tenant_id)
            yield claim
            if claim.first and claim.outcome is not None:
                done = claim.outcome
                failure = None if done.failure is None else done.failure.value
                values = {"status": done.status.value, "failure": failure, "at": done.at}
                await conn.execute(_SETTLE, {**_keys(envelope), **values})

    async def failed_try(self, consumer: str, envelope: EventEnvelope) -> None:
        async with self._placements.transaction(self._tenant(envelope)) as conn:
            await conn.execute(_FAILED_TRY, _keys(envelope))
