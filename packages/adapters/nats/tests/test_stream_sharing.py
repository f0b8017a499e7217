"""Why the event stream alone cannot keep organizations apart, and the daily event quota's
arithmetic measured on the real server (ADR 0340).

The stream's limits are the stream's, not an organization's: under the production policy
(limits retention, discard old) one organization's flood past ``max_bytes`` evicts every
organization's oldest events, consumed or not, and the outbox keeps published rows a day
only; with discard new it refuses every organization's events instead. Hence the quota at
the write. Its unit must cover what the stream stores of an event, not only the payload."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

import pytest
from bijmantra.adapters.nats import EVENTS_STREAM, JetStreamPublisher, ensure_stream
from bijmantra.adapters.nats.stream import STREAM_CONFIG
from bijmantra.application.events import EventEnvelope, OutboxRecord
from bijmantra.domain.tenancy.quotas import event_bytes
from bijmantra.kernel import uuid7
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DiscardPolicy
from nats.js.errors import APIError

pytestmark = pytest.mark.integration
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _headers(tenant: str) -> dict[str, str]:
    return {"Nats-Msg-Id": str(uuid7()), "Bijmantra-Tenant": tenant}


async def _scratch(js: JetStreamContext, discard: DiscardPolicy) -> tuple[str, str]:
    """A stream with the production config but 64 kB, on subjects of its own."""
    name = f"SHARING_{uuid.uuid4().hex[:8]}"
    subject = f"sharing.{name}"
    config = dataclasses.replace(
        STREAM_CONFIG, name=name, subjects=[f"{subject}.>"], max_bytes=64 * 1024, discard=discard
    )
    await js.add_stream(config)
    return name, subject


async def test_a_flood_evicts_another_organizations_unconsumed_events_under_discard_old(
    js: JetStreamContext,
) -> None:
    assert STREAM_CONFIG.discard is DiscardPolicy.OLD  # the production policy
    name, subject = await _scratch(js, DiscardPolicy.OLD)
    try:
        await js.add_consumer(
            name, ConsumerConfig(durable_name="audit", ack_policy=AckPolicy.EXPLICIT)
        )
        victim, flooder = str(uuid.uuid4()), str(uuid.uuid4())
        for _ in range(10):
            await js.publish(f"{subject}.core.changed", b"v" * 100, headers=_headers(victim))
        for _ in range(200):  # ~200 kB: every publish is accepted
            await js.publish(f"{subject}.core.changed", b"f" * 1000, headers=_headers(flooder))
        info = await js.stream_info(name)
        assert info.state.bytes <= 64 * 1024
        assert info.state.first_seq > 10  # the victim's ten events are gone ...
        pending = await js.consumer_info(name, "audit")
        assert pending.num_pending < 200  # ... before the audit consumer read one of them
    finally:
        await js.delete_stream(name)


async def test_a_full_stream_refuses_every_organizations_events_under_discard_new(
    js: JetStreamContext,
) -> None:
    name, subject = await _scratch(js, DiscardPolicy.NEW)
    try:
        flooder, victim = str(uuid.uuid4()), str(uuid.uuid4())
        accepted, refused = 0, ""
        while accepted < 200:  # the flooder's events until the 64 kB are full
            try:
                await js.publish(f"{subject}.a", b"f" * 1000, headers=_headers(flooder))
            except APIError as error:
                refused = str(error)
                break
            accepted += 1
        assert 40 < accepted < 64
        assert "maximum bytes" in refused
        with pytest.raises(APIError, match="maximum bytes"):  # and now everybody's
            await js.publish(f"{subject}.b", b"v" * 1000, headers=_headers(victim))
    finally:
        await js.delete_stream(name)


@pytest.mark.parametrize("size", [0, 300, 20_000])
async def test_an_events_charge_covers_what_the_stream_stores_of_it(
    js: JetStreamContext, size: int
) -> None:
    envelope = EventEnvelope(
        id=str(uuid7()),
        type="sensors.telemetry.received",
        source="domain-api",
        tenant_id=str(uuid.uuid4()),
        subject=str(uuid.uuid4()),
        time=datetime.now(UTC),
        schema_version=1,
        data={"padding": "x" * size},
        traceparent=TRACEPARENT,
    )
    record = OutboxRecord.of(envelope)
    before = (await js.stream_info(EVENTS_STREAM)).state.bytes
    assert await JetStreamPublisher(js).publish_batch([record]) == [record.id]
    stored = (await js.stream_info(EVENTS_STREAM)).state.bytes - before
    assert 0 < stored <= event_bytes([len(record.payload)])


async def test_a_stream_an_operator_made_larger_stays_larger_and_sets_the_budget(
    js: JetStreamContext,
) -> None:
    """``ensure_stream`` (every service, at start) no longer shrinks the stream back to the
    declared 8 GiB; it returns the size domain-api derives the event budget from."""
    declared = STREAM_CONFIG.max_bytes or 0
    config = (await js.stream_info(EVENTS_STREAM)).config
    try:
        await js.update_stream(dataclasses.replace(config, max_bytes=declared + (1 << 20)))
        assert await ensure_stream(js) == declared + (1 << 20)
        assert (await js.stream_info(EVENTS_STREAM)).config.max_bytes == declared + (1 << 20)
        await js.update_stream(dataclasses.replace(config, max_bytes=declared // 2))
        assert await ensure_stream(js) == declared  # never below the declared size
    finally:
        await js.update_stream(dataclasses.replace(config, max_bytes=declared))
