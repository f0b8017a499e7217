"""The device edge's telemetry stream against a real device edge (ADR 0371): its bounds hold,
a loud device crowds out only its own waiting batches, a full stream refuses new batches
rather than deleting stored ones, and applying the bounds again changes them in place."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from contextlib import AbstractAsyncContextManager

import pytest
from bijmantra.adapters.nats import connect
from bijmantra.adapters.nats.device_bridge import DeviceTelemetryBridge
from bijmantra.adapters.nats.device_stream import (
    DEVICE_DURABLE,
    DEVICE_REPLAY,
    DEVICE_STREAM,
    DeviceStreamBounds,
    device_stream_config,
    ensure_device_stream,
    organization_stream,
)
from bijmantra.adapters.nats.devices import DEVICE_SUBJECTS
from bijmantra.kernel import TenantId
from bijmantra.testkit.device_nats import LocalDeviceNats
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig
from nats.js.errors import ServiceUnavailableError

from .conftest import EDGE_BOUNDS, held, organizations_streams

pytestmark = pytest.mark.integration


class Stored:
    """The ingestion use case's stand-in: every batch it was given, per device, in order."""

    def __init__(self) -> None:
        self.batches: dict[str, list[bytes]] = {}
        self.count = 0

    async def __call__(
        self, tenant: TenantId, device: str, body: bytes, turn: AbstractAsyncContextManager[None]
    ) -> None:
        async with turn:
            self.batches.setdefault(device, []).append(body)
            self.count += 1


async def store_all(js: JetStreamContext, expected: int) -> Stored:
    """Start the bridge on what the stream holds and stop it once ``expected`` are stored."""
    stored = Stored()
    bridge = DeviceTelemetryBridge(js, stored)
    await bridge.start()
    try:
        for _ in range(400):
            if stored.count >= expected:
                break
            await asyncio.sleep(0.025)
        await asyncio.sleep(0.1)  # and nothing more
    finally:
        await bridge.finish()
    return stored


async def held_per_device(js: JetStreamContext, *tenants: uuid.UUID) -> dict[str, int]:
    held: dict[str, int] = {}
    for tenant in tenants:
        info = await js.stream_info(organization_stream(str(tenant)), subjects_filter=">")
        held |= {s.rsplit(".", 1)[1]: n for s, n in (info.state.subjects or {}).items()}
    return held


async def test_a_loud_device_crowds_out_only_its_own_waiting_batches(
    edge_js: JetStreamContext,
) -> None:
    """domain-api is away; one device publishes 100 batches, two others (one of another
    organization) a few. The edge keeps the loud device's 20 newest and every batch of the
    others, and when the bridge starts all of those are stored, each device's in order."""
    loud_org, other_org = uuid.uuid4(), uuid.uuid4()
    await organizations_streams(
        edge_js, [f"bijmantra.t.{loud_org}.d", f"bijmantra.t.{other_org}.d"]
    )
    for n in range(100):  # acknowledged by the stream, so all are in it below
        await edge_js.publish(f"bijmantra.t.{loud_org}.loud", b"loud %d" % n)
        if n % 25 == 0:
            await edge_js.publish(f"bijmantra.t.{loud_org}.quiet", b"quiet %d" % n)
            await edge_js.publish(f"bijmantra.t.{other_org}.far", b"far %d" % n)
    assert await held_per_device(edge_js, loud_org, other_org) == {
        "loud": 20,
        "quiet": 4,
        "far": 4,
    }
    stored = await store_all(edge_js, 28)
    assert stored.batches["loud"] == [b"loud %d" % n for n in range(80, 100)]
    assert stored.batches["quiet"] == [b"quiet %d" % n for n in range(0, 100, 25)]
    assert stored.batches["far"] == [b"far %d" % n for n in range(0, 100, 25)]
    assert (await held(edge_js, loud_org), await held(edge_js, other_org)) == (0, 0)


async def test_a_full_stream_refuses_new_batches_and_keeps_the_stored_ones(
    edge_js: JetStreamContext,
) -> None:
    """Past ``max_bytes`` a new batch is refused (the edge still acknowledges an MQTT
    publish; the ADR says so), and no batch already held is deleted for it; once the bridge
    has stored what was held, new batches are taken again."""
    organization = uuid.uuid4()
    await organizations_streams(edge_js, [f"bijmantra.t.{organization}.d"])
    body = b"x" * 500_000
    taken, refused = [], []
    for n in range(14):
        try:
            await edge_js.publish(f"bijmantra.t.{organization}.d{n}", body)
            taken.append(f"d{n}")
        except ServiceUnavailableError:
            refused.append(f"d{n}")
    info = await edge_js.stream_info(organization_stream(str(organization)))
    assert info.state.bytes <= EDGE_BOUNDS.max_bytes_per_organization
    assert taken == [f"d{n}" for n in range(len(taken))]  # the first ones, none deleted
    assert (len(taken), len(refused)) == (10, 4)
    stored = await store_all(edge_js, len(taken))
    assert sorted(stored.batches) == sorted(taken)
    await edge_js.publish(f"bijmantra.t.{organization}.d13", body)


async def test_applying_the_bounds_again_changes_them_and_keeps_what_is_held(
    edge_js: JetStreamContext,
) -> None:
    organization = uuid.uuid4()
    await organizations_streams(edge_js, [f"bijmantra.t.{organization}.d"])
    await edge_js.publish(f"bijmantra.t.{organization}.d", b"waiting")
    wider = DeviceStreamBounds(
        max_bytes=64 << 20,
        max_per_device=50,
        max_age_seconds=60,
        max_bytes_per_organization=32 << 20,
    )
    await ensure_device_stream(edge_js, wider)
    await ensure_device_stream(edge_js, wider)
    info = await edge_js.stream_info(DEVICE_STREAM)
    assert (info.config.max_bytes, info.config.max_msgs_per_subject) == (64 << 20, 50)
    info = await edge_js.stream_info(organization_stream(str(organization)))
    assert (info.config.max_bytes, info.config.max_msgs_per_subject) == (32 << 20, 50)
    assert info.config.max_age == 60
    assert info.state.messages == 1


async def test_an_edge_of_the_shared_layout_is_changed_in_place(
    device_edge: LocalDeviceNats,
) -> None:
    """An edge made before ADR 0386 (one stream of every device topic, the durable following
    them): applying the bounds and starting the bridge changes both in place, and a device
    topic then goes to its organization's stream, a replay to the shared one."""
    nc = await connect(device_edge.ingest_url, name="ingest")
    js = nc.jetstream()
    old = device_stream_config(EDGE_BOUNDS)
    await js.add_stream(dataclasses.replace(old, subjects=[DEVICE_SUBJECTS, *(old.subjects or [])]))
    durable = ConsumerConfig(durable_name=DEVICE_DURABLE, filter_subjects=[DEVICE_SUBJECTS])
    await js.add_consumer(DEVICE_STREAM, durable)
    await ensure_device_stream(js, EDGE_BOUNDS)
    organization = uuid.uuid4()
    await organizations_streams(js, [f"bijmantra.t.{organization}.d"])
    await js.publish(f"bijmantra.t.{organization}.d", b"new")
    stored = await store_all(js, 1)
    assert stored.batches == {"d": [b"new"]}
    consumer = await js.consumer_info(DEVICE_STREAM, DEVICE_DURABLE)
    assert consumer.config.filter_subjects == [DEVICE_REPLAY]
    assert (await js.stream_info(DEVICE_STREAM)).config.subjects == old.subjects
    await nc.close()
