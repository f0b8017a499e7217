"""The device telemetry bridge against a real device edge (nats-server with its MQTT listener
and JetStream, as ``just up`` runs it): several batches in flight, one device's transactions
in the order its batches arrived (ADR 0294), organizations taking turns (ADR 0348), and what
devices publish kept on the edge until it is stored (ADR 0371)."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
from bijmantra.adapters.nats import connect
from bijmantra.adapters.nats.deadletters import list_dead_letters, replay
from bijmantra.adapters.nats.device_bridge import DeviceTelemetryBridge
from bijmantra.adapters.nats.device_stream import DEVICE_STREAM, OrganizationStreams
from bijmantra.adapters.nats.devices import DeviceAuthCallout, JwtSigner
from bijmantra.kernel import TenantId, Unauthorized
from bijmantra.testkit.device_nats import LocalDeviceNats
from bijmantra.testkit.mqtt_device import MqttDevice
from nats.js import JetStreamContext
from prometheus_client import REGISTRY

from .conftest import EDGE_BOUNDS, held, organizations_streams

pytestmark = pytest.mark.integration
WAIT = 10.0


class RecordingIngest:
    """Stands in for the use case: decodes outside its turn, 'stores' inside it, taking
    ``seconds`` (``slow`` bodies 0.3 s) and failing ``failing`` times on a ``fail`` body."""

    def __init__(self, seconds: float = 0.02, failing: int = 0) -> None:
        self.seconds, self.failing = seconds, failing
        self.decoded: list[tuple[str, bytes, float]] = []
        self.stored: list[tuple[TenantId, str, bytes, float, float]] = []
        self.changed = asyncio.Event()

    async def __call__(
        self, tenant: TenantId, device: str, body: bytes, turn: AbstractAsyncContextManager[None]
    ) -> None:
        self.decoded.append((device, body, time.monotonic()))
        if body == b"refused":
            raise Unauthorized("Device credential not valid")
        async with turn:
            started = time.monotonic()
            await asyncio.sleep(0.3 if body == b"slow" else self.seconds)
            if body == b"fail" and self.failing:
                self.failing -= 1
                raise ConnectionError("PostgreSQL went away")
            self.stored.append((tenant, device, body, started, time.monotonic()))
        self.changed.set()

    def bodies(self, device: str) -> list[bytes]:
        return [s[2] for s in self.stored if s[1] == device]

    async def until(self, done: Callable[[], bool]) -> None:
        async def wait() -> None:
            while not done():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), WAIT)


@asynccontextmanager
async def running(
    js: JetStreamContext, ingest: RecordingIngest, *, ack_wait: float = 60.0, max_deliver: int = 5
) -> AsyncIterator[DeviceTelemetryBridge]:
    bridge = DeviceTelemetryBridge(
        js, ingest, ack_wait=ack_wait, max_deliver=max_deliver, discover_every=0.1
    )
    await bridge.start()
    try:
        yield bridge
    finally:
        await bridge.finish()


async def publish(js: JetStreamContext, batches: list[tuple[str, bytes]]) -> None:
    """Core publishes on device subjects, as the listener turns a device's PUBLISH into."""
    await organizations_streams(js, [subject for subject, _ in batches])
    for subject, body in batches:
        await js._nc.publish(subject, body)
    await js._nc.flush()


async def test_batches_of_one_device_commit_in_order_while_others_run(
    edge_js: JetStreamContext,
) -> None:
    ingest = RecordingIngest()
    tenant = uuid.uuid4()
    mine, other = f"bijmantra.t.{tenant}.a", f"bijmantra.t.{tenant}.b"
    async with running(edge_js, ingest):
        await publish(
            edge_js,
            [
                (mine, b"slow"),
                (mine, b"refused"),
                (mine, b"second"),
                (other, b"other"),
                (mine, b"third"),
            ],
        )
        await ingest.until(lambda: len(ingest.stored) == 4)
    a = [s for s in ingest.stored if s[1] == "a"]
    assert [s[2] for s in a] == [b"slow", b"second", b"third"]
    for earlier, later in itertools.pairwise(a):
        assert later[3] >= earlier[4]  # a device's next batch starts after the one before
    slow_end = a[0][4]
    [b] = [s for s in ingest.stored if s[1] == "b"]
    assert b[3] < slow_end  # another device's batch did not wait for the slow one
    decoded_second = next(t for d, body, t in ingest.decoded if body == b"second")
    assert decoded_second < slow_end  # the next batch was decoded while the first was stored
    assert await held(edge_js, tenant) == 0  # all acknowledged


async def test_one_organizations_flood_neither_delays_nor_drops_anothers_batch(
    edge_js: JetStreamContext,
) -> None:
    """Organization A's 20 devices publish 400 batches (each within its bound on the edge);
    the bridge stores 4 at a time, 10 ms
    each. B's one batch, sent after them, is stored next after the few of A's already being
    stored: organizations take turns in what the bridge has fetched (ADR 0348)."""
    ingest = RecordingIngest(seconds=0.01)
    flooding, other = uuid.uuid4(), uuid.uuid4()
    async with running(edge_js, ingest):
        await publish(
            edge_js,
            [(f"bijmantra.t.{flooding}.d{n % 20}", b"flood %d" % n) for n in range(400)]
            + [(f"bijmantra.t.{other}.d", b"other")],
        )
        await ingest.until(lambda: b"other" in ingest.bodies("d"))
        before_other = len(ingest.stored) - 1
        await ingest.until(lambda: len(ingest.stored) == 401)  # nothing dropped
    assert before_other < 40, before_other  # not behind A's 400


