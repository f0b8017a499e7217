"""The bound on retained MQTT publishes (ADR 0361) against a real NATS server with its MQTT
listener and real MQTT 3.1.1 clients: a retained publish past the bound is acknowledged and
delivered but not kept, the device stays connected and new devices still connect; a stream
the server made before the bound loses what it held; the bound outlives a restart; the
periodic purge empties the stream (a revoked device's publish with it) and the server keeps
retained publishes after it as before."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from bijmantra.adapters.nats import connect
from bijmantra.adapters.nats.devices import DeviceAuthCallout, JwtSigner
from bijmantra.adapters.nats.retained import (
    MAX_RETAINED,
    RETAINED_STREAM,
    bound_retained,
    forget_retained,
    forget_retained_every,
)
from bijmantra.kernel import Unauthorized
from bijmantra.testkit.device_nats import LocalDeviceNats
from bijmantra.testkit.mqtt_device import MqttDevice
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

pytestmark = pytest.mark.integration

WAIT = 10.0
ORGANIZATION = str(uuid.uuid4())
DEVICES = {f"credential-{i}": str(uuid.uuid4()) for i in range(4)}


async def whose(credential: str) -> tuple[str, str]:
    if credential not in DEVICES:
        raise Unauthorized("Device credential not valid")
    return ORGANIZATION, DEVICES[credential]


@dataclass
class Edge:
    server: LocalDeviceNats
    ingest: Client
    js: JetStreamContext
    received: list[int] = field(default_factory=list)  # payload sizes the subscriber got
    devices: list[MqttDevice] = field(default_factory=list)

    async def device(self, n: int) -> tuple[MqttDevice, str]:
        credential = f"credential-{n}"
        device = MqttDevice(self.server.mqtt_port, credential, DEVICES[credential], wait=WAIT)
        self.devices.append(device)
        assert await asyncio.to_thread(device.connect) == "Success"
        return device, f"bijmantra/t/{ORGANIZATION}/{DEVICES[credential]}"

    async def kept(self) -> tuple[int, int]:
        """Retained publishes the stream holds, and its bound."""
        info = await self.js.stream_info(RETAINED_STREAM)
        return info.state.messages, info.config.max_msg_size


async def retain(device: MqttDevice, topic: str, size: int) -> None:
    """A retained QoS 1 publish of ``size`` bytes, acknowledged by the server (PUBACK)."""
    body = b'{"readings":[]}' + b" " * (size - 15)
    info = device.client.publish(topic, body, qos=1, retain=True)
    await asyncio.to_thread(info.wait_for_publish, WAIT)
    assert info.is_published()


async def delivered(edge: Edge, count: int) -> None:
    for _ in range(200):
        if len(edge.received) >= count:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"the subscriber got {edge.received}, not {count} publishes")


@pytest.fixture
async def edge(tmp_path: Path) -> AsyncIterator[Edge]:
    server = LocalDeviceNats(tmp_path / "device-nats")
    server.start()
    callout = await connect(server.callout_url, name="callout")
    ingest = await connect(server.ingest_url, name="ingest")
    the_edge = Edge(server, ingest, ingest.jetstream())

    async def received(msg: Msg) -> None:
        the_edge.received.append(len(msg.data))

    try:
        await DeviceAuthCallout(callout, JwtSigner(server.issuer_seed), whose).start()
        await ingest.subscribe("bijmantra.t.*.*", cb=received)
        await callout.flush()
        await ingest.flush()
        yield the_edge
    finally:
        for device in the_edge.devices:
            device.close()
        await ingest.close()
        await callout.close()
        server.stop()


async def test_a_retained_publish_past_the_bound_is_delivered_but_not_kept(edge: Edge) -> None:
    assert await bound_retained(edge.js)  # before any device: the stream is made bounded
    device, topic = await edge.device(0)
    await retain(device, topic, 64 * 1024)
    await delivered(edge, 1)
    assert edge.received == [64 * 1024]
    assert await edge.kept() == (0, MAX_RETAINED)
    await retain(device, topic, 1024)  # within the bound: kept, one per topic
    await delivered(edge, 2)
    assert await edge.kept() == (1, MAX_RETAINED)
    assert not device.dropped.is_set()
    await edge.device(1)  # a new device's session is still written: it connects
    assert not await bound_retained(edge.js)  # bounded already: nothing to change


async def test_bounding_the_stream_the_server_made_purges_what_it_held(edge: Edge) -> None:
    device, topic = await edge.device(0)  # the server makes the stream, unbounded
    await retain(device, topic, 1 << 20)
    assert await edge.kept() == (1, -1)
    assert await bound_retained(edge.js)
    assert await edge.kept() == (0, MAX_RETAINED)
    await retain(device, topic, 1 << 20)
    await delivered(edge, 2)
    assert await edge.kept() == (0, MAX_RETAINED)
    await edge.device(1)


async def test_the_bound_outlives_a_restart_of_the_edge(edge: Edge) -> None:
    await bound_retained(edge.js)
    await edge.device(0)
    edge.server.stop()
    edge.server.start()
    ingest = await connect(edge.server.ingest_url, name="ingest-again")
    callout = await connect(edge.server.callout_url, name="callout-again")
    try:
        await DeviceAuthCallout(callout, JwtSigner(edge.server.issuer_seed), whose).start()
        await callout.flush()
        edge.js = ingest.jetstream()
        device, topic = await edge.device(2)
        await retain(device, topic, 64 * 1024)
        assert await edge.kept() == (0, MAX_RETAINED)
    finally:
        await ingest.close()
        await callout.close()


async def test_the_periodic_purge_empties_the_stream_and_retaining_goes_on(edge: Edge) -> None:
    await forget_retained(edge.js)  # no stream yet (no device has connected): nothing to do
    await bound_retained(edge.js)
    device, topic = await edge.device(0)
    other, other_topic = await edge.device(1)
    await retain(device, topic, 1024)
    await retain(other, other_topic, 1024)
    assert await edge.kept() == (2, MAX_RETAINED)
    other.close()  # as a revoked device: it never publishes again
    stop = asyncio.Event()
    purging = asyncio.create_task(forget_retained_every(edge.js, stop, interval=0.05))
    try:
        for _ in range(100):
            if (await edge.kept())[0] == 0:
                break
            await asyncio.sleep(0.05)
        assert await edge.kept() == (0, MAX_RETAINED)
    finally:
        stop.set()
        await asyncio.wait_for(purging, WAIT)
    await retain(device, topic, 1024)
    assert await edge.kept() == (1, MAX_RETAINED)
    assert not device.dropped.is_set()


async def test_a_domain_api_restarted_within_the_hour_still_purges(edge: Edge) -> None:
    """The hourly purge first ran an hour after domain-api started: a domain-api restarted
    more often (SIGKILLed by the OOM killer, a crash loop, rollouts, replicas scaled in and
    out) never purged, and revoked devices' retained publishes stayed for good (ADR 0367).
    Each start purges once, then every hour."""
    await bound_retained(edge.js)
    device, topic = await edge.device(0)
    await retain(device, topic, 1024)
    device.close()  # as a revoked device: it never publishes again
    assert (await edge.kept())[0] == 1
    stop = asyncio.Event()
    purging = asyncio.create_task(forget_retained_every(edge.js, stop))  # the hour's default
    try:
        for _ in range(100):
            if (await edge.kept())[0] == 0:
                break
            await asyncio.sleep(0.05)
        assert (await edge.kept())[0] == 0, "not purged until an hour after the start"
    finally:
        stop.set()
        await asyncio.wait_for(purging, WAIT)
