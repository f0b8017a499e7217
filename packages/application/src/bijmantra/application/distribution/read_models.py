"""The documents ``/api/v1`` answers for each distribution collection (ADR 0250).

A record is stored and listed exactly as msgspec encodes its domain value (snake_case,
decimals as strings); a single record adds what the server computes from it (the actions
its lifecycle allows, an agreement's text, invoice amounts). The structs below declare both
shapes for the published contract; tests decode every answer strictly into them, so a field
added to a domain value without being declared here fails.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import msgspec
from bijmantra.domain.distribution.agreements import AgreementType
from bijmantra.domain.distribution.mail import MailFailure, MailHold, MailStatus
from bijmantra.domain.distribution.model import PartnerType, Purpose
from bijmantra.domain.distribution.states import (
    AgreementAction,
    AgreementStatus,
    DispatchAction,
    DispatchStatus,
    InvoiceAction,
    InvoiceStatus,
    RequestStatus,
)


# ``kw_only`` is repeated on the classes that declare or inherit ``notification``: records
# stored before ADR 0354 lack it (default None), and a field with a default may precede the
# others only among keyword-only fields (mypy reads it per class).
class _Out(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class PartnerContact(_Out):
    name: str
    email: str
    role: str
    phone: str | None


class PartnerDocument(_Out):
    id: str
    name: str
    country: str
    type: PartnerType
    contacts: list[PartnerContact]
    created_at: datetime
    address: str


class PartnerMailDocument(_Out):
    """What became of the mail the record sends its partner (ADR 0354, 0363): ``queued`` for
    the mail worker, which tries a server that cannot take it yet again for 3 h 51 min
    (ADR 0377), then ``sent`` (the mail server took it at ``at``) or ``failed`` (the mailer
    gave up at ``at``; ``failure``: ``address_refused``, ``message_refused``, ``undeliverable``,
    ``mailer_bound`` or ``recipient_unknown``); or ``not_sent`` because the organization's
    daily cap of partner mail was reached (``held_by``: ``daily_limit``) at ``at``, to be
    sent again from ``resend_from``. A mail not sent or failed, or still queued 4 h 51 min
    after ``at`` (the mailer's report was lost; ADR 0367), is sent again with
    ``POST …/notification``.
    ``day``: the UTC day whose cap it counted on; ``attempts``: 1, then one per resend.
    ``tries``: how many tries of this attempt the partner's server could not take yet, and
    ``next_try_at``, while it is queued after such a try, when the mailer tries again
    (ADR 0381; 0 and null before any, and on records from before)."""

    status: MailStatus
    at: datetime
    day: date
    attempts: int
    held_by: MailHold | None
    resend_from: datetime | None
    failure: MailFailure | None = None
    tries: int = 0
    next_try_at: datetime | None = None


class RequestedItem(_Out):
    quantity: Decimal
    units: str
    germplasm_id: str | None
    seed_lot_id: str | None


class SeedRequestRecord(_Out, kw_only=True):
    id: str
    partner_id: str
    purpose: Purpose
    items: list[RequestedItem]
    status: RequestStatus
    created_at: datetime
    updated_at: datetime
    notes: str
    reason: str
    notification: PartnerMailDocument | None = None


class SeedRequestDocument(SeedRequestRecord, kw_only=True):
    """``requires_smta``: some requested material is under the Treaty's Annex I."""

    requires_smta: bool


class AgreementParty(_Out):
    role: str
    name: str
    email: str
    country: str


class AgreementSignature(_Out):
    party_role: str
    signer: str
    signed_at: datetime
    document_sha256: str


class AgreementRecord(_Out, kw_only=True):
    id: str
    type: AgreementType
    template_version: str
    partner_id: str
    parties: list[AgreementParty]
    material: list[str]
    status: AgreementStatus
    created_at: datetime
    valid_until: date | None
    request_id: str | None
    document_sha256: str | None
    signatures: list[AgreementSignature]
    activated_at: datetime | None
    notification: PartnerMailDocument | None = None


class AgreementDocument(AgreementRecord, kw_only=True):
    text: str
    allowed: list[AgreementAction]


class DispatchedLot(_Out):
    seed_lot_id: str
    germplasm_ids: list[str]
    amount: Decimal
    units: str


class DispatchRecord(_Out, kw_only=True):
    id: str
    request_id: str
    partner_id: str
    lines: list[DispatchedLot]
    status: DispatchStatus
    created_at: datetime
    updated_at: datetime
    shipped_at: datetime | None
    agreement_ids: list[str]
    transaction_ids: list[str]
    tracking: str
    notification: PartnerMailDocument | None = None


class DispatchDocument(DispatchRecord, kw_only=True):
    allowed: list[DispatchAction]


class InvoicedLine(_Out):
    description: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal


class _InvoiceFields(_Out, kw_only=True):
    """Everything of an invoice but its lines (which the single document prices)."""

    id: str
    partner_id: str
    currency: str
    status: InvoiceStatus
    created_at: datetime
    number: str | None
    year: int | None
    issued_at: datetime | None
    credit_for: str | None
    dispatch_id: str | None
    notification: PartnerMailDocument | None = None


class InvoiceRecord(_InvoiceFields, kw_only=True):
    lines: list[InvoicedLine]


class PricedLine(InvoicedLine):
    net: Decimal
    tax: Decimal
    gross: Decimal


class InvoiceTotals(_Out):
    net: Decimal
    tax: Decimal
    gross: Decimal


class InvoiceDocument(_InvoiceFields, kw_only=True):
    """Amounts are computed by the server from the lines, never taken from clients."""

    lines: list[PricedLine]
    totals: InvoiceTotals
    allowed: list[InvoiceAction]
