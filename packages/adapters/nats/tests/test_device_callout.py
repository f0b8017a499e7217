"""The device listener's auth callout against a real NATS server with its MQTT listener and
a real MQTT 3.1.1 client (paho-mqtt): a device signs in under its own client id only
(ADR 0348)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from bijmantra.adapters.nats import connect
from bijmantra.adapters.nats.devices import DeviceAuthCallout, JwtSigner
from bijmantra.kernel import Unauthorized
from bijmantra.testkit.device_nats import LocalDeviceNats
from bijmantra.testkit.mqtt_device import MqttDevice

pytestmark = pytest.mark.integration

WAIT = 10.0
A_ORG, B_ORG = str(uuid.uuid4()), str(uuid.uuid4())
A_DEVICE, B_DEVICE = str(uuid.uuid4()), str(uuid.uuid4())
CREDENTIALS = {"credential-a": (A_ORG, A_DEVICE), "credential-b": (B_ORG, B_DEVICE)}


async def whose(credential: str) -> tuple[str, str]:
    if credential not in CREDENTIALS:
        raise Unauthorized("Device credential not valid")
    return CREDENTIALS[credential]


@pytest.fixture
async def listener(tmp_path: Path) -> AsyncIterator[LocalDeviceNats]:
    server = LocalDeviceNats(tmp_path / "device-nats")
    server.start()
    callout = await connect(server.callout_url, name="callout")
    try:
        await DeviceAuthCallout(callout, JwtSigner(server.issuer_seed), whose).start()
        await callout.flush()
        yield server
    finally:
        await callout.close()
        server.stop()


def device(listener: LocalDeviceNats, credential: str, client_id: str) -> MqttDevice:
    return MqttDevice(listener.mqtt_port, credential, client_id, wait=WAIT)


async def test_a_device_of_one_organization_cannot_take_over_anothers_connection(
    listener: LocalDeviceNats,
) -> None:
    """Every device signs in to one NATS account, where MQTT client ids are unique: a new
    connection with a client id in use ends the old one. A device chose its id freely, so
    a device of organization A that connected with B's device's id ended B's connection
    (every time B reconnected). Now a device's client id is its device id."""
    victim = device(listener, "credential-b", B_DEVICE)
    assert await asyncio.to_thread(victim.connect) == "Success"
    intruder = device(listener, "credential-a", B_DEVICE)
    try:
        assert await asyncio.to_thread(intruder.connect) != "Success"
        assert not await asyncio.to_thread(victim.dropped.wait, 1.0)
    finally:
        intruder.close()
        victim.close()


async def test_a_device_signs_in_under_its_own_device_id_only(
    listener: LocalDeviceNats,
) -> None:
    own = device(listener, "credential-a", A_DEVICE)
    other = device(listener, "credential-a", "firmware-default")
    try:
        assert await asyncio.to_thread(own.connect) == "Success"
        assert await asyncio.to_thread(other.connect) != "Success"
    finally:
        own.close()
        other.close()
