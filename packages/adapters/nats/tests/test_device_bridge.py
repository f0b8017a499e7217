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
