"""The device telemetry bridge against a real NATS server: several batches in flight, one
device's transactions in the order its batches arrived (ADR 0294)."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from contextlib import AbstractAsyncContextManager

import pytest
from bijmantra.adapters.nats import connect
from bijmantra.adapters.nats.devices import DeviceTelemetryBridge
from bijmantra.kernel import TenantId, Unauthorized

pytestmark = pytest.mark.integration


class RecordingIngest:
    """Stands in for the use case: decodes outside its turn, 'stores' inside it."""

    def __init__(self) -> None:
        self.decoded: list[tuple[str, bytes, float]] = []
        self.stored: list[tuple[str, bytes, float, float]] = []
        self.four_stored = asyncio.Event()

    async def __call__(
        self, tenant: TenantId, device: str, body: bytes, turn: AbstractAsyncContextManager[None]
    ) -> None:
        self.decoded.append((device, body, time.monotonic()))
        if body == b"refused":
            raise Unauthorized("Device credential not valid")
        async with turn:
            started = time.monotonic()
            await asyncio.sleep(0.3 if body == b"slow" else 0.02)
            self.stored.append((device, body, started, time.monotonic()))
        if len(self.stored) == 4:
            self.four_stored.set()


async def test_batches_of_one_device_commit_in_order_while_others_run(nats_url: str) -> None:
    ingest = RecordingIngest()
    listener = await connect(nats_url, name="bridge")
    bridge = DeviceTelemetryBridge(listener, ingest, in_flight=4)
    await bridge.start()
    publisher = await connect(nats_url, name="device")
    tenant = uuid.uuid4()
    mine, other = f"bijmantra.t.{tenant}.a", f"bijmantra.t.{tenant}.b"
    for subject, body in (
        (mine, b"slow"),
        (mine, b"refused"),
        (mine, b"second"),
        (other, b"other"),
        (mine, b"third"),
    ):
        await publisher.publish(subject, body)
    await publisher.flush()
    await asyncio.wait_for(ingest.four_stored.wait(), 10)
    await publisher.close()
    await listener.drain()
    await bridge.finish()

    a = [s for s in ingest.stored if s[0] == "a"]
    assert [s[1] for s in a] == [b"slow", b"second", b"third"]
    for earlier, later in itertools.pairwise(a):
        assert later[2] >= earlier[3]  # a device's next batch starts after the one before
    slow_end = a[0][3]
    [b] = [s for s in ingest.stored if s[0] == "b"]
    assert b[2] < slow_end  # another device's batch did not wait for the slow one
    decoded_second = next(t for d, body, t in ingest.decoded if body == b"second")
    assert decoded_second < slow_end  # the next batch was decoded while the first was stored


class TimedIngest:
    """Takes ``seconds`` per batch and notes, per organization, when each was stored."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.stored: list[tuple[TenantId, bytes]] = []
        self.arrived = asyncio.Event()

    async def __call__(
        self, tenant: TenantId, device: str, body: bytes, turn: AbstractAsyncContextManager[None]
    ) -> None:
        async with turn:
            await asyncio.sleep(self.seconds)
            self.stored.append((tenant, body[:8]))
            if body.startswith(b"other"):
                self.arrived.set()


async def test_one_organizations_flood_neither_delays_nor_drops_anothers_batch(
    nats_url: str,
) -> None:
    """Organization A's devices publish 400 batches; the bridge stores 4 at a time, 10 ms
    each, so A's backlog takes a second. B's one batch, sent after them, is stored next
    after the few of A's already being stored: organizations take turns (ADR 0348). Before,
    it waited behind all of A's (in the client's buffer, which past 128 MiB drops whatever
    comes, B's batches too)."""
    ingest = TimedIngest(0.01)
    listener = await connect(nats_url, name="bridge")
    bridge = DeviceTelemetryBridge(listener, ingest, in_flight=4)
    await bridge.start()
    publisher = await connect(nats_url, name="devices")
    flooding, other = TenantId(uuid.uuid4()), TenantId(uuid.uuid4())
    for n in range(400):
        await publisher.publish(f"bijmantra.t.{flooding}.d{n % 8}", b"flood %d" % n)
    await publisher.publish(f"bijmantra.t.{other}.d", b"other")
    await publisher.flush()
    await asyncio.wait_for(ingest.arrived.wait(), 10)
    before_other = len(ingest.stored) - 1
    await publisher.close()
    await listener.drain()
    await bridge.finish()
    assert len(ingest.stored) == 401  # nothing dropped: A's 400 are within its bound
    assert before_other < 40, before_other  # not behind A's 400


async def test_an_organization_holds_a_bounded_number_of_bytes_in_the_bridge(
    nats_url: str,
) -> None:
    """Past its bound an organization's batches are dropped while they wait; another's
    still go through."""
    ingest = TimedIngest(0.05)
    listener = await connect(nats_url, name="bridge")
    bridge = DeviceTelemetryBridge(
        listener, ingest, in_flight=1, max_queued=1 << 20, max_queued_per_organization=10_000
    )
    await bridge.start()
    publisher = await connect(nats_url, name="devices")
    flooding, other = TenantId(uuid.uuid4()), TenantId(uuid.uuid4())
    for n in range(20):
        await publisher.publish(f"bijmantra.t.{flooding}.d", b"flood %d" % n + b"." * 1000)
    await publisher.publish(f"bijmantra.t.{other}.d", b"other")
    await publisher.flush()
    await asyncio.wait_for(ingest.arrived.wait(), 10)
    await publisher.close()
    await listener.drain()
    await bridge.finish()
    by_organization = {t: [b for s, b in ingest.stored if s == t] for t in (flooding, other)}
    assert len(by_organization[flooding]) < 20  # ten kilobytes: nine or ten waited, not twenty
    assert by_organization[other] == [b"other"]
    kept = [int(b.split()[1].rstrip(b".")) for b in by_organization[flooding]]
    assert kept == sorted(kept)  # what was kept, in order
