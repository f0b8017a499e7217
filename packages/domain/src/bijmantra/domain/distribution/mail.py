"""What became of the mail a record sends its partner, under the organization's daily cap
(ADR 0348, 0354): queued for the mailer, or not sent because the day's cap was reached, and
when it may be sent again. Decided in the write that sends it, so the record says it; the
mailer then reports each attempt's end, sent or failed with why (ADR 0363)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from bijmantra.domain.distribution.states import (
    AgreementStatus,
    DispatchStatus,
    InvoiceStatus,
    RequestStatus,
)
from bijmantra.kernel import Conflict, FieldError, RateLimited

# Mails to partners an organization sends a day (UTC), as invitations are bounded (ADR 0335):
# a writer names any address as a partner's and each submitted request mails it (ADR 0348).
PARTNER_MAILS_PER_DAY = 500


def may_mail(handled_today: int, per_day: int = PARTNER_MAILS_PER_DAY) -> bool:
    """Whether a partner mail goes out, ``handled_today`` being the organization's partner
    mails counted earlier today."""
    return handled_today < per_day


class MailStatus(StrEnum):
    QUEUED = "queued"  # within the day's cap: the mail worker sends it (once per event)
    NOT_SENT = "not_sent"  # past the day's cap: nothing went out
    SENT = "sent"  # the mail server took it (the mailer's report, ADR 0363)
    FAILED = "failed"  # the mailer gave up on it (``failure`` says why)


# The mailer's waits between tries of a mail its server did not take for now (a 4xx reply, no
# connection, a timeout): a greylisting server takes it from its second try after 1-15 minutes
# (postgrey: 5), one restarted or in maintenance within hours (ADR 0377). Seven tries over
# 3 h 51 min; a mail still not taken then is ``undeliverable`` and its writer may resend it.
MAIL_RETRY_WAITS = tuple(timedelta(minutes=m) for m in (1, 5, 15, 30, 60, 120))


def retry_wait(tries: int, waits: tuple[timedelta, ...] = MAIL_RETRY_WAITS) -> timedelta | None:
    """How long the mailer waits after its ``tries``-th try found the server unable to take a
    mail for now; None once ``waits`` are spent: the mailer gives up (the last try was
    ``len(waits) + 1``)."""
    return waits[tries - 1] if 0 < tries <= len(waits) else None


def mail_horizon(waits: tuple[timedelta, ...] = MAIL_RETRY_WAITS) -> timedelta:
    """From a mail's first try to its last: the waits between them."""
    return sum(waits, timedelta())


# How long a queued mail waits for the mailer's report before its writer may send it again:
# past the mailer's horizon, with an hour for the tries themselves (each up to its SMTP
# timeouts, a killed one its redelivery's 30 s) and for the report's own redeliveries. A report
# that never came (the event dead-lettered while domain-api was away, ADR 0367) would otherwise
# leave the mail queued for good, a state no resend could leave; one sooner would mail a
# partner twice while the mailer is still waiting out a greylisting server.
QUEUED_PATIENCE = mail_horizon() + timedelta(hours=1)


# The statuses of a mail that was queued on its ``day``: each counts on that day's cap.
COUNTED = (MailStatus.QUEUED, MailStatus.SENT, MailStatus.FAILED)


class MailHold(StrEnum):
    DAILY_LIMIT = "daily_limit"


class MailFailure(StrEnum):
    """Why the mailer gave up, as a user can act on it; never the mail server's own words."""

    ADDRESS_REFUSED = "address_refused"  # the recipient's server refused the address for good
    MESSAGE_REFUSED = "message_refused"  # the mail server refused the message for good
    UNDELIVERABLE = "undeliverable"  # the mail server did not take it after every try
    MAILER_BOUND = "mailer_bound"  # the mailer's own daily bound held it back
    RECIPIENT_UNKNOWN = "recipient_unknown"  # the record or its partner was not found to mail


FAILURE_TEXT = {
    MailFailure.ADDRESS_REFUSED: "The partner's mail server refused the address. "
    "Check the partner's email address, then send the mail again.",
    MailFailure.MESSAGE_REFUSED: "The mail server refused the message. "
    "Send it again later; if it is refused again, tell the organization's administrator.",
    MailFailure.UNDELIVERABLE: "The mail server could not be reached or did not take the "
    "message, though the mailer tried for about four hours. Send it again later.",
    MailFailure.MAILER_BOUND: "The mailer's daily bound was reached. Send it again tomorrow.",
    MailFailure.RECIPIENT_UNKNOWN: "The mailer found no partner to send it to. "
    "Check the record's partner, then send the mail again.",
}


@dataclass(frozen=True)
class PartnerMail:
    """``day``: the UTC day whose cap the mail counted against (queued) or found reached (not
    sent); ``resend_from``: when a mail not sent may be sent again (the next day's start);
    ``attempts``: how many times it was decided (1, then one per resend that queued it), which
    numbers the attempt a mailer's report is about; ``at``: when it was decided, or when the
    mail server took it (sent) or the mailer gave up (failed, ``failure`` saying why).
    ``tries``: the attempt's tries its server could not take for now, as the mailer reported
    them (ADR 0381); ``next_try_at``: while queued after one, when the mailer tries again."""

    status: MailStatus
    at: datetime
    day: date
    attempts: int = 1
    held_by: MailHold | None = None
    resend_from: datetime | None = None
    failure: MailFailure | None = None
    tries: int = 0
    next_try_at: datetime | None = None


