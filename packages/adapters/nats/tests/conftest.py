"""The session's real NATS with the event stream, and events to publish on it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from bijmantra.adapters.nats import connect, ensure_stream
from bijmantra.application.events import EventEnvelope, OutboxRecord
from bijmantra.kernel import uuid7
from nats.js import JetStreamContext


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    nc = await connect(nats_url, name="test")
    context = nc.jetstream()
    await ensure_stream(context)
    yield context
    await nc.close()


@pytest.fixture
def probe() -> Callable[..., OutboxRecord]:
    """Outbox records of a made-up event type (``probe.<hex>``) no consumer follows."""

    def record(event_type: str = "", **data: Any) -> OutboxRecord:
        return OutboxRecord.of(
            EventEnvelope(
                id=str(uuid7()),
                type=event_type or f"probe.{uuid.uuid4().hex}",
                source="test",
                tenant_id=str(uuid.uuid4()),
                subject="s",
                time=datetime.now(UTC),
                schema_version=1,
                data=data,
            )
        )

    return record
