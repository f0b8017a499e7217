"""Consumer-side idempotency: a processed event is remembered in the consumer's schema."""

from __future__ import annotations

import uuid

from bijmantra.adapters.postgres.ddl import SERVICE_ROLES
from bijmantra.application.events import EventEnvelope
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


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
    if schema not in SERVICE_ROLES:
        raise ValueError(f"unknown service schema {schema!r}")
    result = await connection.execute(
        text(
            f"INSERT INTO {schema}.processed_events "  # noqa: S608 (schema checked above)
            "(tenant_id, consumer, event_id, event_type, subject) "
            "VALUES (:tenant_id, :consumer, :event_id, :event_type, :subject) "
            "ON CONFLICT (consumer, event_id) DO NOTHING"
        ),
        {
            "tenant_id": uuid.UUID(envelope.tenant_id),
            "consumer": consumer,
            "event_id": uuid.UUID(envelope.id),
            "event_type": envelope.type,
            "subject": envelope.subject,
        },
    )
    return result.rowcount == 1
