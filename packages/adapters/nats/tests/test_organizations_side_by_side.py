"""With ``organizations_at_once``, one organization's slow events hold back only its own:
another organization's event, published behind five slow ones, is handled while the first
is still in the handler; each organization's events stay in order (ADR 0381). Handled one
after another (0, as before), it waits for all five. Real NATS."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime

import pytest
from bijmantra.adapters.nats import DurableConsumer, JetStreamPublisher
from bijmantra.application.events import EventEnvelope, OutboxRecord, envelope_for
from bijmantra.application.events.ports import ConsumerSpec
from bijmantra.domain import DomainEvent
from bijmantra.kernel import TenantId
from nats.js import JetStreamContext

pytestmark = pytest.mark.integration
SLOW = 5


def _event(event_type: str, tenant: str, n: int) -> OutboxRecord:
    happened = DomainEvent(
        event_type, TenantId(uuid.UUID(tenant)), f"s{n}", {"n": n}, occurred_at=datetime.now(UTC)
    )
    return OutboxRecord.of(envelope_for(happened, source="test"))


async def _handled_while_slow(js: JetStreamContext, at_once: int) -> tuple[list[str], list[str]]:
    """Five events of a slow organization, then one of another; the slow handler returns
    only once the other's event was handled, or after 3 s. What was handled while the
    first slow event was in the handler, and the order in the end."""
    event_type = f"probe.{uuid.uuid4().hex}"
    slow, quick = str(uuid.uuid4()), str(uuid.uuid4())
    events = [_event(event_type, slow, n) for n in range(SLOW)] + [_event(event_type, quick, 9)]
    handled: list[str] = []
    during: list[str] = []
    quick_done = asyncio.Event()
    all_done = asyncio.Event()

    async def handler(e: EventEnvelope) -> None:
        if e.tenant_id == slow and not handled:  # the first: a server that does not answer
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(quick_done.wait(), 3)
            during.extend(handled)
        handled.append(e.subject)
        if e.tenant_id == quick:
            quick_done.set()
        if len(handled) == len(events):
            all_done.set()

    spec = ConsumerSpec(
        f"test-{uuid.uuid4().hex[:8]}",
        [f"bijmantra.events.{event_type}"],
        handler,
        batch=10,
        organizations_at_once=at_once,
    )
    consumer = DurableConsumer(js, spec)
    running = asyncio.create_task(consumer.run())
    try:
        await consumer.ready.wait()
        await JetStreamPublisher(js).publish_batch(events)
        await asyncio.wait_for(all_done.wait(), 60)
    finally:
        consumer.stop()
        await asyncio.gather(running, return_exceptions=True)
    return during, handled


async def test_another_organizations_event_is_not_held_behind_a_slow_one(
    js: JetStreamContext,
) -> None:
    during, handled = await _handled_while_slow(js, at_once=4)
    assert during == ["s9"]  # handled while the slow organization's first was in its handler
    assert [s for s in handled if s != "s9"] == [f"s{n}" for n in range(SLOW)]


async def test_one_after_another_the_other_organization_waits(js: JetStreamContext) -> None:
    """The behaviour before (and of every consumer that does not ask for lanes)."""
    during, handled = await _handled_while_slow(js, at_once=0)
    assert during == []
    assert handled == [*(f"s{n}" for n in range(SLOW)), "s9"]