def unreported(mail: PartnerMail, at: datetime) -> bool:
    """Whether ``mail`` is queued and its report is overdue at ``at``."""
    return mail.status is MailStatus.QUEUED and at - mail.at >= QUEUED_PATIENCE


# The statuses, per kind of record, in which its mail still says something true (a request
# received, an agreement awaiting signatures, seed shipped, an invoice standing), so it may
# be sent again.
RESENDABLE: dict[str, frozenset[str]] = {
    "seed_request": frozenset({RequestStatus.SUBMITTED, RequestStatus.APPROVED}),
    "agreement": frozenset({AgreementStatus.PENDING_SIGNATURE}),
    "dispatch": frozenset({DispatchStatus.SHIPPED, DispatchStatus.DELIVERED}),
    "invoice": frozenset({InvoiceStatus.ISSUED, InvoiceStatus.PAID}),
}


def mail_day(at: datetime) -> date:
    return at.astimezone(UTC).date()


def next_day_start(at: datetime) -> datetime:
    """The start (00:00 UTC) of the UTC day after ``at``'s: when the cap resets."""
    return datetime.combine(mail_day(at) + timedelta(days=1), time.min, UTC)


def partner_mail(
    mailed_today: int, at: datetime, per_day: int = PARTNER_MAILS_PER_DAY, attempts: int = 1
) -> PartnerMail:
    """The mail of a write at ``at``, the organization having queued ``mailed_today`` partner
    mails earlier that UTC day."""
    day = mail_day(at)
    if may_mail(mailed_today, per_day):
        return PartnerMail(MailStatus.QUEUED, at, day, attempts)
    return PartnerMail(
        MailStatus.NOT_SENT, at, day, attempts, MailHold.DAILY_LIMIT, next_day_start(at)
    )


def resend(
    mail: PartnerMail | None,
    status: str,
    resendable: frozenset[str],
    mailed_today: int,
    at: datetime,
    per_day: int = PARTNER_MAILS_PER_DAY,
) -> PartnerMail | None:
    """A resend, at ``at``, of the mail of a record in ``status``: queued once the day's cap
    has room again, while the record is still in a status its mail speaks of (``resendable``:
    an agreement still awaiting signatures, an invoice not void).

    None: the mail is queued already or the server took it, so there is nothing to send (a
    replayed resend sends nothing twice); a mail not sent or failed is sent again, and so is
    one queued whose report is overdue (``QUEUED_PATIENCE``: the mailer's report was lost;
    if it was in fact sent, the partner gets it twice, rather than never, ADR 0367). While
    today's cap is still reached the resend is refused (429, retry at the next day's start)
    and the record keeps its state.
    """
    if mail is None:
        raise Conflict(
            "This record has sent its partner no mail", [FieldError("notification", "none")]
        )
    if mail.status is MailStatus.SENT or (
        mail.status is MailStatus.QUEUED and not unreported(mail, at)
    ):
        return None
    if status not in resendable:
        raise Conflict(
            f"The record is {status} now: its mail to the partner is no longer sent",
            [FieldError("status", status)],
        )
    if not may_mail(mailed_today, per_day):
        wait = max(1, math.ceil((next_day_start(at) - at).total_seconds()))
        raise RateLimited(
            f"This organization's daily limit of partner mail ({per_day:,}) is reached; "
            "the mail can be sent again after 00:00 UTC",
            [FieldError("retryAfter", str(wait))],
        )
    return replace(partner_mail(mailed_today, at, per_day), attempts=mail.attempts + 1)


def reported(
    mail: PartnerMail | None,
    attempt: int,
    outcome: MailStatus,
    at: datetime,
    now: datetime,
    failure: MailFailure | None = None,
) -> PartnerMail | None:
    """The record's mail once the mailer reports how ``attempt`` ended (``outcome``: sent, or
    failed for ``failure``) at ``at``, as domain-api's clock reads ``now``.

    None: the report changes nothing — it is about another attempt than the record's (a
    redelivered or late report of an attempt a resend has replaced), or the attempt has ended
    already (the first report of it stands), or the mail was never queued. ``at`` is kept
    within the attempt's decision and ``now``.
    """
    if outcome not in (MailStatus.SENT, MailStatus.FAILED):
        raise ValueError(f"a mailer reports sent or failed, not {outcome}")
    if (outcome is MailStatus.FAILED) != (failure is not None):
        raise ValueError("a failed mail, and only a failed one, says why")
    if mail is None or mail.status is not MailStatus.QUEUED or mail.attempts != attempt:
        return None
    at = min(max(at, mail.at), now)
    return replace(mail, status=outcome, at=at, failure=failure, next_try_at=None)


def retrying(
    mail: PartnerMail | None, attempt: int, tries: int, next_try_at: datetime
) -> PartnerMail | None:
    """The record's mail once the mailer reports that the ``tries``-th try of ``attempt``
    found its server unable to take it for now, and that it tries again at ``next_try_at``
    (ADR 0381): still queued, saying when.

    None: the report changes nothing — it is about another attempt, the attempt has ended,
    or it is not newer than a try already recorded (reports of tries may arrive late or
    twice, and an older one must not move the next try back)."""
    if tries < 1:
        raise ValueError("a retried mail failed one try or more")
    if mail is None or mail.status is not MailStatus.QUEUED or mail.attempts != attempt:
        return None
    if tries <= mail.tries:
        return None
    return replace(mail, tries=tries, next_try_at=next_try_at)
