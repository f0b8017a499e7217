"""The mailer reports how each partner mail ended, and the record says it (ADR 0363): sent
when the SMTP server took it, failed with a reason a member can act on when it refused it or
could not be reached, sent again by the writer after a failure; a redelivered or late report
never moves a later attempt, and never another organization's record. Real PostgreSQL (the
domain use cases, the outbox, the worker's ledger and outcomes) and a real SMTP server."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import pytest
from bijmantra.application.distribution.mail import MailReport
from bijmantra.application.email import EmailSender, OutgoingEmail
from bijmantra.application.events.ports import RetryLater
from bijmantra.domain.distribution.mail import (
    FAILURE_TEXT,
    QUEUED_PATIENCE,
    MailFailure,
    MailStatus,
)
from bijmantra.kernel import NotFound, Principal, TenantId
from bijmantra.testkit.distribution import DistributionWorld
from bijmantra.testkit.mail import SmtpCatcher
from bijmantra.testkit.provision import ProvisionedDatabase

from .conftest import (
    LINE,
    NOW,
    TOOK,
    WORKER,
    Mailer,
    invoice_mailed,
    issued_invoice,
    j,
    mail_events,
    member,
)

pytestmark = pytest.mark.integration
# What a refusing server says: its host, its queue, another recipient. None of it may reach
# the record.
REFUSAL = "550 5.1.1 <{address}>: unknown user on mx7.internal.partner.example (q=4471; cc=ops@x)"


def plain(document: dict[str, Any]) -> Any:
    return msgspec.json.decode(j(document["notification"]))


async def test_a_mail_the_server_took_says_sent_with_when_and_a_redelivery_changes_nothing(
    world: DistributionWorld,
    mailer: Mailer,
    database: ProvisionedDatabase,
    smtp_server: SmtpCatcher,
) -> None:
    who, address, invoice, event = await invoice_mailed(world, database)
    await mailer.deliver(event)

    shown = await world.invoices.get(who, invoice)
    assert plain(shown) == {
        "status": "sent",
        "at": "2026-12-06T10:00:03Z",
        "day": "2026-12-06",
        "attempts": 1,
        "held_by": None,
        "resend_from": None,
        "failure": None,
        "tries": 0,
        "next_try_at": None,
    }
    # A resend of a mail the server took sends nothing: the record answers as it is.
    assert (await world.invoices.resend_notification(who, invoice)) == shown
    await mailer.deliver(event)  # redelivered: not mailed again, the same report ignored
    assert len(smtp_server.messages_to(address)) == 1
    assert await world.invoices.get(who, invoice) == shown
    assert [r.status for r in mailer.reports] == [MailStatus.SENT, MailStatus.SENT]


async def test_a_refused_address_fails_with_why_a_resend_is_sent_and_stale_reports_are_ignored(
    world: DistributionWorld,
    mailer: Mailer,
    database: ProvisionedDatabase,
    smtp_server: SmtpCatcher,
) -> None:
    who, address, invoice, first = await invoice_mailed(world, database, smtp_server, REFUSAL)
    await mailer.deliver(first)

    failed = await world.invoices.get(who, invoice)
    assert failed["notification"]["status"] == "failed"
    assert failed["notification"]["failure"] == "address_refused"
    assert failed["notification"]["at"] == "2026-12-06T10:00:03Z"
    assert "internal" not in j(failed).decode()
    assert "4471" not in j(failed).decode()
    assert FAILURE_TEXT[MailFailure.ADDRESS_REFUSED].startswith("The partner's mail server")
    assert smtp_server.messages_to(address) == []

    # The writer fixes the address on the partner's side and sends it again: attempt 2.
    smtp_server.refuse(address, None)
    again = await world.invoices.resend_notification(who, invoice)
    assert (again["notification"]["status"], again["notification"]["attempts"]) == ("queued", 2)
    assert again["notification"]["failure"] is None
    # A late or redelivered report of attempt 1 leaves attempt 2 queued.
    await mailer.deliver(first)
    assert mailer.reports[-1].attempt == 1
    assert (await world.invoices.get(who, invoice))["notification"] == again["notification"]
    late = MailReport("invoice", invoice, 1, MailStatus.SENT, TOOK)
    await world.distribution.report_mail(Principal("worker", who.tenant_id, WORKER), late)
    assert (await world.invoices.get(who, invoice))["notification"] == again["notification"]

    _, resent = await mail_events(database, who.tenant_id)
    assert resent.type == "distribution.partner_mail_resent"
    await mailer.deliver(resent)
    sent = (await world.invoices.get(who, invoice))["notification"]
    assert (sent["status"], sent["attempts"], sent["failure"]) == ("sent", 2, None)
    assert len(smtp_server.messages_to(address)) == 1
    # Every report again, in any order: the record stays as attempt 2 left it.
    for envelope in (resent, first, resent):
        await mailer.deliver(envelope)
    late = MailReport("invoice", invoice, 2, MailStatus.FAILED, TOOK, MailFailure.UNDELIVERABLE)
    await world.distribution.report_mail(Principal("worker", who.tenant_id, WORKER), late)
    assert (await world.invoices.get(who, invoice))["notification"] == sent
    assert len(smtp_server.messages_to(address)) == 1


async def test_a_server_that_cannot_take_the_mail_fails_it_after_the_tries(
    world: DistributionWorld,
    mailer: Mailer,
    database: ProvisionedDatabase,
    smtp_server: SmtpCatcher,
) -> None:
    who, address, invoice, event = await invoice_mailed(
        world, database, smtp_server, "451 4.3.0 mx7.internal: try again later"
    )
    for _ in range(mailer.notify.tries - 1):  # the consumer redelivers each failed try
        with pytest.raises(RetryLater):
            await mailer.deliver(event)
        assert (await world.invoices.get(who, invoice))["notification"]["status"] == "queued"
    await mailer.deliver(event)  # the last try gives up and says so
    notification = (await world.invoices.get(who, invoice))["notification"]
    assert (notification["status"], notification["failure"]) == ("failed", "undeliverable")
    smtp_server.refuse(address, None)
    await mailer.deliver(event)  # redelivered after giving up: still nothing sent
    assert smtp_server.messages_to(address) == []


async def test_a_report_never_reaches_another_organizations_record(
    world: DistributionWorld, mailer: Mailer, database: ProvisionedDatabase
) -> None:
    owner, other = member(), member()
    invoice = await issued_invoice(world, owner, f"{uuid.uuid4().hex}@partner.example")
    report = MailReport("invoice", invoice, 1, MailStatus.FAILED, TOOK, MailFailure.UNDELIVERABLE)
    with pytest.raises(NotFound):
        await world.distribution.report_mail(Principal("worker", other.tenant_id, WORKER), report)
    # The owner's event delivered as if it were the other organization's: no record there.
    (event,) = await mail_events(database, owner.tenant_id)
    forged = msgspec.structs.replace(event, tenant_id=str(other.tenant_id), id=str(uuid.uuid4()))
    with pytest.raises(NotFound):
        await mailer.deliver(forged)
    assert (await world.invoices.get(owner, invoice))["notification"]["status"] == "queued"


async def test_mail_reported_sent_or_failed_still_counts_on_its_days_cap(
    world: DistributionWorld,
    mailer: Mailer,
    database: ProvisionedDatabase,
    smtp_server: SmtpCatcher,
) -> None:
    """Three mails a day: once the first three are reported, the fourth is still not sent."""
    who = member()
    addresses = [f"{uuid.uuid4().hex}@partner.example" for _ in range(4)]
    smtp_server.refuse(addresses[0], REFUSAL.format(address=addresses[0]))
    for address in addresses[:3]:
        await issued_invoice(world, who, address)
    for event in await mail_events(database, who.tenant_id):
        await mailer.deliver(event)
    assert sorted(r.status.value for r in mailer.reports) == ["failed", "sent", "sent"]
    partner = await world.partner(who, email=addresses[3])
    body = j({"partner_id": partner, "currency": "EUR", "lines": [LINE]})
    fourth = str((await world.invoices.create(who, body))["id"])
    issued = await world.invoices.act(who, fourth, j({"action": "issued"}))
    assert issued["notification"]["status"] == "not_sent"


class Killed(BaseException):
    """The worker's process ends here: nothing after it runs (no except, no finally of ours);
    the claim's transaction is lost with its connection, as when PostgreSQL sees it drop."""


