"""Consumer-side idempotency: a processed event is remembered in the consumer's schema."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from bijmantra.adapters.postgres.ddl import SERVICE_ROLES
from bijmantra.application.events import EventEnvelope
from psycopg import sql
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

_RECORD = sql.SQL(
    "INSERT INTO {schema}.processed_events (tenant_id, consumer, event_id, event_type, subject) "
    "SELECT CAST(:tenant_id AS uuid), :consumer, * FROM unnest("
    "CAST(:event_ids AS uuid[]), CAST(:event_types AS text[]), CAST(:subjects AS text[])) "
    "ON CONFLICT (consumer, event_id) DO NOTHING RETURNING event_id"
)
# Each service's schema, quoted by psycopg: the statement is built once per schema.
_RECORDS: dict[str, TextClause] = {
    schema: text(_RECORD.format(schema=sql.Identifier(schema)).as_string())
    for schema in SERVICE_ROLES
}


async def first_delivery(
    connection: AsyncConnection,
    consumer: str,
    envelope: EventEnvelope,
    *,
    schema: str = "analytics",
) -> bool:
    """Record the event for ``consumer`` in ``schema``; False when it was already processed.

    Call inside the transaction that applies the event's effects, so effect and record
    commit (or roll back) together. Each service keeps the table in its own schema.
    """
    return envelope.id in await first_deliveries(connection, consumer, [envelope], schema=schema)


async def first_deliveries(
    connection: AsyncConnection,
    consumer: str,
    envelopes: Sequence[EventEnvelope],
    *,
    schema: str = "analytics",
) -> set[str]:
    """Record events of one tenant at once; return the ids not processed before."""
    if schema not in _RECORDS:
        raise ValueError(f"unknown service schema {schema!r}")
    if not envelopes:
        return set()
    result = await connection.execute(
        _RECORDS[schema],
        {
            "tenant_id": uuid.UUID(envelopes[0].tenant_id),
            "consumer": consumer,
            "event_ids": [uuid.UUID(e.id) for e in envelopes],
            "event_types": [e.type for e in envelopes],
            "subjects": [e.subject for e in envelopes],
        },
    )
    return {str(row.event_id) for row in result}


_TAKE_TURN = text("SELECT pg_advisory_xact_lock(hashtext(:consumer), hashtext(:tenant))")
# Under the organization's row-level security: its events recorded since 00:00 UTC.
_HANDLED_TODAY = text(
    "SELECT count(*) FROM analytics.processed_events WHERE consumer = :consumer "
    "AND processed_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
)


async def handled_today(connection: AsyncConnection, consumer: str, tenant_id: str) -> int:
    """How many of the organization's events ``consumer`` recorded today (UTC), in the
    analytics schema, after waiting for the organization's other claims of ``consumer`` in
    flight (a transaction-scoped lock): a bound on the count holds under concurrency."""
    turn = {"consumer": consumer, "tenant": tenant_id}
    await connection.execute(_TAKE_TURN, turn)
    return int((await connection.execute(_HANDLED_TODAY, turn)).scalar_one())
