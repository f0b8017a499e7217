"""The distribution mail consumer's ledger: the event id is recorded in the analytics schema
in a transaction that commits only after the SMTP server accepted the message. Claims of
one organization take turns (a transaction-scoped advisory lock), so the day's count each
reads includes every claim before it (ADR 0348). How the mail ended is kept with the claim,
and the deliveries begun, each counted before it claims, in ``analytics.partner_mail_outcomes``
(ADR 0363, 0367)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bijmantra.adapters.postgres import first_delivery
from bijmantra.adapters.postgres.inbox import handled_today
from bijmantra.adapters.postgres.partner_mail import count_try, keep_outcome, kept_outcome
from bijmantra.adapters.postgres.placement import PlacementEngines, as_placements
from bijmantra.application.distribution.notifications import (
    BACKSTOP_PER_DAY,
    MAIL_CONSUMER,
    MESSAGES,
    Claim,
    NotifyPartners,
)
from bijmantra.application.events import EventEnvelope, subject_for
from bijmantra.application.events.ports import ConsumerSpec
from bijmantra.domain.distribution.mail import may_mail
from bijmantra.kernel import TenantId
from bijmantra.observability import get_logger
from sqlalchemy.ext.asyncio import AsyncEngine

log = get_logger(__name__)
MAIL_SUBJECTS = tuple(subject_for(t) for t in MESSAGES)
# Events the mail consumer may hold delivered and unacknowledged, mails waiting out a retry
# among them (JetStream counts those too): at its default of 1,000, two organizations whose
# partners' servers put off a day's cap of mail would stop everyone's mail (ADR 0377).
MAILS_IN_HAND = 20_000
# Organizations whose mail is sent side by side, each's one mail at a time (ADR 0381): a
# partner's server that does not answer holds its own organization's mail for its SMTP
# timeout, not everyone's. Each send holds a database connection (its claim), so this stays
# within the worker's pool of four; a fifth organization waits only when four are slow.
MAIL_ORGANIZATIONS_AT_ONCE = 4


def mail_consumer(notify: NotifyPartners) -> ConsumerSpec:
    """Ten events a fetch; a mail that waits out a retry goes back to the stream for its wait
    (ADR 0377), so the deliveries it may take are the mailer's tries and reports; each
    organization's mail in order, four organizations' at once (ADR 0381)."""
    return ConsumerSpec(
        MAIL_CONSUMER,
        MAIL_SUBJECTS,
        notify,
        batch=10,
        max_deliver=notify.deliveries,
        max_ack_pending=MAILS_IN_HAND,
        organizations_at_once=MAIL_ORGANIZATIONS_AT_ONCE,
    )


class PostgresDeliveryLedger:
    def __init__(
        self, engine: AsyncEngine | PlacementEngines, per_day: int = BACKSTOP_PER_DAY
    ) -> None:
        """``per_day``: the consumer's bound, only for saying in the log what it held back."""
        self._placements = as_placements(engine)
        self._per_day = per_day

    def _tenant(self, envelope: EventEnvelope) -> TenantId:
        return TenantId(uuid.UUID(envelope.tenant_id))

    @asynccontextmanager
    async def claim(self, consumer: str, envelope: EventEnvelope) -> AsyncIterator[Claim]:
        """The row lock of the claim also makes a concurrent redelivery wait for the
        outcome of the first (send and commit, or fail and roll back) instead of sending."""
        async with self._placements.transaction(self._tenant(envelope)) as conn:
            handled = await handled_today(conn, consumer, envelope.tenant_id)
            first = await first_delivery(conn, consumer, envelope)
            tries, outcome = await kept_outcome(conn, envelope)
            claim = Claim(first, handled, tries, None if first else outcome)
            if claim.first and not may_mail(handled, self._per_day):
                log.warning("partner mail not sent: the day's bound", tenant_id=envelope.tenant_id)
            yield claim
            if claim.first and claim.outcome is not None:
                await keep_outcome(conn, envelope, claim.outcome)

    async def began_try(self, consumer: str, envelope: EventEnvelope) -> None:
        async with self._placements.transaction(self._tenant(envelope)) as conn:
            await count_try(conn, envelope)
