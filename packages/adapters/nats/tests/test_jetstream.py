"""The NATS adapter against a real JetStream server (and the relay from a real outbox)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import nats
import nats.js.api
import nats.js.errors
import pytest
from bijmantra.adapters.nats import (
    EVENTS_STREAM,
    DurableConsumer,
    JetStreamPublisher,
    connect,
    ensure_stream,
)
from bijmantra.adapters.nats.stream import RETIRED_CONSUMERS
from bijmantra.adapters.postgres import PostgresOutboxStore, create_engine, unit_of_work_factory
from bijmantra.application.brapi.commands import ResourceCommands
from bijmantra.application.brapi.modules import catalog
from bijmantra.application.events import EventEnvelope, OutboxRecord, OutboxRelay
from bijmantra.application.events.ports import ConsumerSpec
from bijmantra.kernel import Principal, TenantId
from bijmantra.testkit.event_streams import germplasm_events
from bijmantra.testkit.provision import ProvisionedDatabase
from prometheus_client import REGISTRY

pytestmark = pytest.mark.integration


def envelope(event_type: str = "germplasm.created") -> EventEnvelope:
    return EventEnvelope(
        id=str(uuid.uuid4()),
        type=event_type,
        source="test",
        tenant_id=str(uuid.uuid4()),
        subject="g1",
        time=datetime.now(UTC),
        schema_version=1,
        data={"common_crop_name": "Maize"},
    )


async def test_stream_setup_is_idempotent_and_republishing_is_deduplicated(nats_url: str) -> None:
    nc = await connect(nats_url, name="test")
    js = nc.jetstream()
    await ensure_stream(js)
    retired = nats.js.api.ConsumerConfig(durable_name=RETIRED_CONSUMERS[0])
    await js.add_consumer(EVENTS_STREAM, retired)  # left by a release before ADR 0290
    await ensure_stream(js)  # a second replica starting up
    names = {c.name for c in await js.consumers_info(EVENTS_STREAM)}
    assert RETIRED_CONSUMERS[0] not in names
    before = (await js.stream_info(EVENTS_STREAM)).state.messages
    event = envelope()
    publisher = JetStreamPublisher(js)
    assert await publisher.publish_batch([OutboxRecord.of(event)]) == [event.id]
    assert await publisher.publish_batch([OutboxRecord.of(event)]) == [
        event.id
    ]  # a relay retry after a crash
    assert (await js.stream_info(EVENTS_STREAM)).state.messages == before + 1
    await nc.close()


async def test_failing_handler_is_redelivered_then_dead_lettered(nats_url: str) -> None:
    nc = await connect(nats_url, name="test")
    js = nc.jetstream()
    await ensure_stream(js)
    event_type = f"probe.{uuid.uuid4().hex}"
    attempts: list[str] = []

    async def always_fails(e: EventEnvelope) -> None:
        attempts.append(e.id)
        raise RuntimeError("boom")

    durable = f"test-{uuid.uuid4().hex[:8]}"
    consumer = DurableConsumer(
        js,
        ConsumerSpec(
            durable=durable,
            filter_subjects=[f"bijmantra.events.{event_type}"],
            handler=always_fails,
        ),
        max_deliver=2,
    )
    task = asyncio.create_task(consumer.run())
    event = envelope(event_type)
    await JetStreamPublisher(js).publish_batch([OutboxRecord.of(event)])
    message = None
    for _ in range(200):
        try:
            message = await js.get_last_msg(EVENTS_STREAM, f"bijmantra.deadletter.{durable}")
            break
        except nats.js.errors.NotFoundError:
            await asyncio.sleep(0.1)
    assert message is not None
    assert message.headers is not None
    assert message.headers["Bijmantra-Event-Id"] == event.id
    assert message.headers["Bijmantra-Original-Subject"] == f"bijmantra.events.{event_type}"
    assert attempts == [event.id, event.id]
    consumer.stop()
    await task
    # The second delivery was a redelivery; the first failure was retried, the second dead-lettered.
    assert REGISTRY.get_sample_value("consumer_redeliveries_total", {"consumer": durable}) == 1
    for outcome in ("retry", "dead_letter"):
        labels = {"consumer": durable, "event_type": event_type, "outcome": outcome}
        assert REGISTRY.get_sample_value("consumer_handle_duration_seconds_count", labels) == 1
    await consumer.sample_lag()
    assert REGISTRY.get_sample_value("consumer_pending_messages", {"consumer": durable}) == 0
    assert REGISTRY.get_sample_value("consumer_ack_pending_messages", {"consumer": durable}) == 0
    await nc.close()


async def test_relay_moves_committed_events_from_postgres_to_the_stream(
    nats_url: str, database: ProvisionedDatabase
) -> None:
    engine = create_engine(database.domain_url, pool_size=2)
    nc = await connect(nats_url, name="test")
    js = nc.jetstream()
    await ensure_stream(js)
    tenant = TenantId(uuid.uuid4())
    crop = f"crop-{uuid.uuid4().hex[:6]}"
    body = f'[{{"germplasmName":"R","germplasmPUI":"p","commonCropName":"{crop}"}}]'.encode()
    principal = Principal(subject="u", tenant_id=tenant, roles=frozenset({"breeder"}))
    commands = ResourceCommands(catalog(), unit_of_work_factory(engine, source="domain-api"))
    await commands.create(principal, "germplasm", body)

    async with germplasm_events(js, str(tenant)) as received:
        relay = OutboxRelay(PostgresOutboxStore(engine), JetStreamPublisher(js))
        while await relay.relay_once():
            pass
        for _ in range(100):
            if received:
                break
            await asyncio.sleep(0.1)
    assert [e.data["commonCropName"] for e in received] == [crop]
    assert received[0].type == "germplasm.created"
    assert received[0].source == "domain-api"
    await nc.close()
    await engine.dispose()


async def test_a_failing_batch_falls_back_to_single_events_and_isolates_the_poison(
    nats_url: str,
) -> None:
    nc = await connect(nats_url, name="test")
    js = nc.jetstream()
    await ensure_stream(js)
    event_type = f"probe.{uuid.uuid4().hex}"
    events = [envelope(event_type) for _ in range(5)]
    poison = events[2].id
    handled: list[str] = []
    batches: list[int] = []

    async def one(e: EventEnvelope) -> None:
        if e.id == poison:
            raise RuntimeError("poison")
        handled.append(e.id)

    async def many(batch: list[EventEnvelope]) -> None:
        batches.append(len(batch))
        if any(e.id == poison for e in batch):
            raise RuntimeError("poison in batch")
        handled.extend(e.id for e in batch)

    await JetStreamPublisher(js).publish_batch([OutboxRecord.of(e) for e in events])
    durable = f"test-{uuid.uuid4().hex[:8]}"
    consumer = DurableConsumer(
        js,
        ConsumerSpec(
            durable=durable,
            filter_subjects=[f"bijmantra.events.{event_type}"],
            handler=one,
            batch_handler=many,
        ),
        max_deliver=1,
    )
    task = asyncio.create_task(consumer.run())
    for _ in range(100):
        if len(handled) == 4:
            break
        await asyncio.sleep(0.1)
    consumer.stop()
    await task
    assert sorted(handled) == sorted(e.id for e in events if e.id != poison), "each good event once"
    assert batches, "the batch path was taken"
    assert max(batches) > 1, "the batch path was taken"
    message = await js.get_last_msg(EVENTS_STREAM, f"bijmantra.deadletter.{durable}")
    assert message.headers is not None
    assert message.headers["Bijmantra-Event-Id"] == poison
    await nc.close()


async def test_a_lingering_consumer_takes_a_trickle_of_events_a_few_at_a_time(
    nats_url: str,
) -> None:
    """One event every 50 ms: without a linger each fetch finds one (a transaction each, in
    the audit trail); with one, those published meanwhile come in the next batch, so there
    are at most a fetch per linger. Every event is handled once, and stopping does not wait
    out the linger. The bound follows the time the events took to publish, not a fixed
    count, so a slow host does not break it."""
    linger = 0.4
    nc = await connect(nats_url, name="test")
    js = nc.jetstream()
    await ensure_stream(js)
    event_type = f"probe.{uuid.uuid4().hex}"
    handled: list[str] = []
    calls: list[int] = []

    async def one(e: EventEnvelope) -> None:
        calls.append(1)
        handled.append(e.id)

    async def many(batch: list[EventEnvelope]) -> None:
        calls.append(len(batch))
        handled.extend(e.id for e in batch)

    spec = ConsumerSpec(
        durable=f"test-{uuid.uuid4().hex[:8]}",
        filter_subjects=[f"bijmantra.events.{event_type}"],
        handler=one,
        batch_handler=many,
        linger=linger,
    )
    consumer = DurableConsumer(js, spec)
    task = asyncio.create_task(consumer.run())
    await consumer.ready.wait()
    events = [envelope(event_type) for _ in range(12)]
    publisher = JetStreamPublisher(js)
    started = asyncio.get_running_loop().time()
    for event in events:
        await publisher.publish_batch([OutboxRecord.of(event)])
        await asyncio.sleep(0.05)
    for _ in range(100):
        if len(handled) == len(events):
            break
        await asyncio.sleep(0.05)
    elapsed = asyncio.get_running_loop().time() - started
    consumer.stop()
    await asyncio.wait_for(task, timeout=1.0 + linger / 2)  # the linger ends at stop
    assert sorted(handled) == sorted(e.id for e in events)
    assert len(calls) <= min(len(events) - 1, elapsed / linger + 2), (calls, elapsed)
    await nc.close()


async def test_a_consumer_gets_only_its_subjects_and_an_older_wider_durable_is_narrowed(
    nats_url: str,
) -> None:
    nc = await connect(nats_url, name="test")
    js = nc.jetstream()
    await ensure_stream(js)
    context = f"probe{uuid.uuid4().hex[:8]}"
    durable = f"test-{uuid.uuid4().hex[:8]}"
    # What an earlier release created: the whole context.
    await js.add_consumer(
        EVENTS_STREAM,
        nats.js.api.ConsumerConfig(
            durable_name=durable, filter_subject=f"bijmantra.events.{context}.>"
        ),
    )
    wanted = [envelope(f"{context}.created"), envelope(f"{context}.created.bulk")]
    unwanted = [envelope(f"{context}.updated"), envelope(f"{context}.deleted")]
    received: list[str] = []

    async def collect(e: EventEnvelope) -> None:
        received.append(e.type)

    subjects = [f"bijmantra.events.{context}.created", f"bijmantra.events.{context}.created.bulk"]
    consumer = DurableConsumer(
        js, ConsumerSpec(durable=durable, filter_subjects=subjects, handler=collect)
    )
    task = asyncio.create_task(consumer.run())
    await asyncio.wait_for(consumer.ready.wait(), 10)
    publisher = JetStreamPublisher(js)
    await publisher.publish_batch(
        [OutboxRecord.of(e) for e in [unwanted[0], wanted[0], unwanted[1], wanted[1]]]
    )
    for _ in range(50):
        if len(received) == len(wanted):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)  # time for an unwanted delivery to show up, were there one
    info = await js.consumer_info(EVENTS_STREAM, durable)
    consumer.stop()
    await task
    await nc.close()
    assert received == [e.type for e in wanted]
    assert info.config.filter_subjects == [*subjects, f"bijmantra.replay.{durable}"]
    assert not info.config.filter_subject
    assert info.num_pending == 0
    assert info.num_ack_pending == 0


async def test_a_stopped_consumer_lets_the_connection_drain(nats_url: str) -> None:
    """Shutdown drains the connection; a pull subscription left behind would hold the
    drain until its timeout (a service then takes that long to stop, or is killed)."""
    errors: list[Exception] = []

    async def record(error: Exception) -> None:
        errors.append(error)

    nc = await nats.connect(nats_url, name="test", drain_timeout=3, error_cb=record)
    js = nc.jetstream()
    await ensure_stream(js)
    event_type = f"probe.{uuid.uuid4().hex}"
    handled = asyncio.Event()

    async def note(_: EventEnvelope) -> None:
        handled.set()

    consumer = DurableConsumer(
        js,
        ConsumerSpec(
            durable=f"test-{uuid.uuid4().hex[:8]}",
            filter_subjects=[f"bijmantra.events.{event_type}"],
            handler=note,
        ),
    )
    task = asyncio.create_task(consumer.run())
    await JetStreamPublisher(js).publish_batch([OutboxRecord.of(envelope(event_type))])
    await asyncio.wait_for(handled.wait(), 30)
    await asyncio.sleep(2.5)  # idle fetches expire, as between events in a service
    consumer.stop()
    await task
    await nc.drain()
    assert not [e for e in errors if isinstance(e, nats.errors.DrainTimeoutError)]
