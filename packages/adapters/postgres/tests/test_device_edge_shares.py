"""The device edge gives an organization's share back (ADR 0386), against a real edge and real
PostgreSQL: the stream of an organization none of whose devices can connect any more (each
revoked, or the organization erased) is reclaimed once it holds nothing, and another
organization can take the share on a full edge; a stream with batches waiting is kept; a
device claimed while the sweep reclaims waits for it, then connects, and its organization's
stream is made again and its batches stored."""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from bijmantra.adapters.nats import connect
from bijmantra.adapters.nats.device_bridge import DeviceTelemetryBridge
from bijmantra.adapters.nats.device_stream import (
    DeviceStreamBounds,
    OrganizationStreams,
    ensure_device_stream,
    organization_stream,
    reclaim_unused_streams,
)
from bijmantra.adapters.nats.devices import DeviceAuthCallout, JwtSigner
from bijmantra.adapters.postgres.tenant_archive import export_tenant
from bijmantra.adapters.postgres.tenant_operations import erase_tenant
from bijmantra.application.sensors import AuthenticateDevice, ReleaseEdgeShare
from bijmantra.kernel import TenantId, Unavailable
from bijmantra.testkit.device_nats import LocalDeviceNats
from bijmantra.testkit.mqtt_device import MqttDevice
from bijmantra.testkit.organizations import insert_organization
from bijmantra.testkit.provision import ProvisionedDatabase
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from sqlalchemy.ext.asyncio import AsyncEngine

from .test_sensors_store import Org, count_rows, item

pytestmark = pytest.mark.integration
SHARE = 5 * 1024 * 1024
BOUNDS = DeviceStreamBounds(max_bytes=SHARE, max_age_seconds=600, max_bytes_per_organization=SHARE)
# An edge whose JetStream may reserve the dead letters' share and one organization's, no more.
FULL_EDGE = 12 * 1024 * 1024
Reclaim = Callable[[], Awaitable[bool]]


@dataclass
class Edge:
    js: JetStreamContext
    streams: OrganizationStreams

    async def has_stream(self, org: Org) -> bool:
        try:
            await self.js.stream_info(organization_stream(str(org.tenant)))
        except NotFoundError:
            return False
        return True

    async def sweep(
        self, org: Org, meanwhile: Callable[[], Awaitable[None]] | None = None
    ) -> list[str]:
        """domain-api's sweep, asking the real device registry; ``meanwhile`` runs while the
        registry holds the organization's devices, just before the stream is deleted."""
        share = ReleaseEdgeShare(org.uow)

        async def release(tenant: str, reclaim: Reclaim) -> bool:
            async def after_meanwhile() -> bool:
                if meanwhile is not None:
                    await meanwhile()
                return await reclaim()

            return await share(TenantId(uuid.UUID(tenant)), after_meanwhile)

        return await reclaim_unused_streams(self.js, release)


@asynccontextmanager
async def edge_of(server: LocalDeviceNats) -> AsyncIterator[Edge]:
    nc = await connect(server.ingest_url, name="ingest")
    js = nc.jetstream()
    await ensure_device_stream(js, BOUNDS)
    try:
        yield Edge(js, OrganizationStreams(js, BOUNDS))
    finally:
        await nc.close()


@pytest.fixture
async def full_edge(tmp_path: Path) -> AsyncIterator[Edge]:
    server = LocalDeviceNats(tmp_path / "edge", max_file_store=FULL_EDGE)
    server.start()
    try:
        async with edge_of(server) as edge:
            yield edge
    finally:
        server.stop()


async def test_the_stream_of_an_organization_whose_last_device_is_retired_is_reclaimed(
    engine: AsyncEngine, full_edge: Edge
) -> None:
    """A's device holds A's share of a full edge: B is refused, and the sweep keeps A's
    stream. A's device is revoked: the sweep reclaims A's empty stream, and B is let in."""
    a, b = Org(engine), Org(engine)
    device, _ = await a.device()
    await b.device()
    await full_edge.streams.admit(str(a.tenant))
    with pytest.raises(Unavailable, match="no room"):
        await full_edge.streams.admit(str(b.tenant))
    assert await full_edge.sweep(a) == []
    assert await full_edge.has_stream(a)

    await a.enrolment.revoke(a.manager, device)
    assert await full_edge.sweep(a) == [str(a.tenant)]
    assert not await full_edge.has_stream(a)
    await full_edge.streams.admit(str(b.tenant))
    assert await full_edge.has_stream(b)


async def test_a_stream_with_batches_waiting_is_kept_until_they_are_taken(
    engine: AsyncEngine, device_edge: LocalDeviceNats
) -> None:
    """A's device is revoked while a batch of it waits on the edge (domain-api away): the
    sweep keeps A's stream. The bridge takes the batch (refused: its device is revoked) and
    the next sweep reclaims the stream."""
    a = Org(engine)
    device, _ = await a.device()
    async with edge_of(device_edge) as edge:
        await edge.streams.admit(str(a.tenant))
        body = json.dumps({"readings": [item(60, 20.0)]}).encode()
        await edge.js.publish(f"bijmantra.t.{a.tenant}.{device}", body)
        await a.enrolment.revoke(a.manager, device)
        assert await edge.sweep(a) == []
        assert await edge.has_stream(a)

        bridge = DeviceTelemetryBridge(edge.js, a.ingest.from_connected_device)
        await bridge.start()
        info = functools.partial(edge.js.stream_info, organization_stream(str(a.tenant)))
        for _ in range(200):
            if (await info()).state.messages == 0:
                break
            await asyncio.sleep(0.05)
        await bridge.finish()
        assert await edge.sweep(a) == [str(a.tenant)]
    assert await count_rows(engine, a.tenant, "sensor_readings") == 0


