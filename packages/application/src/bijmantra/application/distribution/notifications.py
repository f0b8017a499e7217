"""Mail to partners, sent by an outbox consumer: one message per event, even when the event
is delivered twice (the claim on the event id commits only after the server took the mail),
and how it ended reported back to the record (ADR 0363)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bijmantra.application.distribution.mail import MAIL_ATTEMPT, RESENDS, RESENT, MailReport
from bijmantra.application.distribution.recipients import with_recipient
from bijmantra.application.email import EmailSender, MailRefused, OutgoingEmail
from bijmantra.application.events import EventEnvelope
from bijmantra.application.events.ports import RetryLater
from bijmantra.domain.distribution.mail import (
    MAIL_RETRY_WAITS,
    PARTNER_MAILS_PER_DAY,
    MailFailure,
    MailStatus,
    may_mail,
    retry_wait,
)
from bijmantra.kernel import Clock, NotFound, SystemClock, TenantId

log = logging.getLogger(__name__)
MAIL_CONSUMER = "distribution-mail"
# Deliveries beyond the mailer's tries, for reporting the outcome while domain-api is away
# (each seconds apart) and for a database blip before a try was counted (ADR 0363, 0377).
REPORT_DELIVERIES = 4


@dataclass(frozen=True, slots=True)
class MailOutcome:
    """How the mailer's attempt ended: ``sent`` when the server took it, or ``failed``."""

    status: MailStatus
    at: datetime
    failure: MailFailure | None = None


@dataclass(slots=True)
class Claim:
    """``first``: the event was never processed by the consumer. ``handled_today``: how many
    of the organization's events the consumer processed earlier today (UTC). ``tries``: the
    deliveries of this event begun so far, this one included (a killed one counts too).
    ``outcome``: how its mail ended — kept with a first claim (the consumer sets it), read
    back on a redelivery."""

    first: bool
    handled_today: int
    tries: int = 0
    outcome: MailOutcome | None = None


class DeliveryLedger(Protocol):
    def claim(self, consumer: str, envelope: EventEnvelope) -> AbstractAsyncContextManager[Claim]:
        """The event's claim; its record, with the ``outcome`` the block set, commits only
        if the block exits without an exception (then a redelivery is not ``first``). Claims
        of one organization and consumer take turns, so ``handled_today`` counts every claim
        committed before."""
        ...

    async def began_try(self, consumer: str, envelope: EventEnvelope) -> None:
        """Count a delivery of the event before it claims and sends (its own transaction,
        committed first, so a delivery whose process is killed mid-send counts, ADR 0367)."""
        ...


# Tells domain-api how a record's mail attempt ended (its worker call, ADR 0363).
ReportMail = Callable[[TenantId, MailReport], Awaitable[None]]
# Asks domain-api who a record's mail goes to: (organization, kind, record id) -> its
# ``partner_mail_recipient`` answer; another organization's record is NotFound (ADR 0389).
FindRecipient = Callable[[TenantId, str, str], Awaitable[dict[str, Any]]]


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


# The kind of record each mailing event is about (what a report names).
MAILED_KIND = {
    "distribution.request_submitted": "seed_request",
    "distribution.agreement_pending_signature": "agreement",
    "distribution.dispatch_shipped": "dispatch",
    "distribution.invoice_issued": "invoice",
}
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


def mailed_as(envelope: EventEnvelope) -> str:
    """The event whose mail ``envelope`` sends: itself, or the one a resend names."""
    if envelope.type == RESENT_EVENT:
        return str(envelope.data.get(RESENDS, ""))
    return envelope.type


def mails(envelope: EventEnvelope) -> bool:
    """Whether the event asks for a mail: its mail was queued (``mail_attempt``), or, an
    event from before events left addresses out (ADR 0389), it carries the address."""
    data = envelope.data
    if mailed_as(envelope) not in COMPOSED:
        return False
    return bool(data["email"]) if "email" in data else MAIL_ATTEMPT in data


def notification_for(
    envelope: EventEnvelope, recipient: dict[str, Any] | None = None
) -> OutgoingEmail | None:
    """The event's mail: to the address it carries (an event from before ADR 0389), else to
    ``recipient`` (what domain-api answers of the record's partner); None when it mails no one."""
    compose = COMPOSED.get(mailed_as(envelope))
    data = envelope.data if recipient is None else with_recipient(envelope.data, recipient)
    if compose is None or not data.get("email"):
        return None
    subject, text = compose(data)
    return OutgoingEmail(
        to=data["email"],
        subject=subject,
        text=text,
        message_id=f"<{envelope.id}@distribution.bijmantra>",
    )


def tenant_of(envelope: EventEnvelope) -> TenantId:
    return TenantId(uuid.UUID(envelope.tenant_id))


