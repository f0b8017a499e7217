"""The partner mail tests' world: the distribution use cases on real PostgreSQL, the worker's
mail consumer over real SMTP reporting to them as domain-api's worker service does, and the
invoices and events they start from (ADR 0363, 0367, 0377)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import psycopg
import pytest
from bijmantra.adapters.email import SmtpEmailSender, SmtpSettings
from bijmantra.adapters.postgres import create_engine, unit_of_work_factory
from bijmantra.analytics_worker.mail import PostgresDeliveryLedger
from bijmantra.application.distribution.mail import MailReport
from bijmantra.application.distribution.notifications import NotifyPartners
from bijmantra.application.events import EventEnvelope
from bijmantra.application.events.envelope import decode_envelope
from bijmantra.domain.distribution.mail import MAIL_RETRY_WAITS, MailStatus
from bijmantra.kernel import FixedClock, Principal, TenantId
from bijmantra.testkit.distribution import DistributionWorld
from bijmantra.testkit.mail import SmtpCatcher
from bijmantra.testkit.provision import ProvisionedDatabase

NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
TOOK = NOW + timedelta(seconds=3)  # the worker's clock when the server took the mail
j = msgspec.json.encode
LINE = {"description": "Handling", "quantity": "2", "unit_price": "9.99", "tax_rate": "0"}
WORKER = frozenset({"analysis-worker"})


class Mailer:
    """The worker's mail consumer over real SMTP and its ledger in the analytics schema,
    reporting to the distribution use cases as domain-api's worker service does (a service
    principal of the event's organization). ``waits``: the mailer's retry schedule."""

    def __init__(
        self,
        world: DistributionWorld,
        engine: Any,
        smtp: SmtpCatcher,
        waits: tuple[timedelta, ...] = MAIL_RETRY_WAITS,
        smtp_timeout: float = SmtpSettings.timeout,
    ) -> None:
        self.world = world
        self.reports: list[MailReport] = []
        self._reported = asyncio.Condition()
        settings = SmtpSettings(smtp.host, smtp.port, "B <no-reply@b.test>", timeout=smtp_timeout)
        self.notify = NotifyPartners(
            SmtpEmailSender(settings),
            PostgresDeliveryLedger(engine),
            report=self.report,
            clock=FixedClock(TOOK),
            waits=waits,
            recipient=world.mail_recipient,
        )

    async def report(self, tenant: TenantId, report: MailReport) -> None:
        self.reports.append(report)
        await self.world.distribution.report_mail(Principal("worker", tenant, WORKER), report)
        async with self._reported:
            self._reported.notify_all()

    async def reported(self, count: int) -> None:
        """Wait until ``count`` reports of an attempt's end (sent or failed; not of a try
        to come, ADR 0381) reached the records."""

        def ended() -> int:
            return sum(r.status is not MailStatus.QUEUED for r in self.reports)

        async with self._reported:
            await self._reported.wait_for(lambda: ended() >= count)

    async def deliver(self, envelope: EventEnvelope) -> None:
        await self.notify(envelope)


@pytest.fixture
async def world(database: ProvisionedDatabase) -> AsyncIterator[DistributionWorld]:
    """The use cases with a cap of three partner mails a day, on a clock the test moves."""
    engine = create_engine(database.domain_url, pool_size=4)
    yield DistributionWorld(
        unit_of_work_factory(engine, source="test"), FixedClock(NOW), mails_per_day=3
    )
    await engine.dispose()


@pytest.fixture
async def analytics_engine(database: ProvisionedDatabase) -> AsyncIterator[Any]:
    engine = create_engine(database.analytics_url, pool_size=4)
    yield engine
    await engine.dispose()


@pytest.fixture
def mailer(world: DistributionWorld, analytics_engine: Any, smtp_server: SmtpCatcher) -> Mailer:
    return Mailer(world, analytics_engine, smtp_server)


async def mail_events(database: ProvisionedDatabase, tenant: TenantId) -> list[EventEnvelope]:
    """The organization's events that mail (or resend) so far, in order."""
    async with await psycopg.AsyncConnection.connect(database.owner_url) as conn:
        cursor = await conn.execute(
            "SELECT envelope FROM domain.outbox WHERE tenant_id = %s ORDER BY seq", (tenant,)
        )
        envelopes = [decode_envelope(bytes(row[0])) for row in await cursor.fetchall()]
    mailing = {"distribution.invoice_issued", "distribution.partner_mail_resent"}
    return [e for e in envelopes if e.type in mailing]


def member() -> Principal:
    return Principal("manager", TenantId(uuid.uuid4()), frozenset({"data-manager"}))


async def issued_invoice(world: DistributionWorld, who: Principal, address: str) -> str:
    """Issued at NOW; domain-api's clock then moves on past the worker's (TOOK)."""
    world.clock.at = NOW
    partner = await world.partner(who, email=address)
    body = j({"partner_id": partner, "currency": "EUR", "lines": [LINE]})
    invoice = str((await world.invoices.create(who, body))["id"])
    issued = await world.invoices.act(who, invoice, j({"action": "issued"}))
    assert issued["notification"]["status"] == "queued"
    world.clock.at = NOW + timedelta(minutes=1)
    return invoice


async def invoice_mailed(
    world: DistributionWorld,
    database: ProvisionedDatabase,
    smtp_server: SmtpCatcher | None = None,
    refusal: str | None = None,
) -> tuple[Principal, str, str, EventEnvelope]:
    """A new organization's member, partner address, invoice issued at NOW and the event
    that mails it; ``refusal`` (formatted with the address): the SMTP server's answer to it."""
    who = member()
    address = f"{uuid.uuid4().hex}@partner.example"
    if smtp_server is not None and refusal is not None:
        smtp_server.refuse(address, refusal.format(address=address))
    invoice = await issued_invoice(world, who, address)
    (event,) = await mail_events(database, who.tenant_id)
    return who, address, invoice, event


async def notification(world: DistributionWorld, who: Principal, invoice: str) -> Any:
    """The invoice's mail as the API shows it."""
    return msgspec.json.decode(j((await world.invoices.get(who, invoice))["notification"]))


@dataclass
class Post:
    """One test's partner mail: the use cases, the worker's mailer over the SMTP server, the
    analytics engine its ledger uses (for a mailer of the test's own) and the database."""

    world: DistributionWorld
    mailer: Mailer
    smtp: SmtpCatcher
    engine: Any
    database: ProvisionedDatabase

    async def invoice_mailed(self) -> tuple[Principal, str, str, EventEnvelope]:
        return await invoice_mailed(self.world, self.database)

    async def notification(self, who: Principal, invoice: str) -> Any:
        return await notification(self.world, who, invoice)


@pytest.fixture
def post(
    world: DistributionWorld,
    mailer: Mailer,
    smtp_server: SmtpCatcher,
    analytics_engine: Any,
    database: ProvisionedDatabase,
) -> Post:
    return Post(world, mailer, smtp_server, analytics_engine, database)
