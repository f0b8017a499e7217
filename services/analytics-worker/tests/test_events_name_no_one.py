"""Distribution events carry ids, not people (ADR 0389): a request, agreement, dispatch and
invoice leave no contact's address, phone or name in the outbox, and the mailer still sends
each mail to the partner with the same body, asking domain-api who it goes to at send time.
Real PostgreSQL (use cases, outbox, the worker's ledger) and a real SMTP server."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import psycopg
import pytest
from bijmantra.adapters.email import SmtpEmailSender, SmtpSettings
from bijmantra.analytics_worker.mail import PostgresDeliveryLedger
from bijmantra.application.distribution.mail import MailReport
from bijmantra.application.distribution.notifications import NotifyPartners
from bijmantra.application.events.envelope import decode_envelope
from bijmantra.domain.distribution.mail import MailFailure, MailStatus
from bijmantra.kernel import NotFound, Principal, TenantId
from bijmantra.testkit.distribution import DistributionWorld
from bijmantra.testkit.fakes import RecordingEmailSender
from bijmantra.testkit.mail import SmtpCatcher
from bijmantra.testkit.provision import ProvisionedDatabase

from .conftest import LINE, j, member

pytestmark = pytest.mark.integration
PARTNER_NAME = "Instituto Nacional de Semillas"


async def a_partner(world: DistributionWorld, who: Principal, contact: dict[str, str]) -> str:
    body = {"name": PARTNER_NAME, "country": "UY", "type": "genebank", "contacts": [contact]}
    return str((await world.partners.create(who, j(body)))["id"])


async def every_transfer_step(
    world: DistributionWorld, who: Principal, partner: str
) -> dict[str, Any]:
    """A request, an agreement, a dispatch shipped and an invoice issued for ``partner``."""
    germplasm, lot = await world.germplasm_lot(who, 100)
    request = await world.approved_request(who, partner, germplasm)
    agreement = (await world.active_agreement(who, partner, [germplasm]))["id"]
    dispatch = await world.packed_dispatch(who, request, lot, "10")
    await world.dispatches.act(who, dispatch, j({"action": "shipped"}))
    body = j({"partner_id": partner, "currency": "EUR", "lines": [LINE]})
    invoice = (await world.invoices.create(who, body))["id"]
    issued = await world.invoices.act(who, invoice, j({"action": "issued"}))
    return {
        "request": request,
        "agreement": agreement,
        "dispatch": dispatch,
        "invoice": issued,
    }


async def outbox_rows(database: ProvisionedDatabase, who: Principal) -> list[bytes]:
    async with await psycopg.AsyncConnection.connect(database.owner_url) as conn:
        cursor = await conn.execute(
            "SELECT envelope FROM domain.outbox WHERE tenant_id = %s ORDER BY seq",
            (who.tenant_id,),
        )
        return [bytes(row[0]) for row in await cursor.fetchall()]


async def test_no_event_names_a_contact_yet_every_mail_reaches_the_partner(
    world: DistributionWorld,
    database: ProvisionedDatabase,
    analytics_engine: Any,
    smtp_server: SmtpCatcher,
) -> None:
    world = DistributionWorld(world.uow, world.clock, mails_per_day=10)  # room for all four
    who = member()
    address = f"{uuid.uuid4().hex}@inase.example"
    contact = {"name": "Lucía Fernández", "email": address, "phone": "+598 2 555 0199"}
    partner = await a_partner(world, who, contact)
    steps = await every_transfer_step(world, who, partner)

    rows = await outbox_rows(database, who)
    assert len(rows) > 10
    for row in rows:  # the envelope as it is stored and published, every field of it
        for personal in (address, "+598 2 555 0199", "Lucía", "Fernández", "mta@genebank"):
            assert personal.encode() not in row
            assert personal not in str(decode_envelope(row).data)

    settings = SmtpSettings(smtp_server.host, smtp_server.port, "B <no-reply@b.test>")
    notify = NotifyPartners(
        SmtpEmailSender(settings),
        PostgresDeliveryLedger(analytics_engine),
        recipient=world.mail_recipient,
    )
    for row in rows:
        await notify(decode_envelope(row))
    received = {m.subject: m.text.replace("\r\n", "\n") for m in smtp_server.messages_to(address)}
    agreement = await world.agreements.get(who, steps["agreement"])
    greeting = f"Dear {PARTNER_NAME},\n\n"
    request_items = len((await world.requests.get(who, steps["request"]))["items"])
    assert received["Seed request received"] == (
        f"{greeting}we have received your seed request {steps['request']} "
        f"({request_items} item(s)) and will review it shortly.\n"
    )
    assert received["Material transfer agreement to sign (SMTA)"] == (
        f"{greeting}please review and sign material transfer agreement {agreement['id']}.\n"
        f"SHA-256 of the text to sign: {agreement['document_sha256']}\n\n{agreement['text']}"
    )
    assert "mta@genebank.example" in agreement["text"]  # the text names the parties in full
    assert received["Your seed has shipped"].startswith(
        f"{greeting}dispatch {steps['dispatch']} has shipped:\n"
    )
    invoice = steps["invoice"]
    assert received[f"Invoice {invoice['number']}"] == (
        f"{greeting}invoice {invoice['number']} over {invoice['totals']['gross']} EUR "
        "has been issued.\n"
    )
    assert len(smtp_server.messages_to(address)) == 4


async def test_another_organizations_record_names_no_recipient(world: DistributionWorld) -> None:
    who, stranger = member(), member()
    partner = await a_partner(world, who, {"name": "Ana", "email": "ana@inase.example"})
    germplasm, _ = await world.germplasm_lot(who, 100)
    agreement = (await world.active_agreement(who, partner, [germplasm]))["id"]
    found = await world.mail_recipient(who.tenant_id, "agreement", agreement)
    assert (found["email"], found["name"]) == ("ana@inase.example", PARTNER_NAME)
    with pytest.raises(NotFound):
        await world.mail_recipient(stranger.tenant_id, "agreement", agreement)
    with pytest.raises(NotFound):
        await world.mail_recipient(who.tenant_id, "seed_request", str(uuid.uuid4()))


async def test_a_mail_whose_record_is_not_found_is_dropped_and_reported_failed(
    world: DistributionWorld, database: ProvisionedDatabase, analytics_engine: Any
) -> None:
    """An event that names a record the organization's lookup does not find (here: moved
    into another organization) sends nothing and reports why."""
    who, stranger = member(), member()
    partner = await a_partner(world, who, {"name": "Ana", "email": "ana@inase.example"})
    germplasm, _ = await world.germplasm_lot(who, 100)
    await world.approved_request(who, partner, germplasm)
    [submitted] = [
        e
        for e in map(decode_envelope, await outbox_rows(database, who))
        if e.type == "distribution.request_submitted"
    ]
    elsewhere = msgspec.structs.replace(submitted, tenant_id=str(stranger.tenant_id))
    reports: list[MailReport] = []

    async def report(tenant: TenantId, mail: MailReport) -> None:
        reports.append(mail)

    sender = RecordingEmailSender()
    ledger = PostgresDeliveryLedger(analytics_engine)
    notify = NotifyPartners(sender, ledger, report=report, recipient=world.mail_recipient)
    await notify(elsewhere)
    assert sender.sent == []
    assert [(r.status, r.failure) for r in reports] == [
        (MailStatus.FAILED, MailFailure.RECIPIENT_UNKNOWN)
    ]
