"""The lifecycles of the distribution context as kernel transition tables (``StateMachine``).

Each table says, action by action, which states the action is taken from and the state it
leads to; anything absent is refused. The tables
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


REQUEST_LIFECYCLE: StateMachine[RequestStatus, RequestAction] = StateMachine.by_action(
    "seed request",
    {
        RequestAction.SUBMIT: ((RequestStatus.DRAFT,), RequestStatus.SUBMITTED),
        RequestAction.APPROVE: ((RequestStatus.SUBMITTED,), RequestStatus.APPROVED),
        RequestAction.REJECT: ((RequestStatus.SUBMITTED,), RequestStatus.REJECTED),
        RequestAction.FULFIL: ((RequestStatus.APPROVED,), RequestStatus.FULFILLED),
        RequestAction.CANCEL: (
            (RequestStatus.DRAFT, RequestStatus.SUBMITTED, RequestStatus.APPROVED),
            RequestStatus.CANCELLED,
        ),
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


AGREEMENT_LIFECYCLE: StateMachine[AgreementStatus, AgreementAction] = StateMachine.by_action(
    "agreement",
    {
        AgreementAction.SEND: ((AgreementStatus.DRAFT,), AgreementStatus.PENDING_SIGNATURE),
        AgreementAction.ACTIVATE: ((AgreementStatus.PENDING_SIGNATURE,), AgreementStatus.ACTIVE),
        AgreementAction.EXPIRE: ((AgreementStatus.ACTIVE,), AgreementStatus.EXPIRED),
        AgreementAction.TERMINATE: (
            (AgreementStatus.DRAFT, AgreementStatus.PENDING_SIGNATURE, AgreementStatus.ACTIVE),
            AgreementStatus.TERMINATED,
        ),
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


DISPATCH_LIFECYCLE: StateMachine[DispatchStatus, DispatchAction] = StateMachine.by_action(
    "dispatch",
    {
        DispatchAction.APPROVE: ((DispatchStatus.DRAFT,), DispatchStatus.APPROVED),
        DispatchAction.PICK: ((DispatchStatus.APPROVED,), DispatchStatus.PICKING),
        DispatchAction.PACK: ((DispatchStatus.PICKING,), DispatchStatus.PACKED),
        DispatchAction.SHIP: ((DispatchStatus.PACKED,), DispatchStatus.SHIPPED),
        DispatchAction.DELIVER: ((DispatchStatus.SHIPPED,), DispatchStatus.DELIVERED),
        # Seed that has left cannot be cancelled back into its lots: only before shipping.
        DispatchAction.CANCEL: (
            (
                DispatchStatus.DRAFT,
                DispatchStatus.APPROVED,
                DispatchStatus.PICKING,
                DispatchStatus.PACKED,
            ),
            DispatchStatus.CANCELLED,
        ),
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


INVOICE_LIFECYCLE: StateMachine[InvoiceStatus, InvoiceAction] = StateMachine.by_action(
    "invoice",
    {
        InvoiceAction.ISSUE: ((InvoiceStatus.DRAFT,), InvoiceStatus.ISSUED),
        InvoiceAction.PAY: ((InvoiceStatus.ISSUED,), InvoiceStatus.PAID),
        InvoiceAction.VOID: ((InvoiceStatus.ISSUED,), InvoiceStatus.VOID),
    },
)
