"""The analytics-worker's composition root wired to fakes alone (no NATS, PostgreSQL,
domain-api or SMTP): the consumers it subscribes handle what the stream would deliver."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from bijmantra.analytics_worker.bootstrap import WorkerAdapters, bootstrap
from bijmantra.analytics_worker.config import Settings
from bijmantra.analytics_worker.documents import DOCUMENTS_CONSUMER
from bijmantra.analytics_worker.handlers import GERMPLASM_CONSUMER
from bijmantra.application.distribution.notifications import MAIL_CONSUMER
from bijmantra.application.events import EventEnvelope
from bijmantra.application.sensors.evaluation import EVALUATION_CONSUMER
from bijmantra.testkit.event_fakes import FakeDeliveryLedger, FakeEventSubscriptions
from bijmantra.testkit.fakes import RecordingEmailSender
from bijmantra.testkit.sensor_evaluation import WorkerSensors
from bijmantra.testkit.sensors import SensorTables, SettableClock

ADDRESS = "kari@partner.example"


def shipped() -> EventEnvelope:
    dispatch = {
        "id": str(uuid.uuid4()),
        "tracking": "DHL 123",
        "lines": [{"amount": "30", "units": "seeds", "seed_lot_id": "lot-1"}],
    }
    return EventEnvelope(
        id=str(uuid.uuid4()),
        type="distribution.dispatch_shipped",
        source="test",
        tenant_id=str(uuid.uuid4()),
        subject=dispatch["id"],
        time=datetime(2026, 12, 6, tzinfo=UTC),
        schema_version=1,
        data={"dispatch": dispatch, "partner_name": "KARI", "email": ADDRESS},
    )


async def test_the_worker_mails_a_partner_once_through_the_fakes_only() -> None:
    subscriptions, mailer = FakeEventSubscriptions(), RecordingEmailSender()
    projected: list[EventEnvelope] = []

    async def project(envelope: EventEnvelope) -> None:
        projected.append(envelope)

    adapters = WorkerAdapters(
        subscriptions=subscriptions,
        germplasm_projection=project,
        ledger=FakeDeliveryLedger(),
        mailer=mailer,
    )
    worker = bootstrap(
        Settings(database_url="postgresql://unused", nats_url="nats://unused"), adapters
    )
    # No client secret: no analysis or document consumers; SMTP: partner mail.
    assert {c.durable for c in worker.consumers} == {GERMPLASM_CONSUMER, MAIL_CONSUMER}
    assert DOCUMENTS_CONSUMER not in subscriptions.consumers
    event = shipped()
    await subscriptions.deliver(MAIL_CONSUMER, event, event)  # the second is a redelivery
    [mail] = mailer.to(ADDRESS)
    assert mail.subject == "Your seed has shipped"
    assert projected == []


async def test_with_sensors_ports_the_worker_evaluates_telemetry_and_checks_the_clock() -> None:
    subscriptions, sensors = FakeEventSubscriptions(), SensorTables()
    worker_sensors = WorkerSensors(sensors)
    tables = worker_sensors.tables

    async def project(envelope: EventEnvelope) -> None:
        return None

    adapters = WorkerAdapters(
        subscriptions=subscriptions,
        germplasm_projection=project,
        ledger=FakeDeliveryLedger(),
        sensors_state=worker_sensors.state,
        sensors_due=worker_sensors.due,
        sensors_domain=worker_sensors.domain,
        clock=SettableClock(datetime(2026, 12, 6, 12, tzinfo=UTC)),
    )
    settings = Settings(
        database_url="postgresql://unused",
        nats_url="nats://unused",
        device_offline_after=timedelta(minutes=5),
    )
    worker = bootstrap(settings, adapters)
    assert EVALUATION_CONSUMER in {c.durable for c in worker.consumers}
    [(seconds, check)] = worker.periodic
    assert seconds == settings.sensor_check_seconds
    tenant = str(uuid.uuid4())
    received = EventEnvelope(
        id=str(uuid.uuid4()),
        type="sensors.telemetry.received",
        source="test",
        tenant_id=tenant,
        subject="device-1",
        time=datetime(2026, 12, 6, 11, tzinfo=UTC),
        schema_version=1,
        data={"deviceId": "device-1", "metrics": ["t"], "times": [], "values": []},
    )
    await subscriptions.deliver(EVALUATION_CONSUMER, received, received)
    assert len(tables.processed) == 1  # once, though delivered twice
    await check()  # an hour silent: offline, but domain-api knows no such device: no event
    assert sensors.events == []
    [(presence, due)] = tables.presences.values()
    assert (presence.offline, due) == (True, None)
