"""A message waiting in its fetched batch behind slow ones is not delivered again (ADR 0367).

A consumer fetches up to ``batch`` messages and handles them in turn. Each one's ``ack_wait``
runs from the fetch, so behind slow handlers (a partner mail to an unreachable SMTP server
takes its 15 s timeout; the mail and document consumers fetch ten) the later ones passed it
while still waiting: the server delivered them again, spending the deliveries that decide
when a mail is given up or dead-lettered, without a try being made, and the process then
handled each twice. Real NATS."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from bijmantra.adapters.nats import DurableConsumer, JetStreamPublisher, connect, ensure_stream
from bijmantra.application.events import EventEnvelope, OutboxRecord
from bijmantra.application.events.ports import ConsumerSpec
from prometheus_client import REGISTRY

pytestmark = pytest.mark.integration
ACK_WAIT = 1.0
SLOW = 0.5  # each handler's time: the fifth waits 2 s, twice the ack wait


async def test_messages_waiting_behind_slow_handlers_in_their_batch_are_not_redelivered(
    nats_url: str, probe: Callable[..., OutboxRecord]
) -> None:
    nc = await connect(nats_url, name="test")
    js = nc.jetstream()
    await ensure_stream(js)
    event_type = f"probe.{uuid.uuid4().hex}"
    durable = f"test-{uuid.uuid4().hex[:8]}"
    handled: list[str] = []

    async def slow(e: EventEnvelope) -> None:
        handled.append(e.id)
        await asyncio.sleep(SLOW)

    spec = ConsumerSpec(
        durable, [f"bijmantra.events.{event_type}"], slow, batch=5, ack_wait=ACK_WAIT
    )
    consumer = DurableConsumer(js, spec)
    events = [probe(event_type) for _ in range(5)]
    await JetStreamPublisher(js).publish_batch(events)
    task = asyncio.create_task(consumer.run())
    try:
        for _ in range(100):
            if len(handled) >= len(events):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(3 * ACK_WAIT)  # time for any redelivery to arrive and be handled
    finally:
        consumer.stop()
        await task
        await nc.close()
    assert handled == [e.id for e in events]  # before: the later ones twice
    assert REGISTRY.get_sample_value("consumer_redeliveries_total", {"consumer": durable}) == 0
