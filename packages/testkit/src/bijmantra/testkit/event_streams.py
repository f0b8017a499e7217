"""What reaches the event stream, as a consumer sees it: for tests against a real NATS."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

from bijmantra.adapters.nats import DurableConsumer
from bijmantra.application.events import EventEnvelope
from bijmantra.application.events.ports import ConsumerSpec
from nats.js import JetStreamContext


@contextlib.asynccontextmanager
async def germplasm_events(
    js: JetStreamContext, tenant_id: str
) -> AsyncIterator[list[EventEnvelope]]:
    """One organization's germplasm events as a fresh durable consumer receives them, while
    the block runs (the list fills as they arrive)."""
    received: list[EventEnvelope] = []

    async def collect(e: EventEnvelope) -> None:
        if e.tenant_id == tenant_id:
            received.append(e)

    spec = ConsumerSpec(
        durable=f"test-{uuid.uuid4().hex[:8]}",
        filter_subjects=["bijmantra.events.germplasm.>"],
        handler=collect,
    )
    consumer = DurableConsumer(js, spec)
    task = asyncio.create_task(consumer.run())
    try:
        yield received
    finally:
        consumer.stop()
        await task
