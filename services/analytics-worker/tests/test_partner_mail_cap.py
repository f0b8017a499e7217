"""Partner mail past the organization's daily cap is not sent and the record says so; the
writer sends it again once the day has rolled over, once (ADR 0354). Real PostgreSQL (the
domain use cases, the outbox, the worker's ledger) and a real SMTP server."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import psycopg
import pytest
from bijmantra.adapters.email import SmtpEmailSender, SmtpSettings
from bijmantra.analytics_worker.mail import PostgresDeliveryLedger
from bijmantra.application.distribution.notifications import NotifyPartners
from bijmantra.application.events.envelope import decode_envelope
from bijmantra.kernel import Principal, RateLimited, TenantId
from bijmantra.testkit.distribution import DistributionWorld
from bijmantra.testkit.mail import SmtpCatcher
from bijmantra.testkit.provision import ProvisionedDatabase

from .conftest import LINE, j

pytestmark = pytest.mark.integration
MIDNIGHT = datetime(2026, 12, 7, tzinfo=UTC)


@pytest.fixture
def notify(
    analytics_engine: Any, smtp_server: SmtpCatcher, world: DistributionWorld
) -> NotifyPartners:
    """The worker's mail consumer: real SMTP, its ledger in the analytics schema, who each
    mail goes to asked of the distribution use cases (ADR 0389)."""
    settings = SmtpSettings(smtp_server.host, smtp_server.port, "B <no-reply@b.test>")
    sender, ledger = SmtpEmailSender(settings), PostgresDeliveryLedger(analytics_engine)
    return NotifyPartners(sender, ledger, recipient=world.mail_recipient)


async def deliver_outbox(
    database: ProvisionedDatabase, tenant: TenantId, notify: NotifyPartners
) -> list[str]:
    """Every event of the organization so far, to the mail consumer (again: a redelivery)."""
    async with await psycopg.AsyncConnection.connect(database.owner_url) as conn:
        cursor = await conn.execute(
            "SELECT envelope FROM domain.outbox WHERE tenant_id = %s ORDER BY seq", (tenant,)
        )
        envelopes = [decode_envelope(bytes(row[0])) for row in await cursor.fetchall()]
    for envelope in envelopes:
        await notify(envelope)
    return [e.type for e in envelopes]


def subjects(smtp_server: SmtpCatcher, address: str) -> list[str]:
    """The subjects the server took for ``address`` (a send returns once it took the mail)."""
    return sorted(m.subject for m in smtp_server.messages_to(address))


async def test_mail_past_the_cap_is_not_sent_says_so_and_is_sent_again_once_next_day(
    world: DistributionWorld,
    notify: NotifyPartners,
    database: ProvisionedDatabase,
    smtp_server: SmtpCatcher,
) -> None:
    who = Principal("manager", TenantId(uuid.uuid4()), frozenset({"data-manager"}))
    address = f"{uuid.uuid4().hex}@partner.example"
    partner = await world.partner(who, email=address)
    germplasm, lot = await world.germplasm_lot(who, 100)
    request = await world.approved_request(who, partner, germplasm)  # mail 1: received
    await world.active_agreement(who, partner, [germplasm])  # mail 2: please sign
    dispatch = await world.packed_dispatch(who, request, lot, "10")
    shipped = await world.dispatches.act(who, dispatch, j({"action": "shipped"}))  # mail 3
    assert shipped["notification"]["status"] == "queued"
    body = j({"partner_id": partner, "currency": "EUR", "lines": [LINE]})
    invoice = (await world.invoices.create(who, body))["id"]

    # The fourth mail of the day: the write stands, its mail is not sent, and it says so.
    issued = await world.invoices.act(who, invoice, j({"action": "issued"}))
    assert issued["status"] == "issued"
    held = {
        "status": "not_sent",
        "at": "2026-12-06T10:00:00Z",
        "day": "2026-12-06",
        "attempts": 1,
        "held_by": "daily_limit",
        "resend_from": "2026-12-07T00:00:00Z",
        "failure": None,
        "tries": 0,
        "next_try_at": None,
    }
    assert msgspec.json.decode(j(issued["notification"])) == held
    assert (await world.invoices.get(who, invoice))["notification"] == issued["notification"]
    types = await deliver_outbox(database, who.tenant_id, notify)
    assert "distribution.invoice_issued" in types
    assert subjects(smtp_server, address) == [
        "Material transfer agreement to sign (SMTA)",
        "Seed request received",
        "Your seed has shipped",
    ]

    # The same day the cap still holds: 429 with the wait, and nothing changes.
    world.clock.at = MIDNIGHT - timedelta(seconds=90)
    with pytest.raises(RateLimited) as refused:
        await world.invoices.resend_notification(who, invoice)
    assert [(d.location, d.message) for d in refused.value.details] == [("retryAfter", "90")]
    assert (await world.invoices.get(who, invoice))["notification"] == issued["notification"]

    # The next day the writer sends it again: queued, mailed once; a replay sends nothing.
    world.clock.at = MIDNIGHT + timedelta(minutes=5)
    again = await world.invoices.resend_notification(who, invoice)
    assert again["notification"]["status"] == "queued"
    assert again["notification"]["attempts"] == 2
    assert again["notification"]["day"] == "2026-12-07"
    assert again["notification"]["held_by"] is None
    replayed = await world.invoices.resend_notification(who, invoice)
    assert replayed["notification"] == again["notification"]
    types = await deliver_outbox(database, who.tenant_id, notify)
    assert types.count("distribution.partner_mail_resent") == 1
    await deliver_outbox(database, who.tenant_id, notify)  # redelivered: mailed once still
    mailed = subjects(smtp_server, address)
    assert mailed.count(f"Invoice {issued['number']}") == 1
    assert len(mailed) == 4


async def test_concurrent_writes_that_mail_queue_no_more_than_the_days_cap(
    world: DistributionWorld,
) -> None:
    """Each write counts the day's queued mail after the organization's others committed (a
    lock until commit): six agreements sent at once, under a cap of three, queue three."""
    who = Principal("manager", TenantId(uuid.uuid4()), frozenset({"data-manager"}))
    partner = await world.partner(who)
    germplasm, _ = await world.germplasm_lot(who, 10)
    body = {
        "type": "smta",
        "partner_id": partner,
        "provider": {"name": "Genebank", "email": "mta@genebank.example", "country": "DE"},
        "material": [germplasm],
    }
    drafts = [(await world.agreements.create(who, j(body)))["id"] for _ in range(6)]
    send = j({"action": "sent for signature"})
    sent = await asyncio.gather(*(world.agreements.act(who, a, send) for a in drafts))
    statuses = sorted(a["notification"]["status"] for a in sent)
    assert statuses == ["not_sent"] * 3 + ["queued"] * 3
