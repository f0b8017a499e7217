"""Operators see dead letters without running ``bijmantra-deadletters`` (ADR 0372).

Real NATS: a consumer sets letters aside for an undecodable message and for a failing
handler; its metrics say how many it holds and why they were set aside, and a replay that
succeeds takes one off the held count at the next sample."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from bijmantra.adapters.nats import DurableConsumer, JetStreamPublisher
from bijmantra.adapters.nats.deadletters import DeadLetter, list_dead_letters, replay
from bijmantra.application.events import EventEnvelope, OutboxRecord
from bijmantra.application.events.ports import ConsumerSpec
from nats.js import JetStreamContext
from prometheus_client import REGISTRY

pytestmark = pytest.mark.integration


def held(durable: str) -> float | None:
    return REGISTRY.get_sample_value("consumer_dead_letters", {"consumer": durable})


def set_aside(durable: str, reason: str) -> float | None:
    labels = {"consumer": durable, "reason": reason}
    return REGISTRY.get_sample_value("consumer_dead_lettered_total", labels)


async def letters(js: JetStreamContext, durable: str, count: int) -> list[DeadLetter]:
    deadline = asyncio.get_running_loop().time() + 10.0
    found = await list_dead_letters(js, durable)
    while len(found) < count:
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)
        found = await list_dead_letters(js, durable)
    return found


async def test_the_dead_letters_a_consumer_holds_and_why_are_exported(
    js: JetStreamContext, probe: Callable[..., OutboxRecord]
) -> None:
    records = [probe() for _ in range(2)]
    subjects = [f"bijmantra.events.{r.type}" for r in records]
    durable = f"test-{uuid.uuid4().hex[:8]}"
    handled: list[str] = []
    fixed = False

    async def handler(e: EventEnvelope) -> None:
        if not fixed:
            raise ConnectionError("domain-api unreachable")
        handled.append(e.id)

    consumer = DurableConsumer(js, ConsumerSpec(durable, subjects, handler), max_deliver=1)
    task = asyncio.create_task(consumer.run())
    try:
        await consumer.ready.wait()
        await consumer.sample_lag()
        assert held(durable) == 0
        await js.publish(subjects[0], b"not an envelope", headers={"Nats-Msg-Id": durable})
        await JetStreamPublisher(js).publish_batch(records)
        found = await letters(js, durable, 3)

        await consumer.sample_lag()
        assert held(durable) == 3
        assert set_aside(durable, "undecodable") == 1
        assert set_aside(durable, "ConnectionError") == 2

        fixed = True
        replayed = next(d for d in found if d.event_id == records[1].id)
        await replay(js, durable, replayed.sequence)
        deadline = asyncio.get_running_loop().time() + 10.0
        while handled != [records[1].id]:
            assert asyncio.get_running_loop().time() < deadline, "timed out"
            await asyncio.sleep(0.05)
        await consumer.sample_lag()
        assert held(durable) == 2
        assert set_aside(durable, "ConnectionError") == 2  # the replay succeeded
    finally:
        consumer.stop()
        await task
