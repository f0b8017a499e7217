"""The analytics-worker's composition root wired to fakes alone (no NATS, PostgreSQL,
domain-api or SMTP): the consumers it subscribes handle what the stream would deliver."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from bijmantra.analytics_worker.bootstrap import WorkerAdapters, bootstrap
from bijmantra.analytics_worker.config import Settings
from bijmantra.analytics_worker.documents import DOCUMENTS_CONSUMER
from bijmantra.analytics_worker.handlers import GERMPLASM_CONSUMER
from bijmantra.application.distribution.notifications import MAIL_CONSUMER
from bijmantra.application.events import EventEnvelope
from bijmantra.testkit.event_fakes import FakeDeliveryLedger, FakeEventSubscriptions
from bijmantra.testkit.fakes import RecordingEmailSender

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