class KilledDuringSend:
    """Kills the worker in the middle of its next ``kills`` SMTP exchanges."""

    def __init__(self, sender: EmailSender, kills: int) -> None:
        self.sender, self.kills = sender, kills

    async def send(self, email: OutgoingEmail) -> None:
        if self.kills:
            self.kills -= 1
            raise Killed
        await self.sender.send(email)


async def test_deliveries_killed_mid_send_still_end_the_mail_within_the_consumers_deliveries(
    world: DistributionWorld,
    mailer: Mailer,
    database: ProvisionedDatabase,
    smtp_server: SmtpCatcher,
) -> None:
    """A worker SIGKILLed during the SMTP exchange (an analysis overrunning the node's memory,
    a node lost, a rolling restart; up to the 15 s timeout of an unreachable server) counted no
    try: a try was counted only once it had failed. Two such deliveries and a server refusing
    the rest ran the consumer's deliveries out, the event was dead-lettered and the record
    said ``queued`` for good, which its writer may not resend (ADR 0367)."""
    who, address, invoice, event = await invoice_mailed(
        world, database, smtp_server, "451 4.3.0 mx7.internal: try again later"
    )
    mailer.notify.sender = KilledDuringSend(mailer.notify.sender, kills=2)

    ends = []
    for _ in range(mailer.notify.tries + 1):  # within the consumer's deliveries
        try:
            await mailer.deliver(event)
        except Killed:
            ends.append("killed")
        except RetryLater:
            ends.append("refused")
        else:
            ends.append("ended")
    # Before: killed, killed, refused, refused, refused (dead-lettered, queued for good).
    assert ends == ["killed", "killed"] + ["refused"] * (mailer.notify.tries - 3) + ["ended"] * 2
    notification = (await world.invoices.get(who, invoice))["notification"]
    assert (notification["status"], notification["failure"]) == ("failed", "undeliverable")
    assert smtp_server.messages_to(address) == []


