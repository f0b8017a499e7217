"""The lifecycles of the distribution context as kernel transition tables (``StateMachine``).

Each table maps (state, action) to the next state; anything absent is refused. The tables
are data, so a test can walk every (state, action) pair and the API can say what is allowed.
"""

from __future__ import annotations

from enum import StrEnum

from bijmantra.kernel.lifecycle import StateMachine


class RequestStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"


class RequestAction(StrEnum):
    SUBMIT = "submitted"
    APPROVE = "approved"
    REJECT = "rejected"
    FULFIL = "fulfilled"
    CANCEL = "cancelled"


REQUEST_LIFECYCLE: StateMachine[RequestStatus, RequestAction] = StateMachine(
    "seed request",
    {
        (RequestStatus.DRAFT, RequestAction.SUBMIT): RequestStatus.SUBMITTED,
        (RequestStatus.DRAFT, RequestAction.CANCEL): RequestStatus.CANCELLED,
        (RequestStatus.SUBMITTED, RequestAction.APPROVE): RequestStatus.APPROVED,
        (RequestStatus.SUBMITTED, RequestAction.REJECT): RequestStatus.REJECTED,
        (RequestStatus.SUBMITTED, RequestAction.CANCEL): RequestStatus.CANCELLED,
        (RequestStatus.APPROVED, RequestAction.FULFIL): RequestStatus.FULFILLED,
        (RequestStatus.APPROVED, RequestAction.CANCEL): RequestStatus.CANCELLED,
    },
)


class AgreementStatus(StrEnum):
    DRAFT = "draft"
    PENDING_SIGNATURE = "pending_signature"
    ACTIVE = "active"
    EXPIRED = "expired"
    TERMINATED = "terminated"


class AgreementAction(StrEnum):
    SEND = "sent for signature"
    ACTIVATE = "activated"  # the last party signed
    EXPIRE = "expired"
    TERMINATE = "terminated"


AGREEMENT_LIFECYCLE: StateMachine[AgreementStatus, AgreementAction] = StateMachine(
    "agreement",
    {
        (AgreementStatus.DRAFT, AgreementAction.SEND): AgreementStatus.PENDING_SIGNATURE,
        (AgreementStatus.DRAFT, AgreementAction.TERMINATE): AgreementStatus.TERMINATED,
        (AgreementStatus.PENDING_SIGNATURE, AgreementAction.ACTIVATE): AgreementStatus.ACTIVE,
        (AgreementStatus.PENDING_SIGNATURE, AgreementAction.TERMINATE): AgreementStatus.TERMINATED,
        (AgreementStatus.ACTIVE, AgreementAction.EXPIRE): AgreementStatus.EXPIRED,
        (AgreementStatus.ACTIVE, AgreementAction.TERMINATE): AgreementStatus.TERMINATED,
    },
)


class DispatchStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    PICKING = "picking"
    PACKED = "packed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class DispatchAction(StrEnum):
    APPROVE = "approved"
    PICK = "picking"
    PACK = "packed"
    SHIP = "shipped"
    DELIVER = "delivered"
    CANCEL = "cancelled"


DISPATCH_LIFECYCLE: StateMachine[DispatchStatus, DispatchAction] = StateMachine(
    "dispatch",
    {
        (DispatchStatus.DRAFT, DispatchAction.APPROVE): DispatchStatus.APPROVED,
        (DispatchStatus.APPROVED, DispatchAction.PICK): DispatchStatus.PICKING,
        (DispatchStatus.PICKING, DispatchAction.PACK): DispatchStatus.PACKED,
        (DispatchStatus.PACKED, DispatchAction.SHIP): DispatchStatus.SHIPPED,
        (DispatchStatus.SHIPPED, DispatchAction.DELIVER): DispatchStatus.DELIVERED,
        # Seed that has left cannot be cancelled back into its lots: only before shipping.
        (DispatchStatus.DRAFT, DispatchAction.CANCEL): DispatchStatus.CANCELLED,
        (DispatchStatus.APPROVED, DispatchAction.CANCEL): DispatchStatus.CANCELLED,
        (DispatchStatus.PICKING, DispatchAction.CANCEL): DispatchStatus.CANCELLED,
        (DispatchStatus.PACKED, DispatchAction.CANCEL): DispatchStatus.CANCELLED,
    },
)


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    PAID = "paid"
    VOID = "void"


class InvoiceAction(StrEnum):
    ISSUE = "issued"
    PAY = "paid"
    VOID = "voided"


INVOICE_LIFECYCLE: StateMachine[InvoiceStatus, InvoiceAction] = StateMachine(
    "invoice",
    {
        (InvoiceStatus.DRAFT, InvoiceAction.ISSUE): InvoiceStatus.ISSUED,
        (InvoiceStatus.ISSUED, InvoiceAction.PAY): InvoiceStatus.PAID,
        (InvoiceStatus.ISSUED, InvoiceAction.VOID): InvoiceStatus.VOID,
    },
)
