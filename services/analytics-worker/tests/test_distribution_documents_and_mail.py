"""The worker's distribution consumers: partner mail through a real SMTP server exactly once
under redelivery (the claim lives in PostgreSQL), and PDFs whose text says what they must."""

from __future__ import annotations

import asyncio
import io
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import msgspec
import pypdf
import pytest
from bijmantra.adapters.email import SmtpEmailSender, SmtpSettings
from bijmantra.adapters.postgres import create_engine
from bijmantra.analytics_worker.documents import RenderDocuments, render_pdf
from bijmantra.analytics_worker.mail import PostgresDeliveryLedger
from bijmantra.application.distribution.invoices import invoice_document
from bijmantra.application.distribution.notifications import NotifyPartners
from bijmantra.application.distribution.rendering import invoice_printable
from bijmantra.application.events import EventEnvelope
from bijmantra.application.events.ports import RetryLater
from bijmantra.domain.distribution.model import Invoice
from bijmantra.domain.distribution.money import InvoiceLine
from bijmantra.domain.distribution.states import InvoiceStatus
from bijmantra.kernel import TenantId
from bijmantra.testkit.fakes import RecordingEmailSender
from bijmantra.testkit.mail import SmtpCatcher
from bijmantra.testkit.provision import ProvisionedDatabase
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.integration
ISSUED = datetime(2026, 12, 6, 11, 0, tzinfo=UTC)
PARTNER = {"name": "Kenya Agricultural Research", "country": "KE", "id": "p"}


def issued_invoice(lines: list[InvoiceLine], currency: str = "EUR") -> dict[str, object]:
    invoice = Invoice(
        str(uuid.uuid4()),
        "p",
        currency,
        tuple(lines),
        InvoiceStatus.ISSUED,
        ISSUED,
        number="2026-000042",
        year=2026,
        issued_at=ISSUED,
    )
    return invoice_document(invoice)


def envelope(
    data: dict[str, object], event_type: str = "distribution.invoice_issued"
) -> EventEnvelope:
    return EventEnvelope(
        id=str(uuid.uuid4()),
        type=event_type,
        source="test",
        tenant_id=str(uuid.uuid4()),
        subject="x",
        time=ISSUED,
        schema_version=1,
        data=data,
    )


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(content)).pages)


def flat(text: str) -> str:
    return " ".join(text.split())


