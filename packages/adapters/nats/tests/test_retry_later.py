"""A handler's ``RetryLater`` hands its event back to the stream for the handler's own wait:
the consumer goes on with the events behind it meanwhile, and once the deliveries are spent
the event is dead-lettered as any failing one (ADR 0377). Real NATS."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from bijmantra.adapters.nats import DurableConsumer, JetStreamPublisher
from bijmantra.application.events import EventEnvelope, OutboxRecord
from bijmantra.application.events.ports import ConsumerSpec, RetryLater
from nats.js import JetStreamContext

from .test_dead_letter_replay import dead_letters

pytestmark = pytest.mark.integration


async def test_an_event_retried_later_waits_in_the_stream_and_is_dead_lettered_when_spent(
    js: JetStreamContext, probe: Callable[..., OutboxRecord]
) -> None:
    event_type = f"probe.{uuid.uuid4().hex}"
    later, behind = probe(event_type, wait=0.5), probe(event_type, wait=0)
    durable = f"test-{uuid.uuid4().hex[:8]}"
    handled: list[str] = []
    went_behind = asyncio.Event()

    async def handler(e: EventEnvelope) -> None:
        handled.append(e.id)
        if e.data["wait"]:
            raise RetryLater(e.data["wait"], "451 try again later")
        went_behind.set()

    spec = ConsumerSpec(durable, [f"bijmantra.events.{event_type}"], handler, max_deliver=3)
    consumer = DurableConsumer(js, spec)
    running = asyncio.create_task(consumer.run())
    try:
        await JetStreamPublisher(js).publish_batch([later, behind])
        await asyncio.wait_for(went_behind.wait(), 30)
        assert handled == [later.id, behind.id]  # not waiting for the first
        (letter,) = await dead_letters(js, durable, 1)
    finally:
        consumer.stop()
        await asyncio.gather(running, return_exceptions=True)
    assert letter.event_id == later.id
    assert letter.deliveries == "3"
    assert "RetryLater: 451 try again later" in letter.reason
    assert handled == [later.id, behind.id, later.id, later.id]
