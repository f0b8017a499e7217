"""A mail server that cannot take a partner mail for now (a 4xx reply, greylisting, no
connection) is tried again after growing waits, the mail staying ``queued`` meanwhile, and
the mail goes out once; a permanent refusal still ends it at once (ADR 0377). Before, the
consumer's five redeliveries, seconds apart, were spent in half a minute and a greylisting
server's mail ended ``failed: undeliverable``. Real PostgreSQL, SMTP (aiosmtpd) and NATS."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from bijmantra.adapters.nats import DurableConsumer, JetStreamPublisher, connect, ensure_stream
from bijmantra.analytics_worker.mail import mail_consumer
from bijmantra.application.distribution.mail import MailReport
from bijmantra.application.events import OutboxRecord
from bijmantra.application.events.ports import RetryLater
from bijmantra.kernel import TenantId
from bijmantra.testkit.mail import SmtpCatcher
from bijmantra.testkit.servers import LocalNats
from nats.js import JetStreamContext

from .conftest import TOOK, Mailer, Post, issued_invoice, mail_events, member

pytestmark = pytest.mark.integration
POSTGREY_WAIT = timedelta(minutes=5)  # postgrey's default: a retry before it is refused again


async def test_a_greylisted_mail_is_tried_again_after_growing_waits_and_sent_once(
    post: Post,
) -> None:
    """Five greylisted tries, one more than the mailer made before it gave up. Meanwhile the
    record says how many tries its server did not take and when the next is (ADR 0381)."""
    who, address, invoice, event = await post.invoice_mailed()
    post.smtp.greylist(address, 5)
    waits = []
    for tries in range(1, 6):
        with pytest.raises(RetryLater) as later:
            await post.mailer.deliver(event)  # the consumer hands it back for ``delay``
        waits.append(timedelta(seconds=later.value.delay))
        queued = await post.notification(who, invoice)
        assert (queued["status"], queued["tries"]) == ("queued", tries)
        assert datetime.fromisoformat(queued["next_try_at"]) == TOOK + waits[-1]
    await post.mailer.deliver(event)
    await post.mailer.deliver(event)  # redelivered once more: nothing more is sent

    assert post.smtp.tries_for(address) == ["451"] * 5 + ["250"]
    assert len(post.smtp.messages_to(address)) == 1
    sent = await post.notification(who, invoice)
    assert (sent["status"], sent["attempts"], sent["failure"]) == ("sent", 1, None)
    assert (sent["tries"], sent["next_try_at"]) == (5, None)
    assert all(before < after for before, after in itertools.pairwise(waits))
    assert sum(waits[:2], timedelta()) > POSTGREY_WAIT  # the third try is past greylisting


async def test_a_mail_server_down_for_a_while_takes_the_mail_once_it_is_back(post: Post) -> None:
    down = SmtpCatcher()  # not started: its port refuses connections
    mailer = Mailer(post.world, post.engine, down)
    who, address, invoice, event = await post.invoice_mailed()
    for _ in range(4):  # as many tries as the mailer made before it gave up
        with pytest.raises(RetryLater):
            await mailer.deliver(event)
    assert (await post.notification(who, invoice))["status"] == "queued"
    down.start()
    try:
        await mailer.deliver(event)
        await mailer.deliver(event)
        assert len(down.messages_to(address)) == 1
    finally:
        down.stop()
    sent = await post.notification(who, invoice)
    assert (sent["status"], sent["failure"]) == ("sent", None)


async def test_a_permanent_refusal_after_a_greylisting_still_fails_at_once(post: Post) -> None:
    who, address, invoice, event = await post.invoice_mailed()
    post.smtp.greylist(address, 1)
    with pytest.raises(RetryLater):
        await post.mailer.deliver(event)
    post.smtp.refuse(address, "550 5.1.1 unknown user")
    await post.mailer.deliver(event)  # no RetryLater: given up on the 5xx
    await post.mailer.deliver(event)
    assert post.smtp.tries_for(address) == ["451", "550"]
    failed = await post.notification(who, invoice)
    assert (failed["status"], failed["failure"]) == ("failed", "address_refused")


@pytest.fixture
async def stream(tmp_path: Path) -> AsyncIterator[JetStreamContext]:
    """A NATS server of the test's own: no other test's distribution events on its stream."""
    server = LocalNats(tmp_path / "nats")
    server.start()
    nc = await connect(server.url, name="test")
    try:
        js = nc.jetstream()
        await ensure_stream(js)
        yield js
    finally:
        await nc.close()
        server.stop()


async def test_a_greylisted_mail_waits_in_the_stream_while_another_organizations_goes_out(
    post: Post, stream: JetStreamContext
) -> None:
    """The worker's mail consumer on JetStream, with waits of seconds: organization A's mail
    is greylisted four times and B's, published after it, goes out during A's wait; A's goes
    out after it, once. A handler that waited in place would have held B behind A's retries."""
    waits = (timedelta(seconds=3), *[timedelta(seconds=0.5)] * 3)  # five tries, 4.5 s
    mailer = Mailer(post.world, post.engine, post.smtp, waits=waits)
    a, a_address, a_invoice, a_event = await post.invoice_mailed()
    b, b_address, b_invoice, b_event = await post.invoice_mailed()
    post.smtp.greylist(a_address, 4)  # four tries: the mailer gave up after four before
    await JetStreamPublisher(stream).publish_batch(
        [OutboxRecord.of(a_event), OutboxRecord.of(b_event)]
    )
    consumer = DurableConsumer(stream, mail_consumer(mailer.notify))
    running = asyncio.create_task(consumer.run())
    try:
        await asyncio.to_thread(post.smtp.wait_for, b_address, timeout=30)
        assert post.smtp.tries_for(a_address) in ([], ["451"])  # B did not wait for A's retry
        assert (await post.notification(a, a_invoice))["status"] == "queued"
        await asyncio.to_thread(post.smtp.wait_for, a_address, timeout=30)
        async with asyncio.timeout(30):
            await mailer.reported(2)  # the report follows the claim's commit
    finally:
        consumer.stop()
        await asyncio.gather(running, return_exceptions=True)
    assert post.smtp.tries_for(a_address) == ["451"] * 4 + ["250"]
    assert post.smtp.tries_for(b_address) == ["250"]
    assert len(post.smtp.messages_to(a_address)) == len(post.smtp.messages_to(b_address)) == 1
    for who, invoice in ((a, a_invoice), (b, b_invoice)):
        sent = await post.notification(who, invoice)
        assert (sent["status"], sent["attempts"]) == ("sent", 1)


