"""Mail to partners, sent by an outbox consumer: one message per event, even when the event
is delivered twice (the claim on the event id commits only after the server took the mail)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from bijmantra.application.distribution.mail import RESENDS, RESENT
from bijmantra.application.email import EmailSender, OutgoingEmail
from bijmantra.application.events import EventEnvelope
from bijmantra.domain.distribution.mail import PARTNER_MAILS_PER_DAY, may_mail

MAIL_CONSUMER = "distribution-mail"


@dataclass(frozen=True, slots=True)
class Claim:
    """``first``: the event was never processed by the consumer. ``handled_today``: how many
    of the organization's events the consumer processed earlier today (UTC)."""

    first: bool
    handled_today: int


class DeliveryLedger(Protocol):
    def claim(self, consumer: str, envelope: EventEnvelope) -> AbstractAsyncContextManager[Claim]:
        """The event's claim; its record commits only if the block exits without an
        exception (then a redelivery is not ``first``). Claims of one organization and
        consumer take turns, so ``handled_today`` counts every claim committed before."""
        ...


def _letter(subject: str, partner_name: str, text: str) -> tuple[str, str]:
    """A message's subject and body: every letter greets the partner by name."""
    return subject, f"Dear {partner_name},\n\n{text}"


def _request_received(data: dict[str, Any]) -> tuple[str, str]:
    request = data["request"]
    return _letter(
        "Seed request received",
        data["partner_name"],
        f"we have received your seed request {request['id']} ({len(request['items'])} item(s)) "
        "and will review it shortly.\n",
    )


def _agreement_to_sign(data: dict[str, Any]) -> tuple[str, str]:
    agreement = data["agreement"]
    return _letter(
        f"Material transfer agreement to sign ({agreement['type'].upper()})",
        data["partner_name"],
        f"please review and sign material transfer agreement {agreement['id']}.\n"
        f"SHA-256 of the text to sign: {agreement['document_sha256']}\n\n{agreement['text']}",
    )


def _shipped(data: dict[str, Any]) -> tuple[str, str]:
    dispatch = data["dispatch"]
    lines = "\n".join(
        f"- {line['amount']} {line['units']} from seed lot {line['seed_lot_id']}"
        for line in dispatch["lines"]
    )
    tracking = f"\nTracking: {dispatch['tracking']}" if dispatch.get("tracking") else ""
    return _letter(
        "Your seed has shipped",
        data["partner_name"],
        f"dispatch {dispatch['id']} has shipped:\n{lines}\n{tracking}\n",
    )


def _invoice_issued(data: dict[str, Any]) -> tuple[str, str]:
    invoice = data["invoice"]
    total = f"{invoice['totals']['gross']} {invoice['currency']}"
    return _letter(
        f"Invoice {invoice['number']}",
        data["partner"]["name"],
        f"invoice {invoice['number']} over {total} has been issued.\n",
    )


COMPOSED = {
    "distribution.request_submitted": _request_received,
    "distribution.agreement_pending_signature": _agreement_to_sign,
    "distribution.dispatch_shipped": _shipped,
    "distribution.invoice_issued": _invoice_issued,
}
# The events the mail consumer follows: those that mail, and a resend of one of them (its
# data names the event it sends again; ADR 0354).
RESENT_EVENT = f"distribution.{RESENT}"
MESSAGES = (*COMPOSED, RESENT_EVENT)


# Events that mail carry an address only when domain-api queued their mail under the day's
# cap (ADR 0354), so this bound is a backstop that never holds one of those back: at most a
# day's cap of them is handled on the next day, after midnight, besides that day's own.
def backstop(per_day: int) -> int:
    return 2 * per_day


BACKSTOP_PER_DAY = backstop(PARTNER_MAILS_PER_DAY)


def notification_for(envelope: EventEnvelope) -> OutgoingEmail | None:
    kind = envelope.type
    if kind == RESENT_EVENT:
        kind = str(envelope.data.get(RESENDS, ""))
    compose = COMPOSED.get(kind)
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
    """One mail per event, at most ``per_day`` a day per organization: past it the event is
    recorded and no mail goes out (the write it follows stands). domain-api decides the cap
    in the write and records it (ADR 0354); this is the backstop."""

    sender: EmailSender
    ledger: DeliveryLedger
    per_day: int = BACKSTOP_PER_DAY

    async def __call__(self, envelope: EventEnvelope) -> None:
        email = notification_for(envelope)
        if email is None:
            return
        async with self.ledger.claim(MAIL_CONSUMER, envelope) as claim:
            if claim.first and may_mail(claim.handled_today, self.per_day):
                await self.sender.send(email)