lines_strategy = st.lists(
    st.builds(
        InvoiceLine,
        st.text(st.characters(min_codepoint=65, max_codepoint=90), min_size=3, max_size=12),
        st.decimals(min_value=0, max_value=10_000, places=2, allow_nan=False),
        st.decimals(min_value=0, max_value=100_000, places=3, allow_nan=False),
        st.sampled_from([Decimal("0"), Decimal("0.16"), Decimal("0.19")]),
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=15, deadline=None)
@given(lines=lines_strategy)
def test_the_invoice_pdf_shows_number_parties_lines_and_totals(lines: list[InvoiceLine]) -> None:
    invoice = issued_invoice(lines)
    text = flat(
        pdf_text(render_pdf(invoice_printable({"invoice": invoice, "partner": PARTNER}), ISSUED))
    )
    assert "Invoice 2026-000042" in text
    assert "Kenya Agricultural Research (KE)" in text
    for line in invoice["lines"]:
        assert line["description"] in text
        assert line["gross"] in text
    totals = invoice["totals"]
    reference = sum(
        (Decimal(line["gross"]) for line in invoice["lines"]),
        Decimal(0),
    )
    assert Decimal(totals["gross"]) == reference
    assert f"Total: {totals['gross']} EUR" in text
    assert f"Net: {totals['net']} EUR" in text


async def test_a_rendered_document_is_stored_with_its_source_hash() -> None:
    stored: list[tuple[str, str, bytes, str]] = []

    async def store(tenant: TenantId, kind: str, owner: str, content: bytes, source: str) -> str:
        stored.append((kind, owner, content, source))
        return "sha"

    data = {
        "invoice": issued_invoice([InvoiceLine("Seed", Decimal(2), Decimal("1.5"), Decimal(0))]),
        "partner": PARTNER,
    }
    event = envelope(data)
    await RenderDocuments(store)(event)
    await RenderDocuments(store)(event)  # a redelivery renders the same bytes
    [(kind, owner, content, source), again] = stored
    assert (kind, owner) == ("invoice", data["invoice"]["id"])
    assert again == (kind, owner, content, source)
    assert content.startswith(b"%PDF-")


@pytest.fixture
async def ledger(database: ProvisionedDatabase):
    engine = create_engine(database.analytics_url, pool_size=4)
    yield PostgresDeliveryLedger(engine)
    await engine.dispose()


def shipped_event(email: str) -> EventEnvelope:
    """An event from before events left people out (ADR 0389): it carries the address and
    name, and is mailed as it says, with no lookup (still in the stream for 30 days)."""
    dispatch = {
        "id": str(uuid.uuid4()),
        "tracking": "DHL 123",
        "lines": [{"amount": "30", "units": "seeds", "seed_lot_id": "lot-1"}],
    }
    return envelope(
        {"dispatch": dispatch, "partner_name": "KARI", "email": email},
        "distribution.dispatch_shipped",
    )


async def test_mail_arrives_once_when_the_event_is_delivered_twice_or_concurrently(
    ledger: PostgresDeliveryLedger, smtp_server: SmtpCatcher
) -> None:
    address = f"{uuid.uuid4().hex}@partner.example"
    sender = SmtpEmailSender(
        SmtpSettings(smtp_server.host, smtp_server.port, "B <no-reply@b.test>")
    )
    notify = NotifyPartners(sender, ledger)
    event = shipped_event(address)
    await notify(event)
    await notify(event)  # redelivered after the ack was lost
    await asyncio.gather(*(notify(event) for _ in range(3)))
    [mail] = smtp_server.wait_for(address)
    await asyncio.sleep(0.3)
    assert len(smtp_server.messages_to(address)) == 1
    assert mail.subject == "Your seed has shipped"
    assert "30 seeds from seed lot lot-1" in mail.text
    assert "DHL 123" in mail.text
    assert mail.message["Message-ID"] == f"<{event.id}@distribution.bijmantra>"


async def test_a_refused_send_leaves_the_event_unclaimed_so_the_retry_mails_once(
    ledger: PostgresDeliveryLedger,
) -> None:
    sender = RecordingEmailSender()
    sender.fail_next = 1
    notify = NotifyPartners(sender, ledger)
    event = shipped_event("retry@partner.example")
    with pytest.raises(RetryLater):  # the consumer redelivers it after the wait
        await notify(event)
    await notify(event)
    await notify(event)
    assert len(sender.to("retry@partner.example")) == 1
    ignored = envelope({"email": "x@partner.example"}, "distribution.dispatch_packed")
    await notify(ignored)
    assert sender.to("x@partner.example") == []


async def test_an_organization_mails_partners_a_bounded_number_of_times_a_day(
    ledger: PostgresDeliveryLedger,
) -> None:
    """A writer names any address as a partner's, and each request it submits mails that
    address: 600 mails a minute within the write limit, through the platform's mail server,
    greeting the address with a 300-character name of the writer's choosing. Invitations
    were bounded for this (ADR 0335); partner mail now is too (ADR 0348). Past the day's
    bound the event is recorded and nothing is sent; another organization's mail goes out,
    concurrent deliveries take turns, and a redelivery sends nothing."""
    sender = RecordingEmailSender()
    notify = NotifyPartners(sender, ledger, per_day=5)
    flooding, other = str(uuid.uuid4()), str(uuid.uuid4())
    address = f"{uuid.uuid4().hex}@victim.example"

    def event(tenant: str) -> EventEnvelope:
        return msgspec.structs.replace(shipped_event(address), tenant_id=tenant)

    events = [event(flooding) for _ in range(8)]
    await asyncio.gather(*(notify(e) for e in events))
    assert len(sender.to(address)) == 5
    await notify(events[-1])  # redelivered: recorded, still not sent
    await notify(event(other))
    assert len(sender.to(address)) == 6