class KilledAfterSend:
    """Kills the worker right after the server took its next mail, before the claim commits."""

    def __init__(self, sender: EmailSender) -> None:
        self.sender, self.armed = sender, True

    async def send(self, email: OutgoingEmail) -> None:
        await self.sender.send(email)
        if self.armed:
            self.armed = False
            raise Killed


async def test_a_kill_between_the_servers_accept_and_the_claim_mails_again_as_the_same_message(
    world: DistributionWorld,
    mailer: Mailer,
    database: ProvisionedDatabase,
    smtp_server: SmtpCatcher,
) -> None:
    """The one window SMTP leaves: the server took the mail, the claim was lost with the
    process. The redelivery sends it again (at least once: the other choice, never again, can
    lose it), with the same Message-ID, by which mail stores and clients drop the second."""
    who, address, invoice, event = await invoice_mailed(world, database)
    mailer.notify.sender = KilledAfterSend(mailer.notify.sender)
    with pytest.raises(Killed):
        await mailer.deliver(event)
    assert (await world.invoices.get(who, invoice))["notification"]["status"] == "queued"
    await mailer.deliver(event)
    await mailer.deliver(event)  # and once more: nothing more is sent
    first, second = smtp_server.messages_to(address)
    assert (
        first.message["Message-ID"]
        == second.message["Message-ID"]
        == f"<{event.id}@distribution.bijmantra>"
    )
    notification = (await world.invoices.get(who, invoice))["notification"]
    assert (notification["status"], notification["attempts"]) == ("sent", 1)


async def test_a_kill_between_the_claim_and_the_report_reports_at_the_redelivery_sending_nothing(
    world: DistributionWorld,
    mailer: Mailer,
    database: ProvisionedDatabase,
    smtp_server: SmtpCatcher,
) -> None:
    who, address, invoice, event = await invoice_mailed(world, database)
    report = mailer.notify.report

    async def killed(tenant: TenantId, sent: MailReport) -> None:
        raise Killed

    mailer.notify.report = killed
    with pytest.raises(Killed):
        await mailer.deliver(event)
    assert (await world.invoices.get(who, invoice))["notification"]["status"] == "queued"
    mailer.notify.report = report  # the worker restarted; the event is redelivered
    await mailer.deliver(event)
    assert len(smtp_server.messages_to(address)) == 1
    notification = (await world.invoices.get(who, invoice))["notification"]
    assert (notification["status"], notification["at"]) == ("sent", "2026-12-06T10:00:03Z")


async def test_a_mail_whose_report_was_lost_for_good_is_sent_again_after_the_wait(
    world: DistributionWorld,
    mailer: Mailer,
    database: ProvisionedDatabase,
    smtp_server: SmtpCatcher,
) -> None:
    """domain-api away through every delivery of the report (SIGKILLed and slow to come
    back, a rollout): the event is dead-lettered, the record said queued for good and a resend
    sent nothing. Past the wait (``QUEUED_PATIENCE``) the writer sends it again (ADR 0367)."""
    who, address, invoice, event = await invoice_mailed(world, database)
    report = mailer.notify.report

    async def away(tenant: TenantId, sent: MailReport) -> None:
        raise ConnectionError("domain-api unreachable")

    mailer.notify.report = away
    for _ in range(mailer.notify.deliveries):  # every delivery, then the dead letter
        with pytest.raises(ConnectionError):
            await mailer.deliver(event)
    mailer.notify.report = report
    assert len(smtp_server.messages_to(address)) == 1
    queued = (await world.invoices.get(who, invoice))["notification"]
    assert queued["status"] == "queued"
    assert await world.invoices.resend_notification(who, invoice) == await world.invoices.get(
        who, invoice
    )  # within the wait: in flight, nothing sent

    world.clock.at = NOW + QUEUED_PATIENCE
    again = (await world.invoices.resend_notification(who, invoice))["notification"]
    assert (again["status"], again["attempts"]) == ("queued", 2)
    _, resent = await mail_events(database, who.tenant_id)
    await mailer.deliver(resent)
    await mailer.deliver(event)  # the dead letter replayed: attempt 1's report is ignored
    sent = (await world.invoices.get(who, invoice))["notification"]
    assert (sent["status"], sent["attempts"]) == ("sent", 2)
    assert len(smtp_server.messages_to(address)) == 2
