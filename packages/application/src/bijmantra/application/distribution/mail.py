"""Partner mail under the organization's daily cap, decided in the write that sends it, so the
record says what became of it (ADR 0354): queued, or not sent because the day's cap was
reached, and sent again by the writer once the day has room."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bijmantra.application.distribution.common import (
    WRITE,
    UseCases,
    load,
    record_event,
    save,
)
from bijmantra.application.ports import UnitOfWork
from bijmantra.application.security import authorize
from bijmantra.domain.distribution.mail import (
    RESENDABLE,
    MailStatus,
    PartnerMail,
    mail_day,
    partner_mail,
    resend,
)
from bijmantra.kernel import Principal

# A resend is an event of its own: the original event (a dispatch shipped, an invoice issued)
# happened once, and its other consumers (documents, the audit trail) must not see it twice.
RESENT = "partner_mail_resent"
RESENDS = "resends"  # the event data's key naming the event whose mail is sent again


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


def addressed(email: str, mail: PartnerMail | None) -> str:
    """The address an event carries: the partner's when its mail is queued, else none (the
    mail worker sends only what carries an address)."""
    return email if mail is not None and mail.status is MailStatus.QUEUED else ""


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
    and sends nothing."""
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