@dataclass
class NotifyPartners:
    """One mail per event, at most ``per_day`` a day per organization: past it the event is
    recorded and no mail goes out (the write it follows stands). domain-api decides the cap
    in the write and records it (ADR 0354); this is the backstop.

    How the mail ended goes back to the record through ``report`` (ADR 0363): sent when the
    server took it; failed when the server refused it for good, the backstop held it, or it
    could not be handed over in ``tries`` deliveries. The outcome is kept with the claim, so a
    redelivery (a report that did not get through) reports it again and sends nothing.

    A server that cannot take the mail for now is tried again after ``waits`` (ADR 0377): the
    handler asks the consumer to redeliver the event that much later (``RetryLater``) and
    holds nothing meanwhile; the tries are counted in the ledger, killed ones too (ADR 0367).
    The record is told the try count and when the next try is (ADR 0381), as it can be: a
    report that does not get through leaves the record saying less, never the retry undone.
    """

    sender: EmailSender
    ledger: DeliveryLedger
    per_day: int = BACKSTOP_PER_DAY
    report: ReportMail | None = None  # None: outcomes are kept, not reported
    clock: Clock = field(default_factory=SystemClock)
    waits: tuple[timedelta, ...] = MAIL_RETRY_WAITS
    # Who a mail goes to when its event names no address (ADR 0389); None: such events are
    # not mailed (a replica without a client secret cannot ask).
    recipient: FindRecipient | None = None

    @property
    def tries(self) -> int:
        """Deliveries begun, killed ones included, after which a mail not taken is given up."""
        return len(self.waits) + 1

    @property
    def deliveries(self) -> int:
        """The consumer's ``max_deliver``: every try, then some to report the last one."""
        return self.tries + REPORT_DELIVERIES

    async def __call__(self, envelope: EventEnvelope) -> None:
        if not mails(envelope):
            return
        if "email" not in envelope.data and self.recipient is None:
            log.warning("partner mail not sent: this replica cannot ask who it goes to")
            return
        await self.ledger.began_try(MAIL_CONSUMER, envelope)
        tries = 0
        try:
            async with self.ledger.claim(MAIL_CONSUMER, envelope) as claim:
                tries = claim.tries
                if claim.first:
                    claim.outcome = await self._send(envelope, claim)
        except RetryLater as later:
            await self._report_retry(envelope, tries, later.delay)
            raise
        await self._report(envelope, claim.outcome)

    async def _letter(self, envelope: EventEnvelope) -> OutgoingEmail | None:
        """The event's mail, its recipient asked of domain-api at send time unless the event
        names the address (ADR 0389): a domain-api away is a try the server could not take."""
        if "email" in envelope.data or self.recipient is None:
            return notification_for(envelope)
        kind = MAILED_KIND[mailed_as(envelope)]
        found = await self.recipient(tenant_of(envelope), kind, envelope.subject)
        return notification_for(envelope, found)

    async def _send(self, envelope: EventEnvelope, claim: Claim) -> MailOutcome:
        if not may_mail(claim.handled_today, self.per_day):
            return self._failed(MailFailure.MAILER_BOUND)
        try:
            email = await self._letter(envelope)
            if email is None:
                raise NotFound("The record's partner has no address")
            await self.sender.send(email)
        except NotFound:
            log.warning("partner mail dropped: its record or partner was not found")
            return self._failed(MailFailure.RECIPIENT_UNKNOWN)
        except MailRefused as refused:
            recipient = refused.recipient
            return self._failed(
                MailFailure.ADDRESS_REFUSED if recipient else MailFailure.MESSAGE_REFUSED
            )
        except Exception as exc:
            wait = retry_wait(claim.tries, self.waits)
            if wait is not None:  # the claim rolls back; the event comes again after the wait
                raise RetryLater(wait.total_seconds(), f"{type(exc).__name__}: {exc}") from exc
            log.warning("partner mail given up after %s tries", claim.tries, exc_info=True)
            return self._failed(MailFailure.UNDELIVERABLE)
        return MailOutcome(MailStatus.SENT, self.clock.now())

    def _failed(self, failure: MailFailure) -> MailOutcome:
        return MailOutcome(MailStatus.FAILED, self.clock.now(), failure)

    async def _report(self, envelope: EventEnvelope, outcome: MailOutcome | None) -> None:
        """Tell domain-api how the attempt ended."""
        if outcome is not None:
            await self._tell(envelope, outcome.status, outcome.at, failure=outcome.failure)

    async def _report_retry(self, envelope: EventEnvelope, tries: int, delay: float) -> None:
        """Tell domain-api the ``tries``-th try failed for now and when the next one is; a
        report that fails is logged and the retry stands (the next try reports again)."""
        now = self.clock.now()
        next_try_at = now + timedelta(seconds=delay)
        try:
            await self._tell(envelope, MailStatus.QUEUED, now, tries=tries, next_try_at=next_try_at)
        except Exception:
            log.warning("the retry of a partner mail was not reported", exc_info=True)

    async def _tell(
        self, envelope: EventEnvelope, status: MailStatus, at: datetime, **more: Any
    ) -> None:
        """Send domain-api a report; an event from before attempts were numbered has none."""
        attempt = envelope.data.get(MAIL_ATTEMPT)
        kind = MAILED_KIND.get(mailed_as(envelope))
        if self.report is None or not isinstance(attempt, int) or not kind:
            return
        report = MailReport(kind, envelope.subject, attempt, status, at, **more)
        await self.report(tenant_of(envelope), report)