async def test_an_erased_organizations_stream_is_reclaimed(
    engine: AsyncEngine, device_edge: LocalDeviceNats, database: ProvisionedDatabase, tmp_path: Path
) -> None:
    """A's claimed device keeps A's stream; once A is exported and erased, the sweep
    reclaims it. Another organization's stream, with its device, stays."""
    a, kept = Org(engine), Org(engine)
    with psycopg.connect(database.owner_url) as conn:
        insert_organization(conn, a.tenant, f"erased-{a.tenant}", ["admin"])
    await a.device()
    await kept.device()
    async with edge_of(device_edge) as edge:
        for org in (a, kept):
            await edge.streams.admit(str(org.tenant))
        assert await edge.sweep(a) == []
        archive = tmp_path / "a.tar"
        await asyncio.to_thread(export_tenant, database.owner_url, a.tenant, archive)
        erase = functools.partial(erase_tenant, archive=archive, erased_by="test")
        await asyncio.to_thread(erase, database.owner_url, a.tenant)
        assert await edge.sweep(a) == [str(a.tenant)]
        assert not await edge.has_stream(a)
        assert await edge.has_stream(kept)


@asynccontextmanager
async def platform(server: LocalDeviceNats, edge: Edge, org: Org) -> AsyncIterator[None]:
    """domain-api's callout and bridge, as production wires them, over real PostgreSQL."""
    bridge = DeviceTelemetryBridge(edge.js, org.ingest.from_connected_device, discover_every=0.1)
    await bridge.start()
    streams = OrganizationStreams(edge.js, BOUNDS, made=bridge.follow)
    authenticate = AuthenticateDevice(org.uow)

    async def whose(credential: str) -> tuple[str, str]:
        found = await authenticate(credential)
        return found["tenantId"], found["deviceId"]

    nc = await connect(server.callout_url, name="callout")
    await DeviceAuthCallout(nc, JwtSigner(server.issuer_seed), whose, admit=streams.admit).start()
    await nc.flush()
    try:
        yield
    finally:
        await nc.close()
        await bridge.finish()


async def sends(server: LocalDeviceNats, org: Org, device: str, credential: str) -> None:
    """The device connects over MQTT and publishes one batch of one reading."""
    mqtt = MqttDevice(server.mqtt_port, credential, client_id=device, wait=10.0)
    assert await asyncio.to_thread(mqtt.connect) == "Success"
    await asyncio.to_thread(mqtt.publish, f"bijmantra/t/{org.tenant}/{device}", [item(60, 21.0)])
    mqtt.close()


async def test_a_device_claimed_during_the_sweep_waits_for_it_and_its_batches_are_stored(
    engine: AsyncEngine, device_edge: LocalDeviceNats
) -> None:
    """A's first device is revoked; a second one has its claim code. The sweep finds no
    device that can connect, and while it deletes A's stream the second device claims: the
    claim waits until the stream is gone (so the device cannot connect before), then the
    device connects, A's stream is made again, and its batch is stored. So is a device
    registered meanwhile (its registration waits too)."""
    a = Org(engine)
    retired, _ = await a.device()
    second, code = await a.claim_code()
    await a.enrolment.revoke(a.manager, retired)
    claimed: list[dict[str, Any]] = []
    async with edge_of(device_edge) as edge, platform(device_edge, edge, a):
        await edge.streams.admit(str(a.tenant))
        claiming: asyncio.Task[dict[str, Any]] | None = None
        registering: asyncio.Task[tuple[str, str]] | None = None

        async def claim_and_register_meanwhile() -> None:
            nonlocal claiming, registering
            claiming = asyncio.create_task(
                a.enrolment.claim(json.dumps({"claimCode": code}).encode())
            )
            registering = asyncio.create_task(a.device())
            await asyncio.sleep(0.5)
            assert not claiming.done()  # held by the sweep
            assert not registering.done()

        assert await edge.sweep(a, claim_and_register_meanwhile) == [str(a.tenant)]
        assert claiming is not None
        assert registering is not None
        claimed.append(await claiming)
        third, third_credential = await registering
        assert not await edge.has_stream(a)
        await sends(device_edge, a, second, claimed[0]["credential"])
        await sends(device_edge, a, third, third_credential)
        assert await edge.has_stream(a)
        await until_stored(engine, a, 2)
        assert await edge.sweep(a) == []  # its devices can connect: kept


async def until_stored(engine: AsyncEngine, org: Org, readings: int) -> None:
    for _ in range(300):
        if await count_rows(engine, org.tenant, "sensor_readings") == readings:
            return
        await asyncio.sleep(0.05)
    assert await count_rows(engine, org.tenant, "sensor_readings") == readings


async def test_a_device_connecting_again_after_its_stream_was_reclaimed_is_stored(
    engine: AsyncEngine, device_edge: LocalDeviceNats
) -> None:
    """With the bridge following A's stream, A's stream is reclaimed (its only device was
    revoked) and a new device is enrolled: it connects, A's stream is made again, the bridge
    follows the new one, and the batch is stored."""
    a = Org(engine)
    first, credential = await a.device()
    async with edge_of(device_edge) as edge, platform(device_edge, edge, a):
        await sends(device_edge, a, first, credential)
        await until_stored(engine, a, 1)
        await a.enrolment.revoke(a.manager, first)
        assert await edge.sweep(a) == [str(a.tenant)]
        await asyncio.sleep(1.5)  # the bridge's pull on the deleted stream ends
        again, again_credential = await a.device()
        await sends(device_edge, a, again, again_credential)
        await until_stored(engine, a, 2)
