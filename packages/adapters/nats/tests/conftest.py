"""The session's real NATS with the event stream, and events to publish on it; a device
edge of the test's own with its telemetry stream, small."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import pytest
from bijmantra.adapters.nats import connect, ensure_stream
from bijmantra.adapters.nats.device_stream import (
    DeviceStreamBounds,
    ensure_device_stream,
    ensure_organization_stream,
    organization_stream,
)
from bijmantra.application.events import EventEnvelope, OutboxRecord
from bijmantra.kernel import uuid7
from bijmantra.testkit.device_nats import LocalDeviceNats
from nats.js import JetStreamContext


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    nc = await connect(nats_url, name="test")
    context = nc.jetstream()
    await ensure_stream(context)
    yield context
    await nc.close()


# The device edge's telemetry streams in these tests: a device's 20 newest batches, 5 MiB for
# each organization and for the dead letters.
EDGE_BOUNDS = DeviceStreamBounds(
    max_bytes=5 * 1024 * 1024,
    max_per_device=20,
    max_age_seconds=600,
    max_bytes_per_organization=5 * 1024 * 1024,
)


async def organizations_streams(js: JetStreamContext, subjects: Iterable[str]) -> None:
    """Make the streams of the organizations these device subjects name, as the callout
    does when an organization's first device is let in (ADR 0386)."""
    for tenant in {subject.split(".")[2] for subject in subjects}:
        await ensure_organization_stream(js, tenant, EDGE_BOUNDS)


async def held(js: JetStreamContext, tenant: object) -> int:
    """Batches an organization's stream holds, not yet stored."""
    return (await js.stream_info(organization_stream(str(tenant)))).state.messages


@pytest.fixture
async def edge_js(device_edge: LocalDeviceNats) -> AsyncIterator[JetStreamContext]:
    """domain-api's connection to the edge, the telemetry stream made with ``EDGE_BOUNDS``."""
    nc = await connect(device_edge.ingest_url, name="ingest")
    context = nc.jetstream()
    await ensure_device_stream(context, EDGE_BOUNDS)
    yield context
    await nc.close()


@pytest.fixture
def probe() -> Callable[..., OutboxRecord]:
    """Outbox records of a made-up event type (``probe.<hex>``) no consumer follows."""

    def record(event_type: str = "", **data: Any) -> OutboxRecord:
        return OutboxRecord.of(
            EventEnvelope(
                id=str(uuid7()),
                type=event_type or f"probe.{uuid.uuid4().hex}",
                source="test",
                tenant_id=str(uuid.uuid4()),
                subject="s",
                time=datetime.now(UTC),
                schema_version=1,
                data=data,
            )
        )

    return record
