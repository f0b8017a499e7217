"""Organizations share the device edge (ADR 0386), against a real edge (nats-server with its
MQTT listener, JetStream and the auth callout): with domain-api's consumer stopped, one
organization's flood fills only its own stream and is refused at its bound, while another
organization's devices are still let in and their batches kept and stored once the consumer
resumes; nor does one organization's backlog hold another's batches back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from bijmantra.adapters.nats import connect
from bijmantra.adapters.nats.deadletters import DeadLetter, Refused, list_dead_letters, replay
from bijmantra.adapters.nats.device_stream import (
    DEVICE_STREAM,
    OrganizationStreams,
    ensure_device_stream,
    organization_stream,
    reclaim_unused_streams,
)
from bijmantra.adapters.nats.devices import MAX_PAYLOAD, DeviceAuthCallout, JwtSigner
from bijmantra.testkit.device_nats import LocalDeviceNats
from bijmantra.testkit.mqtt_device import MqttDevice
from nats.js import JetStreamContext
from nats.js.errors import APIError, NotFoundError

from .conftest import EDGE_BOUNDS, held, organizations_streams
from .test_device_bridge import WAIT, RecordingIngest, publish, running

pytestmark = pytest.mark.integration


@asynccontextmanager
async def callout(
    edge: LocalDeviceNats,
    js: JetStreamContext,
    made: Callable[[str], Awaitable[None]] | None = None,
) -> AsyncIterator[None]:
    """domain-api's callout: a credential ``<organization>:<device>`` is that device's."""

    async def whose(credential: str) -> tuple[str, str]:
        organization, device = credential.split(":")
        return organization, device

    nc = await connect(edge.callout_url, name="callout")
    streams = OrganizationStreams(js, EDGE_BOUNDS, made)
    await DeviceAuthCallout(nc, JwtSigner(edge.issuer_seed), whose, admit=streams.admit).start()
    await nc.flush()
    try:
        yield
    finally:
        await nc.close()


async def connected(edge: LocalDeviceNats, organization: str, device: str) -> MqttDevice:
    mqtt = MqttDevice(edge.mqtt_port, f"{organization}:{device}", client_id=device, wait=WAIT)
    assert await asyncio.to_thread(mqtt.connect) == "Success"
    return mqtt


async def dead_letters(js: JetStreamContext) -> list[DeadLetter]:
    """The bridge's dead letters, once there are some (within ``WAIT``)."""
    for _ in range(int(WAIT * 10)):
        if found := await list_dead_letters(js, "device-telemetry", stream=DEVICE_STREAM):
            return found
        await asyncio.sleep(0.1)
    return []


async def stream_bytes(js: JetStreamContext, organization: object) -> int:
    return (await js.stream_info(organization_stream(str(organization)))).state.bytes


async def settled(js: JetStreamContext, organization: object, expected: int) -> int:
    """What the organization's stream holds once it holds ``expected`` batches, or after
    ``WAIT``: a core publish (and MQTT's PUBACK) does not wait for the stream to store it."""
    for _ in range(int(WAIT * 20)):
        if (found := await held(js, organization)) == expected:
            return found
        await asyncio.sleep(0.05)
    return await held(js, organization)


