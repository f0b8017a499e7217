"""The console's invoice list in one call, its totals computed where the invoices are read
(ADR 0322).

Why not the API's list: that answers the stored records, so the page decoded every invoice
in the gateway to work out its gross amount and read the partners in a second call. Here one
tenant transaction reads the page and the partners its invoices name (by id, one read), the
domain's own ``totals`` gives each gross amount, and the answer holds only what the page shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from bijmantra.application.distribution.common import READ, status_match
from bijmantra.application.distribution.inputs import from_document
from bijmantra.application.ports import UnitOfWorkFactory
from bijmantra.application.ports.distribution import Kind
from bijmantra.application.use_case import organization_unit
from bijmantra.domain.distribution.mail import MailStatus
from bijmantra.domain.distribution.model import Invoice
from bijmantra.domain.distribution.states import InvoiceStatus
from bijmantra.kernel import FieldError, PageRequest, Principal, ValidationFailed

MAX_INVOICES = 100  # per page


class InvoiceRow(msgspec.Struct, kw_only=True):
    id: str
    number: str | None
    credit_for: str | None
    partner_id: str
    partner: str  # the partner's name (its id should the record be missing)
    gross: str
    currency: str
    status: str
    mail_not_sent: bool = False  # its partner mail was held back by the daily cap (ADR 0354)
    mail_failed: bool = False  # the mailer gave up on its partner mail (ADR 0363)


class InvoiceListDocument(msgspec.Struct, kw_only=True):
    items: list[InvoiceRow]
    page: int
    page_size: int
    total_count: int
    total_pages: int


def invoice_row(invoice: Invoice, partners: dict[str, str]) -> InvoiceRow:
    return InvoiceRow(
        id=invoice.id,
        number=invoice.number,
        credit_for=invoice.credit_for,
        partner_id=invoice.partner_id,
        partner=partners.get(invoice.partner_id, invoice.partner_id),
        gross=str(invoice.totals.gross),
        currency=invoice.currency,
        status=invoice.status.value,
        mail_not_sent=invoice.notification is not None
        and invoice.notification.status is MailStatus.NOT_SENT,
        mail_failed=invoice.notification is not None
        and invoice.notification.status is MailStatus.FAILED,
    )


@dataclass
class ListInvoices:
    uow: UnitOfWorkFactory

    async def __call__(self, principal: Principal, page: PageRequest, status: str) -> bytes:
        """One page of invoices (of ``status``, or every one when empty) as JSON."""
        if page.page_size > MAX_INVOICES:
            raise ValidationFailed("Bad page size", [FieldError("page_size", "at most 100")])
        match = status_match(InvoiceStatus, status)
        async with organization_unit(self.uow, principal, READ) as uow:
            found = await uow.distribution.page(Kind.INVOICE, page, match)
            invoices = [from_document(d, Invoice) for d in found.items]
            named = {i.partner_id for i in invoices}
            partners = await uow.distribution.get_many(Kind.PARTNER, sorted(named))
        names = {p["id"]: p["name"] for p in partners}
        rows = [invoice_row(invoice, names) for invoice in invoices]
        return msgspec.json.encode(
            InvoiceListDocument(
                items=rows,
                page=page.page,
                page_size=page.page_size,
                total_count=found.total_count,
                total_pages=found.total_pages,
            )
        )