async def test_a_retry_whose_report_does_not_get_through_still_waits_and_tries_again(
    post: Post,
) -> None:
    """domain-api away when a try fails for now: the record says less (no next try), the
    retry stands, and the next try's report says it."""
    who, address, invoice, event = await post.invoice_mailed()
    post.smtp.greylist(address, 2)
    told = post.mailer.notify.report
    assert told is not None

    async def away(tenant: TenantId, report: MailReport) -> None:
        raise ConnectionError("domain-api unreachable")

    post.mailer.notify.report = away
    with pytest.raises(RetryLater):
        await post.mailer.deliver(event)
    queued = await post.notification(who, invoice)
    assert (queued["status"], queued["tries"], queued["next_try_at"]) == ("queued", 0, None)
    post.mailer.notify.report = told
    with pytest.raises(RetryLater) as later:
        await post.mailer.deliver(event)
    queued = await post.notification(who, invoice)
    assert queued["tries"] == 2
    assert datetime.fromisoformat(queued["next_try_at"]) == TOOK + timedelta(
        seconds=later.value.delay
    )


async def test_a_partner_server_that_does_not_answer_holds_back_only_its_own_organizations_mail(
    post: Post, stream: JetStreamContext
) -> None:
    """ADR 0381: organization A's three mails go to a recipient the relay does not answer
    for (each try ends at the SMTP timeout, 1 s here, 15 s in production); B's mail,
    published behind them, goes out while A's first try waits, not after A's three. A's mails
    stay queued for their retries."""
    mailer = Mailer(post.world, post.engine, post.smtp, smtp_timeout=1.0)
    a, a_address = member(), f"{uuid.uuid4().hex}@slow.example"
    post.smtp.stall(a_address, 5.0)
    a_invoices = [await issued_invoice(post.world, a, a_address) for _ in range(3)]
    a_events = await mail_events(post.database, a.tenant_id)
    b, b_address, b_invoice, b_event = await post.invoice_mailed()
    records = [OutboxRecord.of(e) for e in (*a_events, b_event)]
    await JetStreamPublisher(stream).publish_batch(records)
    consumer = DurableConsumer(stream, mail_consumer(mailer.notify))
    running = asyncio.create_task(consumer.run())
    try:
        await asyncio.to_thread(post.smtp.wait_for, b_address, timeout=30)
        tries = [(to, code) for to, code in post.smtp.tries if to in (a_address, b_address)]
        assert tries.index((b_address, "250")) <= 1  # before A's second try, not after three
    finally:
        consumer.stop()
        await asyncio.gather(running, return_exceptions=True)
    for invoice in a_invoices:
        assert (await post.notification(a, invoice))["status"] == "queued"
    assert (await post.notification(b, b_invoice))["status"] in ("queued", "sent")