async def test_a_flooding_organization_is_refused_at_its_bound_and_another_is_not(
    device_edge: LocalDeviceNats, edge_js: JetStreamContext
) -> None:
    """domain-api's consumer is stopped. Organization A's six MQTT devices publish 18 batches
    of about 1 MiB, three times its 5 MiB share: its stream keeps what fits and no more; A's
    next device is refused at connect, and a publish through JetStream is refused with the
    server's reason. B's devices, connecting after, are let in and all their batches kept;
    when the consumer resumes every one of B's is stored, in each device's order."""
    flooding, other = str(uuid.uuid4()), str(uuid.uuid4())
    async with callout(device_edge, edge_js):
        floods = [await connected(device_edge, flooding, f"a{n}") for n in range(6)]
        for n, device in enumerate(floods):
            for k in range(3):
                topic = f"bijmantra/t/{flooding}/a{n}"
                await asyncio.to_thread(device.publish, topic, [{"k": k}], 1_000_000)
        assert await settled(edge_js, flooding, 5) == 5  # of 18: what 5 MiB holds
        assert await stream_bytes(edge_js, flooding) <= EDGE_BOUNDS.max_bytes_per_organization
        late = MqttDevice(device_edge.mqtt_port, f"{flooding}:a9", client_id="a9", wait=WAIT)
        assert await asyncio.to_thread(late.connect) == "Not authorized"
        late.close()
        with pytest.raises(APIError, match="maximum bytes"):
            await edge_js.publish(f"bijmantra.t.{flooding}.a0", b"x" * 1_000_000)

        others = [await connected(device_edge, other, f"b{n}") for n in range(2)]
        for n, device in enumerate(others):
            for k in range(3):
                await asyncio.to_thread(device.publish, f"bijmantra/t/{other}/b{n}", [{"k": k}])
        for device in floods + others:
            device.close()
    assert await settled(edge_js, other, 6) == 6

    kept = await held(edge_js, flooding)
    ingest = RecordingIngest(seconds=0.0)
    async with running(edge_js, ingest):
        await ingest.until(lambda: len(ingest.stored) == kept + 6)
    for n in range(2):
        assert ingest.bodies(f"b{n}") == [b'{"readings": [{"k": %d}]}' % k for k in range(3)]
    assert (await held(edge_js, flooding), await held(edge_js, other)) == (0, 0)


async def test_many_devices_of_one_organization_with_the_largest_batches_crowd_out_no_other(
    edge_js: JetStreamContext,
) -> None:
    """Twelve devices of A publish two batches each of the largest size (4 MiB, as the
    listener passes them): A's stream holds one, the rest are refused; B's forty small
    batches published afterwards are every one kept. The dead letters' stream is untouched."""
    flooding, other = uuid.uuid4(), uuid.uuid4()
    largest = b"x" * MAX_PAYLOAD
    await publish(edge_js, [(f"bijmantra.t.{flooding}.d{n % 12}", largest) for n in range(24)])
    await publish(edge_js, [(f"bijmantra.t.{other}.d{n % 4}", b"small %d" % n) for n in range(40)])
    assert await settled(edge_js, other, 40) == 40
    assert await held(edge_js, flooding) == 1
    assert (await edge_js.stream_info(DEVICE_STREAM)).state.messages == 0


async def test_another_organizations_backlog_does_not_hold_a_batch_back(
    edge_js: JetStreamContext,
) -> None:
    """A's 300 batches wait on the edge before B's one (the consumer was stopped). When it
    resumes, storing 10 ms a batch, B's is stored among the first few, not after A's 300:
    each organization's stream is fetched on its own. Before, the one stream was fetched in
    its order, a window at a time, and B's batch came after most of A's backlog."""
    flooding, other = uuid.uuid4(), uuid.uuid4()
    await publish(edge_js, [(f"bijmantra.t.{flooding}.d{n % 20}", b"a %d" % n) for n in range(300)])
    await publish(edge_js, [(f"bijmantra.t.{other}.d", b"b")])
    ingest = RecordingIngest(seconds=0.01)
    async with running(edge_js, ingest):
        await ingest.until(lambda: b"b" in ingest.bodies("d"))
        before = len(ingest.stored) - 1
        await ingest.until(lambda: len(ingest.stored) == 301)
    assert before < 40, before


