"""Partners, seed requests, dispatches and invoices: typed values and the pure functions that
move them through their lifecycles (``states``) and check their invariants."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from bijmantra.domain.distribution.mail import PartnerMail
from bijmantra.domain.distribution.money import InvoiceLine, Totals, negated, totals
from bijmantra.domain.distribution.states import (
    DISPATCH_LIFECYCLE,
    INVOICE_LIFECYCLE,
    REQUEST_LIFECYCLE,
    DispatchAction,
    DispatchStatus,
    InvoiceAction,
    InvoiceStatus,
    RequestAction,
    RequestStatus,
)
from bijmantra.kernel import Conflict, FieldError, ValidationFailed

COUNTRY = re.compile(r"[A-Z]{2}")
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}")


class PartnerType(StrEnum):
    GENEBANK = "genebank"
    UNIVERSITY = "university"
    RESEARCH_INSTITUTE = "research_institute"
    COMPANY = "company"
    NGO = "ngo"
    FARMER_ORGANIZATION = "farmer_organization"
    GOVERNMENT = "government"
    INDIVIDUAL = "individual"


class Purpose(StrEnum):
    RESEARCH = "research"
    BREEDING = "breeding"
    TRAINING = "training"
    CONSERVATION = "conservation"
    COMMERCIAL = "commercial"


@dataclass(frozen=True)
class Contact:
    name: str
    email: str
    role: str = "contact"
    phone: str | None = None


@dataclass(frozen=True)
class Partner:
    id: str
    name: str
    country: str  # ISO 3166-1 alpha-2
    type: PartnerType
    contacts: tuple[Contact, ...]
    created_at: datetime
    address: str = ""

    @property
    def email(self) -> str:
        """Where notifications go: the first contact."""
        return self.contacts[0].email


def check_partner(partner: Partner) -> Partner:
    problems = []
    if not COUNTRY.fullmatch(partner.country):
        problems.append(FieldError("country", "an ISO 3166-1 alpha-2 code such as KE"))
    if not partner.contacts:
        problems.append(FieldError("contacts", "at least one contact with an email"))
    problems += [
        FieldError(f"contacts[{i}].email", "not an email address")
        for i, c in enumerate(partner.contacts)
        if not EMAIL.fullmatch(c.email)
    ]
    if problems:
        raise ValidationFailed("Invalid partner", problems)
    return partner


@dataclass(frozen=True)
class RequestItem:
    """A germplasm, or one specific seed lot of it, in a quantity and unit."""

    quantity: Decimal
    units: str
    germplasm_id: str | None = None
    seed_lot_id: str | None = None


@dataclass(frozen=True)
class SeedRequest:
    id: str
    partner_id: str
    purpose: Purpose
    items: tuple[RequestItem, ...]
    status: RequestStatus
    created_at: datetime
    updated_at: datetime
    notes: str = ""
    reason: str = ""  # why it was rejected or cancelled
    notification: PartnerMail | None = None  # the partner's mail of its receipt (ADR 0354)


def check_items(items: tuple[RequestItem, ...]) -> None:
    problems = []
    if not items:
        problems.append(FieldError("items", "at least one item"))
    for i, item in enumerate(items):
        if (item.germplasm_id is None) == (item.seed_lot_id is None):
            problems.append(FieldError(f"items[{i}]", "exactly one of germplasmDbId, seedLotDbId"))
        if item.quantity <= 0:
            problems.append(FieldError(f"items[{i}].quantity", "must be positive"))
    if problems:
        raise ValidationFailed("Invalid seed request", problems)


def move_request(
    request: SeedRequest, action: RequestAction, at: datetime, reason: str = ""
) -> SeedRequest:
    status = REQUEST_LIFECYCLE.next(request.status, action)
    return replace(request, status=status, updated_at=at, reason=reason or request.reason)


@dataclass(frozen=True)
class DispatchLine:
    seed_lot_id: str
    germplasm_ids: tuple[str, ...]  # what the lot holds (a mixture holds several)
    amount: Decimal
    units: str


@dataclass(frozen=True)
class Dispatch:
    id: str
    request_id: str
    partner_id: str
    lines: tuple[DispatchLine, ...]
    status: DispatchStatus
    created_at: datetime
    updated_at: datetime
    shipped_at: datetime | None = None
    agreement_ids: tuple[str, ...] = ()  # the agreements that covered it when it shipped
    transaction_ids: tuple[str, ...] = ()  # the seed-lot withdrawals it wrote
    tracking: str = ""
    notification: PartnerMail | None = None  # the partner's mail of its shipping (ADR 0354)


def new_dispatch(
    dispatch_id: str, request: SeedRequest, lines: tuple[DispatchLine, ...], at: datetime
) -> Dispatch:
    """A dispatch is drawn from an approved request only."""
    if request.status != RequestStatus.APPROVED:
        raise Conflict(
            f"A {request.status} seed request cannot be dispatched",
            [FieldError("requestId", "the request must be approved")],
        )
    if not lines:
        raise ValidationFailed("Invalid dispatch", [FieldError("lines", "at least one line")])
    problems = [
        FieldError(f"lines[{i}].amount", "must be positive")
        for i, line in enumerate(lines)
        if line.amount <= 0
    ]
    if problems:
        raise ValidationFailed("Invalid dispatch", problems)
    return Dispatch(
        dispatch_id, request.id, request.partner_id, lines, DispatchStatus.DRAFT, at, at
    )


def move_dispatch(dispatch: Dispatch, action: DispatchAction, at: datetime) -> Dispatch:
    status = DISPATCH_LIFECYCLE.next(dispatch.status, action)
    return replace(dispatch, status=status, updated_at=at)


@dataclass(frozen=True)
class Invoice:
    id: str
    partner_id: str
    currency: str
    lines: tuple[InvoiceLine, ...]
    status: InvoiceStatus
    created_at: datetime
    number: str | None = None
    year: int | None = None
    issued_at: datetime | None = None
    credit_for: str | None = None  # the invoice this credit note corrects
    dispatch_id: str | None = None
    notification: PartnerMail | None = None  # the partner's mail of its issue (ADR 0354)

    @property
    def totals(self) -> Totals:
        return totals(self.lines, self.currency)

    @property
    def is_credit_note(self) -> bool:
        return self.credit_for is not None


def edit_invoice(invoice: Invoice, lines: tuple[InvoiceLine, ...]) -> Invoice:
    """Only a draft changes; an issued invoice is corrected by a credit note. A credit note
    never changes: its lines are its invoice's, negated (edited, it charged the partner
    whatever its writer chose, still marked as the reversal of that invoice)."""
    if invoice.status != InvoiceStatus.DRAFT:
        raise Conflict(
            f"An {invoice.status} invoice is never edited; issue a credit note",
            [FieldError("status", str(invoice.status))],
        )
    if invoice.is_credit_note:
        raise Conflict(
            "A credit note reverses its invoice in full and is never edited; void it instead",
            [FieldError("credit_for", invoice.credit_for or "")],
        )
    return replace(invoice, lines=lines)


def issue_invoice(invoice: Invoice, at: datetime, number: str, year: int) -> Invoice:
    status = INVOICE_LIFECYCLE.next(invoice.status, InvoiceAction.ISSUE)
    return replace(invoice, status=status, number=number, year=year, issued_at=at)


def move_invoice(
    invoice: Invoice, action: InvoiceAction, credit_notes: Sequence[Invoice] = ()
) -> Invoice:
    """``credit_notes``: those made for ``invoice``. Voiding reverses an invoice, so it is
    refused while a credit note of it stands: the partner would be credited twice."""
    if action == InvoiceAction.ISSUE:
        raise ValueError("issuing needs a number: use issue_invoice")
    status = INVOICE_LIFECYCLE.next(invoice.status, action)
    standing = _standing(invoice, credit_notes)
    if action == InvoiceAction.VOID and standing:
        raise Conflict(
            "This invoice is reversed by a credit note; void the note first",
            [FieldError("credit_for", standing[0])],
        )
    return replace(invoice, status=status)


def _standing(original: Invoice, notes: Sequence[Invoice]) -> list[str]:
    return [n.id for n in notes if n.credit_for == original.id and n.status != InvoiceStatus.VOID]


def credit_note(
    credit_id: str, original: Invoice, at: datetime, earlier: Sequence[Invoice] = ()
) -> Invoice:
    """A draft that reverses ``original`` in full; it is issued (and numbered) like any invoice.

    ``earlier`` are the credit notes already made for ``original``: while one of them is not
    void, the invoice is reversed already, and a second note (a replayed request) would
    credit the partner twice."""
    if original.status not in (InvoiceStatus.ISSUED, InvoiceStatus.PAID) or original.is_credit_note:
        raise Conflict(
            "Only an issued or paid invoice is corrected by a credit note",
            [FieldError("status", str(original.status))],
        )
    live = _standing(original, earlier)
    if live:
        raise Conflict(
            "This invoice is already reversed by a credit note; void that one first",
            [FieldError("credit_for", live[0])],
        )
    return Invoice(
        credit_id,
        original.partner_id,
        original.currency,
        negated(original.lines),
        InvoiceStatus.DRAFT,
        at,
        credit_for=original.id,
        dispatch_id=original.dispatch_id,
    )
