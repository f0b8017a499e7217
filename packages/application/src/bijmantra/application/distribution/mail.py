"""Partner mail under the organization's daily cap, decided in the write that sends it, so the
record says what became of it (ADR 0354): queued, or not sent because the day's cap was
reached, and sent again by the writer once the day has room; then sent or failed as the
mailer reports each attempt's end (ADR 0363)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from bijmantra.application.distribution.common import (
    WRITE,
    UseCases,
    load,
    record_event,
    save,
)
from bijmantra.application.distribution.inputs import choice
from bijmantra.application.ports import UnitOfWork
from bijmantra.application.security import authorize
from bijmantra.domain.distribution.agreements import Agreement
from bijmantra.domain.distribution.mail import (
    RESENDABLE,
    MailFailure,
    MailStatus,
    PartnerMail,
    mail_day,
    partner_mail,
    reported,
    resend,
    retrying,
)
from bijmantra.domain.distribution.model import Dispatch, SeedRequest
from bijmantra.kernel import FieldError, Principal, ValidationFailed

# A resend is an event of its own: the original event (a dispatch shipped, an invoice issued)
# happened once, and its other consumers (documents, the audit trail) must not see it twice.
RESENT = "partner_mail_resent"
RESENDS = "resends"  # the event data's key naming the event whose mail is sent again
MAIL_ATTEMPT = "mail_attempt"  # the event data's key numbering the mail's attempt
# The records one of whose lifecycle steps mails the partner (invoices: ``issuing``, in batches).
R = TypeVar("R", SeedRequest, Agreement, Dispatch)


@dataclass
class MailBudget:
    """The organization's partner mail of one UTC day, read once in a write that mails (the
    organization's turn taken until it commits); each mail decided counts toward the next."""

    queued: int
    per_day: int

    def decide(self, at: datetime) -> PartnerMail:
        mail = partner_mail(self.queued, at, self.per_day)
        if mail.status is MailStatus.QUEUED:
            self.queued += 1
        return mail


async def mail_budget(uow: UnitOfWork, at: datetime, per_day: int) -> MailBudget:
    return MailBudget(
        await uow.distribution.partner_mails_queued(mail_day(at).isoformat()), per_day
    )


async def with_partner_mail(uow: UnitOfWork, record: R, at: datetime, per_day: int) -> R:
    """``record`` as the step that mails its partner leaves it: the mail decided under the
    day's cap in the same write, so the record says whether it was queued (ADR 0354)."""
    budget = await mail_budget(uow, at, per_day)
    return replace(record, notification=budget.decide(at))


def addressed(mail: PartnerMail | None) -> dict[str, Any]:
    """What an event says of its mail: which attempt it is (``mail_attempt``, what the
    worker's report names, ADR 0363) when the mail is queued, else nothing (the mail worker
    sends only what is queued). Never the address: the mailer asks for it (ADR 0389)."""
    if mail is None or mail.status is not MailStatus.QUEUED:
        return {}
    return {MAIL_ATTEMPT: mail.attempts}


# (unit of work, record) -> the mail event's data, as the original write composed it.
MailData = Callable[[UnitOfWork, Any], Awaitable[dict[str, Any]]]


async def resend_mail(
    use_cases: UseCases,
    principal: Principal,
    record_id: str,
    mailed_in: str,
    compose: MailData,
) -> dict[str, Any]:
    """Send a record's partner mail again, once the day's cap has room (else 429 with the
    wait, and nothing changes); the mail was first sent by the step into status ``mailed_in``.
    A mail already queued is not queued again: a replayed resend answers the record as it is
    and sends nothing; unless the mailer's report is overdue (``QUEUED_PATIENCE``, ADR 0367)."""
    authorize(principal, WRITE)
    now = use_cases.clock.now()
    async with use_cases.uow(principal.tenant_id) as uow:
        record = await load(uow, use_cases.KIND, record_id, use_cases.TYPE, for_update=True)
        budget = await mail_budget(uow, now, use_cases.mails_per_day)
        resendable = RESENDABLE[use_cases.KIND.value]
        mail = resend(
            record.notification, str(record.status), resendable, budget.queued, now, budget.per_day
        )
        if mail is None:
            return use_cases.present(record)
        record = replace(record, notification=mail)
        await save(uow, use_cases.KIND, record)
        resends = f"distribution.{use_cases.step_event(mailed_in)}"
        data = {**await compose(uow, record), RESENDS: resends}
        record_event(uow, principal, RESENT, record.id, data, now)
        await uow.commit()
    return use_cases.present(record)


