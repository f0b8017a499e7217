"""Consumer-side idempotency: a processed event is remembered in the consumer's schema."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bijmantra.application.events import EventEnvelope


async def first_delivery(connection: AsyncConnection, consumer: str, envelope: EventEnvelope) -> bool:
    """Record the event for ``consumer``; False when it was already processed.

    Call inside the transaction that applies the event's effects, so effect and record
    commit (or roll back) together.
    """
    result = await connection.execute(
        text(
            "INSERT INTO analytics.processed_events (tenant_id, consumer, event_id, event_type, subject) "
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
