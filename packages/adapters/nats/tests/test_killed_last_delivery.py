"""A message whose last delivery died with its process goes to dead letters (ADR 0367).

JetStream stops delivering a message once ``max_deliver`` deliveries went unacknowledged and
says so only in an advisory nobody reads. The consumer dead-letters a message when a handler
*fails* on the last delivery; a process SIGKILLed during it (a poison event that ends its
worker every time, an OOM, a node lost or a rollout at the wrong moment) never got that far,
so the message was neither handled nor dead-lettered: dropped without a trace, e.g. a partner
mail left ``queued`` for good. Real NATS; each "process" is a consumer on its own connection,
killed by cancelling it mid-handler (no ack, no nak), as SIGKILL leaves it to ``ack_wait``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import nats.js.errors
import pytest
from bijmantra.adapters.nats import DurableConsumer, JetStreamPublisher, connect, ensure_stream
from bijmantra.adapters.nats.stream import EVENTS_STREAM
from bijmantra.application.events import EventEnvelope, OutboxRecord
from bijmantra.application.events.ports import ConsumerSpec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

pytestmark = pytest.mark.integration
ACK_WAIT = 1.0


async def dead_letter(js: JetStreamContext, durable: str, within: float) -> Msg | None:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        try:
            return await js.get_last_msg(EVENTS_STREAM, f"bijmantra.deadletter.{durable}")
        except nats.js.errors.NotFoundError:
            await asyncio.sleep(0.1)
    return None


async def test_a_message_whose_last_delivery_was_killed_is_dead_lettered_not_dropped(
    nats_url: str, probe: Callable[..., OutboxRecord]
) -> None:
    event_type = f"probe.{uuid.uuid4().hex}"
    durable = f"test-{uuid.uuid4().hex[:8]}"
    handled: list[str] = []
    started = asyncio.Event()

    async def works_until_killed(e: EventEnvelope) -> None:
        handled.append(e.id)
        started.set()
        await asyncio.Event().wait()

    async def a_process() -> tuple[Client, asyncio.Task[None], JetStreamContext]:
        nc = await connect(nats_url, name="test")
        js = nc.jetstream()
        await ensure_stream(js)
        if not handled:  # the durable as the release before left it: the server's bound 2
            old = ConsumerConfig(
                durable_name=durable,
                filter_subjects=[f"bijmantra.events.{event_type}"],
                ack_policy=AckPolicy.EXPLICIT,
                max_deliver=2,
                ack_wait=ACK_WAIT,
            )
            await js.add_consumer(EVENTS_STREAM, old)
        spec = ConsumerSpec(
            durable, [f"bijmantra.events.{event_type}"], works_until_killed, ack_wait=ACK_WAIT
        )
        consumer = DurableConsumer(js, spec, max_deliver=2)
        return nc, asyncio.create_task(consumer.run()), js

    event = probe(event_type)
    for delivery in range(2):  # every delivery the consumer allows, each killed mid-handler
        nc, task, js = await a_process()
        if delivery == 0:
            await JetStreamPublisher(js).publish_batch([event])
        await asyncio.wait_for(started.wait(), 10 * ACK_WAIT)
        started.clear()
        task.cancel()  # SIGKILL: no ack, no nak, no dead letter
        await asyncio.gather(task, return_exceptions=True)
        await nc.close()
    assert handled == [event.id, event.id]

    nc, task, js = await a_process()  # the worker restarted once more
    try:
        message = await dead_letter(js, durable, within=6 * ACK_WAIT)
        assert message is not None, "the message was dropped: no delivery, no dead letter"
        assert message.headers is not None
        assert message.headers["Bijmantra-Event-Id"] == event.id
        assert handled == [event.id, event.id]  # not handled a third time: it killed twice
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await nc.close()