@dataclass(frozen=True)
class MailReport:
    """How the mailer's ``attempt`` at a record's mail ended (ADR 0363): ``sent`` at ``at``
    (the mail server took it), or ``failed`` at ``at`` for ``failure``; or that it is still
    ``queued`` (ADR 0381): its ``tries``-th try found the server unable to take it at ``at``,
    and the next is at ``next_try_at``. ``kind``: the record's kind (``seed_request``,
    ``agreement``, ``dispatch``, ``invoice``)."""

    kind: str
    record_id: str
    attempt: int
    status: MailStatus
    at: datetime
    failure: MailFailure | None = None
    tries: int = 0
    next_try_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.status is MailStatus.NOT_SENT:
            raise ValueError(f"A mailer reports sent, failed or queued, not {self.status}")
        if (self.status is MailStatus.FAILED) != (self.failure is not None):
            raise ValueError("A failed mail, and only a failed one, says why")
        retried = self.tries >= 1 and self.next_try_at is not None and self.next_try_at >= self.at
        if (self.status is MailStatus.QUEUED) != retried:
            raise ValueError("A mail still queued, and only one, names its tries and next try")


REPORTED = "partner_mail_reported"


def _moment(text: str) -> datetime | None:
    """An RFC 3339 time with its zone, or None."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def parse_report(
    kind: str,
    record_id: str,
    attempt: int,
    status: str,
    at: str,
    failure: str,
    tries: int = 0,
    next_try_at: str = "",
) -> MailReport:
    """A report as the worker's call carries it (``failure`` "" unless failed; ``tries`` 0
    and ``next_try_at`` "" unless queued): 422 otherwise."""
    outcome = choice(status, MailStatus, "status", "mail status")
    why = choice(failure, MailFailure, "failure", "mail failure") if failure else None
    when, next_try = _moment(at), _moment(next_try_at) if next_try_at else None
    if when is None or attempt < 1 or (next_try_at and next_try is None):
        raise ValidationFailed(
            "A report names an attempt (from 1) and times with their zone",
            [FieldError("at", at), FieldError("attempt", str(attempt))]
            + ([FieldError("next_try_at", next_try_at)] if next_try_at else []),
        )
    try:
        return MailReport(kind, record_id, attempt, outcome, when, why, tries, next_try)
    except ValueError as wrong:
        raise ValidationFailed(str(wrong), [FieldError("status", status)]) from None


def report_fields(report: MailReport) -> dict[str, Any]:
    fields = {
        "kind": report.kind,
        "id": report.record_id,
        "attempt": report.attempt,
        "status": report.status.value,
        "failure": None if report.failure is None else report.failure.value,
    }
    if report.next_try_at is not None:  # queued: a try the server could not take yet
        fields |= {"tries": report.tries, "next_try_at": report.next_try_at.isoformat()}
    return fields


def _after(mail: PartnerMail | None, report: MailReport, now: datetime) -> PartnerMail | None:
    """The record's mail after ``report``; None when it changes nothing."""
    if report.next_try_at is not None:  # queued: only such a report names it (MailReport)
        return retrying(mail, report.attempt, report.tries, report.next_try_at)
    return reported(mail, report.attempt, report.status, report.at, now, report.failure)


async def report_mail(
    use_cases: UseCases, principal: Principal, report: MailReport
) -> dict[str, Any]:
    """Record on the record how its mail's attempt ended, or when its next try is (a try
    the server could not take yet, ADR 0381), with a ``partner_mail_reported`` event, in one
    transaction. A report about another attempt than the record's, of an attempt already
    ended, or of an older try, changes nothing (a redelivered or late report); a record of
    another organization is not found (its unit of work sees only the caller's)."""
    authorize(principal, WRITE)
    now = use_cases.clock.now()
    async with use_cases.uow(principal.tenant_id) as uow:
        record = await load(uow, use_cases.KIND, report.record_id, use_cases.TYPE, for_update=True)
        mail = _after(record.notification, report, now)
        if mail is None:
            return use_cases.present(record)
        record = replace(record, notification=mail)
        await save(uow, use_cases.KIND, record)
        record_event(uow, principal, REPORTED, record.id, report_fields(report), now)
        await uow.commit()
    return use_cases.present(record)
