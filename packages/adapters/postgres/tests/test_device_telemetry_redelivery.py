"""MQTT telemetry into real PostgreSQL through a real device edge (ADR 0371): batches devices
published while domain-api was away are stored when its bridge starts, and a batch whose
acknowledgement died with the bridge after its commit is delivered again and stores nothing
twice (ADR 0293). That the repeat fires no alert twice is the evaluation's own test
(``test_a_batch_resent_after_its_answer_was_lost_fires_nothing_again``): the repeat reaches
the use case exactly as a device's resent batch does."""

from __future__ import annotations

import asyncio
import json
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from bijmantra.adapters.nats import connect
from bijmantra.adapters.nats.device_bridge import DeviceTelemetryBridge
from bijmantra.adapters.nats.device_stream import (
    DeviceStreamBounds,
    ensure_device_stream,
    ensure_organization_stream,
    organization_stream,
)
from bijmantra.kernel import TenantId
from bijmantra.testkit.device_nats import LocalDeviceNats
from sqlalchemy.ext.asyncio import AsyncEngine

from .test_sensors_store import Org, count_rows, counted_by_day_rollups, item

pytestmark = pytest.mark.integration
WAIT = 15.0


async def until(done: Any) -> None:
    for _ in range(int(WAIT / 0.05)):
        if done():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not in time")


async def test_batches_sent_while_away_and_one_redelivered_after_its_commit_are_stored_once(
    engine: AsyncEngine, device_edge: LocalDeviceNats
) -> None:
    org = Org(engine)
    device_id, _ = await org.device()
    edge = await connect(device_edge.ingest_url, name="ingest")
    js = edge.jetstream()
    bounds = DeviceStreamBounds(max_bytes=64 << 20, max_bytes_per_organization=64 << 20)
    await ensure_device_stream(js, bounds)
    await ensure_organization_stream(js, str(org.tenant), bounds)
    subject = f"bijmantra.t.{org.tenant}.{device_id}"
    for batch in range(3):  # domain-api is away: the edge keeps them
        readings = [item(3600 - 600 * batch - 60 * n, 10.0 + n) for n in range(10)]
        await js.publish(subject, json.dumps({"readings": readings}).encode())

    doomed = await connect(device_edge.ingest_url, name="doomed")
    answers: list[dict[str, Any]] = []

    async def killed_after_first_commit(
        tenant: TenantId, device: str, body: bytes, turn: AbstractAsyncContextManager[None]
    ) -> None:
        if doomed.is_closed:
            raise ConnectionError("this process is gone")
        answers.append(await org.ingest.from_connected_device(tenant, device, body, turn))
        await doomed.close()  # dies between the commit and the ack

    bridge = DeviceTelemetryBridge(
        doomed.jetstream(), killed_after_first_commit, in_flight=1, ack_wait=1.0
    )
    await bridge.start()
    await until(lambda: len(answers) == 1)
    await bridge.finish()
    assert await count_rows(engine, org.tenant, "sensor_readings") == 10

    async def ingest(
        tenant: TenantId, device: str, body: bytes, turn: AbstractAsyncContextManager[None]
    ) -> None:
        answers.append(await org.ingest.from_connected_device(tenant, device, body, turn))

    restarted = DeviceTelemetryBridge(js, ingest, ack_wait=1.0)
    await restarted.start()
    await until(lambda: len(answers) == 4)
    await restarted.finish()
    outcomes = [(a["stored"], a["duplicates"]) for a in answers]
    assert outcomes[0] == (10, 0)
    # The first batch again (whenever the edge redelivers it): nothing stored twice.
    assert sorted(outcomes[1:]) == [(0, 10), (10, 0), (10, 0)]
    assert await count_rows(engine, org.tenant, "sensor_readings") == 30
    assert await counted_by_day_rollups(org) == 30  # rollups did not count the repeat
    waiting = await js.stream_info(organization_stream(str(org.tenant)))
    assert waiting.state.messages == 0
    await edge.close()
