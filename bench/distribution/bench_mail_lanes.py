"""How long another organization's partner mail waits behind one whose recipient the relay
does not answer (ADR 0381).

Organization A issues ``BENCH_SLOW_MAILS`` (10, one fetch) mails to a recipient the SMTP
server answers only after 60 s, so each of A's tries ends at the mailer's SMTP timeout
(``BENCH_SMTP_TIMEOUT``, 1 s here; 15 s in production, so the seconds below scale by 15);
organization B's mail is published right behind them. Measured: seconds from publishing
until B's mail is in the SMTP server, through the worker's mail handler (``NotifyPartners``,
real SMTP client) on a real JetStream consumer. The baseline consumes as before (each
fetched batch one event after another); the measured way sends each organization's mail in
its own lane, four organizations at once (``mail_consumer``). Sides alternate over
``BENCH_ROUNDS`` (3) rounds, each on a fresh NATS server; the delivery ledger is the
in-memory fake (the consumer's scheduling is what is measured, not PostgreSQL).

    uv run python -m bench.distribution.bench_mail_lanes
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from tempfile import TemporaryDirectory
from time import perf_counter
from typing import Any

from bijmantra.adapters.email import SmtpEmailSender, SmtpSettings
from bijmantra.adapters.nats import DurableConsumer, JetStreamPublisher, connect, ensure_stream
from bijmantra.analytics_worker.mail import mail_consumer
from bijmantra.application.distribution.notifications import NotifyPartners
from bijmantra.application.events import OutboxRecord, envelope_for
from bijmantra.domain import DomainEvent
from bijmantra.kernel import TenantId
from bijmantra.testkit.event_fakes import FakeDeliveryLedger
from bijmantra.testkit.mail import SmtpCatcher
from bijmantra.testkit.servers import LocalNats

# A's mails (one fetch), the mailer's SMTP timeout in seconds, and rounds of both sides.
SLOW_MAILS = int(os.environ.get("BENCH_SLOW_MAILS", "10"))
SMTP_TIMEOUT = float(os.environ.get("BENCH_SMTP_TIMEOUT", "1.0"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "mail_lanes.json"


def invoice_issued(tenant: str, address: str) -> OutboxRecord:
    """The event an issued invoice's mail is sent for, as domain-api writes it."""
    invoice = {"number": "INV-1", "totals": {"gross": "9.99"}, "currency": "EUR"}
    data = {"email": address, "invoice": invoice, "partner": {"name": "P"}, "mail_attempt": 1}
    issued = DomainEvent(
        "distribution.invoice_issued",
        TenantId(uuid.UUID(tenant)),
        str(uuid.uuid4()),
        data,
        occurred_at=datetime.now(UTC),
    )
    return OutboxRecord.of(envelope_for(issued, source="bench"))


async def waited(smtp: SmtpCatcher, workdir: Path, at_once: int) -> float:
    """Seconds until B's mail is in, behind A's mails to a recipient never answered."""
    slow, quick = f"{uuid.uuid4().hex}@slow.example", f"{uuid.uuid4().hex}@partner.example"
    smtp.stall(slow, 60.0)
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    records = [*(invoice_issued(a, slow) for _ in range(SLOW_MAILS)), invoice_issued(b, quick)]
    settings = SmtpSettings(smtp.host, smtp.port, "B <no-reply@b.test>", timeout=SMTP_TIMEOUT)
    notify = NotifyPartners(SmtpEmailSender(settings), FakeDeliveryLedger())
    spec = replace(mail_consumer(notify), organizations_at_once=at_once)
    server = LocalNats(workdir / f"nats-{uuid.uuid4().hex[:6]}")
    server.start()
    nc = await connect(server.url, name="bench")
    try:
        js = nc.jetstream()
        await ensure_stream(js)
        consumer = DurableConsumer(js, spec)
        running = asyncio.create_task(consumer.run())
        await consumer.ready.wait()
        started = perf_counter()
        await JetStreamPublisher(js).publish_batch(records)
        await asyncio.to_thread(smtp.wait_for, quick, timeout=SLOW_MAILS * SMTP_TIMEOUT * 4 + 30)
        seconds = perf_counter() - started
        consumer.stop()
        await asyncio.gather(running, return_exceptions=True)
    finally:
        await nc.close()
        server.stop()
    return seconds


async def measure(workdir: Path) -> dict[str, Any]:
    smtp = SmtpCatcher().start()
    sides = {"one_after_another": 0, "organizations_side_by_side": 4}
    rounds: list[dict[str, float]] = []
    try:
        for _ in range(ROUNDS):
            measured = {n: await waited(smtp, workdir, a) for n, a in sides.items()}
            rounds.append(
                {
                    **{f"{n}_s": round(s, 3) for n, s in measured.items()},
                    "ratio": round(
                        measured["organizations_side_by_side"] / measured["one_after_another"], 4
                    ),
                }
            )
            print(json.dumps(rounds[-1]), flush=True)
    finally:
        smtp.stop()
    return {"rounds": rounds, "median_ratio": median(r["ratio"] for r in rounds)}


def main() -> None:
    with TemporaryDirectory() as workdir:
        result = asyncio.run(measure(Path(workdir)))
    report = {
        "meta": {
            "slow_mails": SLOW_MAILS,
            "smtp_timeout_s": SMTP_TIMEOUT,
            "rounds": ROUNDS,
            "cpus": os.cpu_count(),
            "load_average_at_end": os.getloadavg(),
        },
        **result,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"B's mail waited {result['median_ratio']}x as long (median); {RESULTS}")


if __name__ == "__main__":
    main()
