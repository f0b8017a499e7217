"""The mail consumer's outcomes in the analytics schema (ADR 0363): per event, the deliveries
begun (``tries``, counted before each claims, ADR 0367) and how the mail ended, in the
caller's transaction on the tenant's placement (row-level security keeps it to the tenant's
rows)."""

from __future__ import annotations

from bijmantra.application.distribution.notifications import MailOutcome
from bijmantra.application.events import EventEnvelope
from bijmantra.domain.distribution.mail import MailFailure, MailStatus
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

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
_BEGAN_TRY = text(
    "INSERT INTO analytics.partner_mail_outcomes (tenant_id, event_id, tries) "
    "VALUES (CAST(:tenant AS uuid), CAST(:event AS uuid), 1) "
    "ON CONFLICT (tenant_id, event_id) DO UPDATE "
    "SET tries = analytics.partner_mail_outcomes.tries + 1"
)


def _keys(envelope: EventEnvelope) -> dict[str, str]:
    return {"tenant": envelope.tenant_id, "event": envelope.id}


async def kept_outcome(
    conn: AsyncConnection, envelope: EventEnvelope
) -> tuple[int, MailOutcome | None]:
    """The event's deliveries begun so far and its mail's outcome, if one was kept."""
    row = (await conn.execute(_OUTCOME, _keys(envelope))).first()
    if row is None:
        return 0, None
    if row.status is None:
        return int(row.tries), None
    failure = None if row.failure is None else MailFailure(row.failure)
    return int(row.tries), MailOutcome(MailStatus(row.status), row.at, failure)


async def keep_outcome(conn: AsyncConnection, envelope: EventEnvelope, done: MailOutcome) -> None:
    failure = None if done.failure is None else done.failure.value
    values = {"status": done.status.value, "failure": failure, "at": done.at}
    await conn.execute(_SETTLE, {**_keys(envelope), **values})


async def count_try(conn: AsyncConnection, envelope: EventEnvelope) -> None:
    await conn.execute(_BEGAN_TRY, _keys(envelope))