async def test_what_devices_publish_while_the_bridge_is_away_is_stored_when_it_starts(
    device_edge: LocalDeviceNats, edge_js: JetStreamContext
) -> None:
    """Real MQTT devices publish with QoS 1 (acknowledged by the edge) while domain-api is
    not consuming; when the bridge starts every batch is stored, once, in each device's
    order. Before, the edge delivered them to no subscriber and they were lost."""
    organization = str(uuid.uuid4())
    devices = [str(uuid.uuid4()) for _ in range(2)]

    async def whose(credential: str) -> tuple[str, str]:
        return organization, credential

    callout = await connect(device_edge.callout_url, name="callout")
    streams = OrganizationStreams(edge_js, EDGE_BOUNDS)
    signer = JwtSigner(device_edge.issuer_seed)
    await DeviceAuthCallout(callout, signer, whose, admit=streams.admit).start()
    await callout.flush()
    for device_id in devices:
        device = MqttDevice(device_edge.mqtt_port, device_id, device_id, wait=WAIT)
        assert await asyncio.to_thread(device.connect) == "Success"
        for n in range(5):
            topic = f"bijmantra/t/{organization}/{device_id}"
            await asyncio.to_thread(device.publish, topic, [{"n": n}])
        device.close()
    await callout.close()

    ingest = RecordingIngest()
    async with running(edge_js, ingest):
        await ingest.until(lambda: len(ingest.stored) >= 10)
        await asyncio.sleep(0.2)  # nothing more comes
    for device_id in devices:
        assert ingest.bodies(device_id) == [b'{"readings": [{"n": %d}]}' % n for n in range(5)]
    assert await held(edge_js, organization) == 0


async def test_a_batch_stored_by_a_bridge_killed_before_its_ack_comes_again(
    device_edge: LocalDeviceNats, edge_js: JetStreamContext
) -> None:
    """The bridge's connection dies after the batch's transaction committed and before the
    ack: the edge delivers the batch again after ``ack_wait`` (the use case stores nothing
    twice, ADR 0293; the test with PostgreSQL is domain-api's)."""
    tenant = uuid.uuid4()
    subject = f"bijmantra.t.{tenant}.d"
    doomed = await connect(device_edge.ingest_url, name="doomed")
    ingest = RecordingIngest()

    async def then_killed(
        tenant: TenantId, device: str, body: bytes, turn: AbstractAsyncContextManager[None]
    ) -> None:
        await ingest(tenant, device, body, turn)
        await doomed.close()

    bridge = DeviceTelemetryBridge(
        doomed.jetstream(), then_killed, ack_wait=1.0, discover_every=0.1
    )
    await bridge.start()
    await publish(edge_js, [(subject, b"one")])
    await ingest.until(lambda: len(ingest.stored) == 1)
    await bridge.finish()
    again = RecordingIngest()
    async with running(edge_js, again, ack_wait=1.0):
        await again.until(lambda: len(again.stored) == 1)
    assert again.bodies("d") == [b"one"]


async def test_a_failing_batch_is_retried_before_the_devices_later_ones_then_set_aside(
    edge_js: JetStreamContext,
) -> None:
    """A batch whose store fails (PostgreSQL away) goes back with its device's later batches,
    so they are not stored ahead of it; once it succeeds they follow in order. A batch that
    keeps failing is dead-lettered after ``max_deliver`` tries, with its reason, and an
    operator's replay sends it to the bridge again."""
    tenant = uuid.uuid4()
    mine, other = f"bijmantra.t.{tenant}.a", f"bijmantra.t.{tenant}.b"
    ingest = RecordingIngest(failing=1)
    async with running(edge_js, ingest):
        await publish(edge_js, [(mine, b"fail"), (mine, b"after"), (other, b"other")])
        await ingest.until(lambda: len(ingest.stored) == 3)
    assert ingest.bodies("a") == [b"fail", b"after"]

    stubborn = RecordingIngest(failing=3)
    counted = {"consumer": "device-telemetry", "reason": "ConnectionError"}
    before = REGISTRY.get_sample_value("consumer_dead_lettered_total", counted) or 0
    async with running(edge_js, stubborn, max_deliver=2):
        await publish(edge_js, [(mine, b"fail"), (mine, b"later")])
        await stubborn.until(lambda: stubborn.bodies("a") == [b"later"])
    [letter] = await list_dead_letters(edge_js, "device-telemetry", stream=DEVICE_STREAM)
    assert (letter.original_subject, letter.deliveries) == (mine, "2")
    assert letter.reason == "handler failed: ConnectionError: PostgreSQL went away"
    assert REGISTRY.get_sample_value("consumer_dead_lettered_total", counted) == before + 1
    async with running(edge_js, stubborn):
        await replay(edge_js, "device-telemetry", letter.sequence, stream=DEVICE_STREAM)
        await stubborn.until(lambda: stubborn.bodies("a") == [b"later", b"fail"])
    assert await list_dead_letters(edge_js, "device-telemetry", stream=DEVICE_STREAM) == []