async def test_a_replayed_batch_of_a_full_organization_is_stored_and_counts_once(
    edge_js: JetStreamContext,
) -> None:
    """A batch of A's dead-lettered and then replayed by an operator goes through the shared
    stream of dead letters, not A's full one, and is stored; replaying it again stores
    nothing more (the replay's message id is deduplicated), and B's batches go on."""
    flooding, other = uuid.uuid4(), uuid.uuid4()
    mine = f"bijmantra.t.{flooding}.a"
    failing = RecordingIngest(failing=2)
    async with running(edge_js, failing, max_deliver=2):
        await publish(edge_js, [(mine, b"fail")])
        [letter] = await dead_letters(edge_js)  # tried twice, then set aside
    await publish(edge_js, [(mine, b"x" * 1_000_000) for _ in range(8)])
    assert await settled(edge_js, flooding, 5) == 5  # A is full
    await organizations_streams(edge_js, [f"bijmantra.t.{other}.b"])
    await replay(edge_js, "device-telemetry", letter.sequence, stream=DEVICE_STREAM)
    with pytest.raises(Refused, match="replayed already"):
        await replay(edge_js, "device-telemetry", letter.sequence, stream=DEVICE_STREAM)
    await publish(edge_js, [(f"bijmantra.t.{other}.b", b"other")])
    ingest = RecordingIngest()
    async with running(edge_js, ingest):
        await ingest.until(lambda: len(ingest.stored) == 7)
        await asyncio.sleep(0.2)  # nothing more comes
    assert ingest.bodies("a").count(b"fail") == 1
    assert ingest.bodies("b") == [b"other"]
    assert await list_dead_letters(edge_js, "device-telemetry", stream=DEVICE_STREAM) == []


async def test_an_edge_without_room_for_another_organizations_stream_refuses_only_its_devices(
    tmp_path: Path,
) -> None:
    """JetStream reserves each stream's bytes: an edge that may take 12 MiB holds the dead
    letters' 5 MiB and one organization's 5 MiB share, not a second's. The second
    organization's device is refused at connect; the first's devices still connect."""
    edge = LocalDeviceNats(tmp_path / "edge", max_file_store=12 * 1024 * 1024)
    edge.start()
    nc = await connect(edge.ingest_url, name="ingest")
    try:
        js = nc.jetstream()
        await ensure_device_stream(js, EDGE_BOUNDS)
        first, second = str(uuid.uuid4()), str(uuid.uuid4())
        async with callout(edge, js):
            (await connected(edge, first, "a")).close()
            refused = MqttDevice(edge.mqtt_port, f"{second}:b", client_id="b", wait=WAIT)
            assert await asyncio.to_thread(refused.connect) == "Not authorized"
            refused.close()
            (await connected(edge, first, "a2")).close()
        assert await held(js, first) == 0
        with pytest.raises(NotFoundError):
            await js.stream_info(organization_stream(second))
    finally:
        await nc.close()
        edge.stop()


async def test_a_reclaimed_stream_is_made_again_at_the_next_connect_and_its_batches_stored(
    device_edge: LocalDeviceNats, edge_js: JetStreamContext
) -> None:
    """The sweep asks about streams that hold nothing only: A's, holding a batch (its first
    try failed, the next is 2 s away), is kept unasked; B's empty one is reclaimed when the
    registry (here: none of B's devices can connect) lets it go. B's device then connects
    through the same callout, which had made B's stream before: it is made again, and the
    running bridge, which followed the old one, stores the batch published into the new."""
    waiting, reclaimed = str(uuid.uuid4()), str(uuid.uuid4())
    asked: list[str] = []

    async def none_can_connect(tenant: str, reclaim: Callable[[], Awaitable[bool]]) -> bool:
        asked.append(tenant)
        return await reclaim()

    ingest = RecordingIngest(failing=1)
    async with running(edge_js, ingest) as bridge, callout(device_edge, edge_js, bridge.follow):
        (await connected(device_edge, reclaimed, "b")).close()
        await publish(edge_js, [(f"bijmantra.t.{waiting}.a", b"fail")])
        for _ in range(int(WAIT * 20)):
            if ingest.decoded:  # tried once, failed: sent back for 2 s
                break
            await asyncio.sleep(0.05)
        assert await held(edge_js, waiting) == 1
        assert await reclaim_unused_streams(edge_js, none_can_connect) == [reclaimed]
        assert asked == [reclaimed]
        with pytest.raises(NotFoundError):
            await edge_js.stream_info(organization_stream(reclaimed))
        device = await connected(device_edge, reclaimed, "b")
        await asyncio.to_thread(device.publish, f"bijmantra/t/{reclaimed}/b", [{"k": 1}])
        device.close()
        await ingest.until(lambda: len(ingest.stored) == 2)
    assert ingest.bodies("b") == [b'{"readings": [{"k": 1}]}']
    assert ingest.bodies("a") == [b"fail"]
    assert (await held(edge_js, reclaimed), await held(edge_js, waiting)) == (0, 0)
