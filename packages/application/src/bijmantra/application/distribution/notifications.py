"""Mail to partners, sent by an outbox consumer: one message per event, even when the event
is delivered twice (the claim on the event id commits only after the server took the mail)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from bijmantra.application.email import EmailSender, OutgoingEmail
from bijmantra.application.events import EventEnvelope

MAIL_CONSUMER = "distribution-mail"


class DeliveryLedger(Protocol):
    def claim(self, consumer: str, envelope: EventEnvelope) -> AbstractAsyncContextManager[bool]:
        """True when the event was never processed by ``consumer``; the record of it commits
        only if the block exits without an exception (then a redelivery yields False)."""
        ...


def _request_received(data: dict[str, Any]) -> tuple[str, str]:
    request = data["request"]
    return (
        "Seed request received",
        f"Dear {data['partner_name']},\n\nwe have received your seed request "
        f"{request['id']} ({len(request['items'])} item(s)) and will review it shortly.\n",
    )


def _agreement_to_sign(data: dict[str, Any]) -> tuple[str, str]:
    agreement = data["agreement"]
    return (
        f"Material transfer agreement to sign ({agreement['type'].upper()})",
        f"Dear {data['partner_name']},\n\nplease review and sign material transfer agreement "
        f"{agreement['id']}.\nSHA-256 of the text to sign: {agreement['document_sha256']}\n\n"
        f"{agreement['text']}",
    )


def _shipped(data: dict[str, Any]) -> tuple[str, str]:
    dispatch = data["dispatch"]
    lines = "\n".join(
        f"- {line['amount']} {line['units']} from seed lot {line['seed_lot_id']}"
        for line in dispatch["lines"]
    )
    tracking = f"\nTracking: {dispatch['tracking']}" if dispatch.get("tracking") else ""
    return (
        "Your seed has shipped",
        f"Dear {data['partner_name']},\n\ndispatch {dispatch['id']} has shipped:\n{lines}\n"
        f"{tracking}\n",
    )


def _invoice_issued(data: dict[str, Any]) -> tuple[str, str]:
    invoice = data["invoice"]
    total = f"{invoice['totals']['gross']} {invoice['currency']}"
    return (
        f"Invoice {invoice['number']}",
        f"Dear {data['partner']['name']},\n\ninvoice {invoice['number']} over {total} "
        "has been issued.\n",
    )


MESSAGES = {
    "distribution.request_submitted": _request_received,
    "distribution.agreement_pending_signature": _agreement_to_sign,
    "distribution.dispatch_shipped": _shipped,
    "distribution.invoice_issued": _invoice_issued,
}


def notification_for(envelope: EventEnvelope) -> OutgoingEmail | None:
    compose = MESSAGES.get(envelope.type)
    if compose is None or not envelope.data.get("email"):
        return None
    subject, text = compose(envelope.data)
    return OutgoingEmail(
        to=envelope.data["email"],
        subject=subject,
        text=text,
        message_id=f"<{envelope.id}@distribution.bijmantra>",
    )


@dataclass
class NotifyPartners:
    sender: EmailSender
    ledger: DeliveryLedger

    async def __call__(self, envelope: EventEnvelope) -> None:
        email = notification_for(envelope)
        if email is None:
            return
        async with self.ledger.claim(MAIL_CONSUMER, envelope) as first:
            if first:
                await self.sender.send(email)
