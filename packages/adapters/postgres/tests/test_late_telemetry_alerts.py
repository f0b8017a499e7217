"""A telemetry batch evaluated after a newer one of its device fires its alert (ADR 0380).

Real PostgreSQL (domain-api stores the readings and opens alerts, the analytics-worker keeps
its watches under its own role) and real NATS: both batches' events go through JetStream to
a durable consumer running the worker's evaluation. The older event's first delivery fails
(the worker died before its commit), so JetStream hands it back after the newer one was
evaluated. Before ADR 0380 its breach was older than the watch's last reading and fired
nothing; now it fires once, and a third delivery opens nothing more."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from bijmantra.adapters.nats import DurableConsumer, JetStreamPublisher, connect, ensure_stream
from bijmantra.adapters.postgres import create_engine, unit_of_work_factory
from bijmantra.adapters.postgres.sensor_evaluation import PostgresEvaluationState
from bijmantra.application.events import EventEnvelope, OutboxRecord, decode_envelope
from bijmantra.application.events.ports import ConsumerSpec, RetryLater
from bijmantra.application.sensors import AlertRules, DeviceEnrolment, IngestTelemetry
from bijmantra.application.sensors.evaluation import TELEMETRY_RECEIVED, EvaluateTelemetry
from bijmantra.application.sensors.worker_calls import SensorsWorkerCalls
from bijmantra.kernel import Principal, TenantId
from bijmantra.testkit.provision import ProvisionedDatabase
from bijmantra.testkit.sensor_evaluation import InProcessSensorsDomain
from bijmantra.testkit.sensors import SettableClock
from sqlalchemy.ext.asyncio import AsyncEngine

from .test_sensor_alerts_store import _claimed_device

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC).replace(second=0, microsecond=0)


@pytest.fixture
async def worker_engine(database: ProvisionedDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database.analytics_url, pool_size=2)
    yield engine
    await engine.dispose()


def telemetry_events(database: ProvisionedDatabase, tenant: TenantId) -> list[OutboxRecord]:
    """The organization's telemetry events in domain-api's outbox, as the relay publishes them."""
    with psycopg.connect(database.owner_url) as conn:
        rows = conn.execute(
            "SELECT id, envelope FROM domain.outbox WHERE tenant_id = %s AND type = %s "
            "ORDER BY seq",
            (tenant, TELEMETRY_RECEIVED),
        ).fetchall()
    return [OutboxRecord(str(i), TELEMETRY_RECEIVED, str(tenant), bytes(e)) for i, e in rows]


async def test_a_batch_redelivered_after_a_newer_one_fires_its_alert_once(
    engine: AsyncEngine,
    worker_engine: AsyncEngine,
    database: ProvisionedDatabase,
    nats_url: str,
) -> None:
    tenant = TenantId(uuid.uuid4())
    manager = Principal("m", tenant, frozenset({"data-manager"}))
    clock = SettableClock(NOW)
    uow = unit_of_work_factory(engine, source="test")
    device_id, credential = await _claimed_device(DeviceEnrolment(uow, clock), manager)
    rule = {"name": "warm", "metric": "air_temperature", "deviceId": device_id}
    rule |= {"kind": "threshold", "comparison": "above", "threshold": 8, "cooldownSeconds": 0}
    await AlertRules(uow).create(manager, json.dumps(rule).encode())
    ingest = IngestTelemetry(uow, clock)
    for minute, value in ((-10, 9.5), (-5, 2.0)):  # the older batch breaches, the newer not
        reading = {"metric": "air_temperature", "time": (NOW + minute * timedelta(minutes=1))}
        reading |= {"time": reading["time"].isoformat(), "value": value}
        await ingest(credential, json.dumps({"readings": [reading]}).encode())
    older, newer = telemetry_events(database, tenant)

    domain = InProcessSensorsDomain(SensorsWorkerCalls(uow))
    evaluate = EvaluateTelemetry(lambda t: PostgresEvaluationState(worker_engine, t), domain)
    evaluated: list[str] = []

    async def worker(event: EventEnvelope) -> None:
        if event.tenant_id != str(tenant):
            return  # another test's telemetry on the shared stream
        if event.id == older.id and older.id not in evaluated:
            evaluated.append(older.id)
            raise RetryLater(0.5, "the worker died before its commit")
        await evaluate(event)
        evaluated.append(event.id)

    nc = await connect(nats_url, name="test-late-telemetry")
    js = nc.jetstream()
    await ensure_stream(js)
    durable = f"test-{uuid.uuid4().hex[:8]}"
    spec = ConsumerSpec(durable, [f"bijmantra.events.{TELEMETRY_RECEIVED}"], worker)
    consumer = DurableConsumer(js, spec)
    running = asyncio.create_task(consumer.run())
    try:
        await JetStreamPublisher(js).publish_batch([older, newer])
        for _ in range(400):
            if len(evaluated) >= 3:
                break
            await asyncio.sleep(0.05)
        await evaluate(decode_envelope(older.payload))  # the inbox knows it: nothing
    finally:
        consumer.stop()
        await asyncio.gather(running, return_exceptions=True)
        await nc.close()
    assert evaluated == [older.id, newer.id, older.id]  # redelivered after the newer one
    with psycopg.connect(database.owner_url) as conn:
        alerts = conn.execute(
            "SELECT kind, opened_at, value FROM domain.sensor_alerts WHERE tenant_id = %s",
            (tenant,),
        ).fetchall()
        opened = conn.execute(
            "SELECT count(*) FROM domain.outbox WHERE tenant_id = %s "
            "AND type = 'sensors.alert.opened'",
            (tenant,),
        ).fetchone()
    assert alerts == [("threshold", NOW - timedelta(minutes=10), 9.5)]
    assert opened == (1,)
