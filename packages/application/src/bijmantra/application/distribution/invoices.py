"""Invoices: exact decimal lines, totals the server computes, numbers without gaps.

A number is taken from the organization's counter for the year inside the issuing
transaction (the counter row stays locked until commit), so 50 concurrent issues queue and
end as 1..50; a failed issue rolls back and gives its number back.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bijmantra.application.distribution.common import (
    WRITE,
    UseCases,
    load,
    load_named,
    record_event,
    save,
)
from bijmantra.application.distribution.inputs import (
    ActionIn,
    InvoiceIn,
    InvoiceLineIn,
    LinesIn,
    from_document,
    lifecycle_document,
    record_id,
    reference,
)
from bijmantra.application.distribution.issuing import IssueBatches, invoice_mail_data
from bijmantra.application.distribution.mail import resend_mail
from bijmantra.application.distribution.requests import parse_action
from bijmantra.application.ports import UnitOfWork
from bijmantra.application.ports.distribution import Kind
from bijmantra.application.use_case import organization_unit
from bijmantra.domain.distribution.model import (
    Dispatch,
    Invoice,
    Partner,
    credit_note,
    edit_invoice,
    move_invoice,
)
from bijmantra.domain.distribution.money import (
    MAX_QUANTITY,
    MAX_TAX_RATE,
    MAX_UNIT_PRICE,
    InvoiceLine,
    check_currency,
    parse_decimal,
)
from bijmantra.domain.distribution.states import INVOICE_LIFECYCLE, InvoiceAction, InvoiceStatus
from bijmantra.kernel import FieldError, Principal, ValidationFailed, new_id

# A credit note in one of these stands: the invoice it reverses takes no second one.
STANDING = (InvoiceStatus.DRAFT, InvoiceStatus.ISSUED, InvoiceStatus.PAID)


def parse_lines(lines: list[InvoiceLineIn]) -> tuple[InvoiceLine, ...]:
    return tuple(
        InvoiceLine(
            line.description,
            parse_decimal(line.quantity, f"lines[{n}].quantity", low=Decimal(0), high=MAX_QUANTITY),
            parse_decimal(
                line.unit_price, f"lines[{n}].unit_price", low=Decimal(0), high=MAX_UNIT_PRICE
            ),
            parse_decimal(line.tax_rate, f"lines[{n}].tax_rate", low=Decimal(0), high=MAX_TAX_RATE),
        )
        for n, line in enumerate(lines)
    )


def invoice_document(invoice: Invoice) -> dict[str, Any]:
    """The stored invoice plus what the server computes from it (never taken from clients)."""
    figures = invoice.totals
    totals = {"net": str(figures.net), "tax": str(figures.tax), "gross": str(figures.gross)}
    document = lifecycle_document(invoice, INVOICE_LIFECYCLE, totals=totals)
    for line, amounts in zip(document["lines"], figures.lines, strict=True):
        line |= {"net": str(amounts.net), "tax": str(amounts.tax), "gross": str(amounts.gross)}
    return document


async def credit_notes(uow: UnitOfWork, original: Invoice) -> list[Invoice]:
    """The standing credit notes of ``original`` (one per status at most: a lock on the
    original, taken by the caller, makes crediting and voiding it take turns)."""
    return [
        from_document(document, Invoice)
        for status in STANDING
        for document in await uow.distribution.matching(
            Kind.INVOICE, {"credit_for": original.id, "status": status.value}, 1
        )
    ]


@dataclass
class Invoices(
    UseCases, kind=Kind.INVOICE, record=Invoice, statuses=InvoiceStatus, shown_as=invoice_document
):
    async def create(self, principal: Principal, body: bytes) -> dict[str, Any]:
        given = self.written(principal, body, InvoiceIn)
        lines = parse_lines(given.lines)
        partner_id = reference(given.partner_id, "partner_id")
        async with self.uow(principal.tenant_id) as uow:
            await load_named(uow, Kind.PARTNER, partner_id, Partner, "partner_id")
            dispatch_id = None
            if given.dispatch_id is not None:
                named = reference(given.dispatch_id, "dispatch_id")
                dispatch = await load_named(uow, Kind.DISPATCH, named, Dispatch, "dispatch_id")
                if dispatch.partner_id != partner_id:
                    raise ValidationFailed(
                        "The dispatch went to another partner", [FieldError("dispatch_id", "")]
                    )
                dispatch_id = dispatch.id
            invoice = Invoice(
                new_id(),
                partner_id,
                check_currency(given.currency),
                lines,
                InvoiceStatus.DRAFT,
                self.clock.now(),
                dispatch_id=dispatch_id,
            )
            await self.add(uow, principal, invoice, {"invoice": invoice_document(invoice)})
            await uow.commit()
        return invoice_document(invoice)

    async def edit(self, principal: Principal, invoice_id: str, body: bytes) -> dict[str, Any]:
        """Replace a draft's lines; an issued invoice is refused (409)."""
        lines = parse_lines(self.written(principal, body, LinesIn).lines)
        async with self.uow(principal.tenant_id) as uow:
            invoice = edit_invoice(
                await load(uow, Kind.INVOICE, invoice_id, Invoice, for_update=True), lines
            )
            await save(uow, Kind.INVOICE, invoice)
            data = {"invoice": invoice_document(invoice)}
            record_event(uow, principal, "invoice_edited", invoice.id, data, self.clock.now())
            await uow.commit()
        return invoice_document(invoice)

    def __post_init__(self) -> None:
        self._issuing = IssueBatches(self.uow, self.clock, invoice_document, self.mails_per_day)

    async def act(self, principal: Principal, invoice_id: str, body: bytes) -> dict[str, Any]:
        """issued (numbered, in batches: ``issuing``) | paid | voided."""
        action = parse_action(self.written(principal, body, ActionIn).action, InvoiceAction)
        if action == InvoiceAction.ISSUE:
            record_id(invoice_id, "Invoice")
            return await self._issuing.issue(principal, invoice_id)
        async with self.uow(principal.tenant_id) as uow:
            invoice = await load(uow, Kind.INVOICE, invoice_id, Invoice, for_update=True)
            notes = await credit_notes(uow, invoice) if action == InvoiceAction.VOID else []
            invoice = move_invoice(invoice, action, notes)
            await save(uow, Kind.INVOICE, invoice)
            data: dict[str, Any] = {"invoice": invoice_document(invoice)}
            self.record_step(uow, principal, invoice, data, self.clock.now())
            await uow.commit()
        return invoice_document(invoice)

    async def resend_notification(self, principal: Principal, record_id: str) -> dict[str, Any]:
        """Mail the partner its issued invoice again, once the day's cap has room."""

        async def compose(uow: UnitOfWork, invoice: Invoice) -> dict[str, Any]:
            partner = await load(uow, Kind.PARTNER, invoice.partner_id, Partner)
            return invoice_mail_data(invoice, invoice_document(invoice), partner)

        return await resend_mail(
            self,
            principal,
            record_id,
            InvoiceStatus.ISSUED,
            compose,
        )

    async def credit(self, principal: Principal, invoice_id: str) -> dict[str, Any]:
        """A draft credit note reversing an issued invoice in full."""
        async with organization_unit(self.uow, principal, WRITE) as uow:
            # The lock on the original makes concurrent credits of it take turns.
            original = await load(uow, Kind.INVOICE, invoice_id, Invoice, for_update=True)
            earlier = await credit_notes(uow, original)
            note = credit_note(new_id(), original, self.clock.now(), earlier)
            await self.add(uow, principal, note, {"invoice": invoice_document(note)})
            await uow.commit()
        return invoice_document(note)
