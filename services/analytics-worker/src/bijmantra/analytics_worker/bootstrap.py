"""Composition root of the analytics-worker: which consumers run, over the adapters it is
given (``production.production_adapters`` builds the real ones; tests pass fakes, ADR 0260)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from bijmantra.analytics_worker.config import Settings
from bijmantra.analytics_worker.documents import (
    DOCUMENTS_CONSUMER,
    DOCUMENTS_SUBJECTS,
    RenderDocuments,
    StoreDocument,
)
from bijmantra.analytics_worker.handlers import GERMPLASM_CONSUMER, GERMPLASM_SUBJECTS
from bijmantra.analytics_worker.health import serve_health
from bijmantra.analytics_worker.jobs import ANALYSIS_CONSUMER
from bijmantra.analytics_worker.mail import mail_consumer
from bijmantra.application.distribution.notifications import (
    DeliveryLedger,
    FindRecipient,
    NotifyPartners,
    ReportMail,
    backstop,
)
from bijmantra.application.email import EmailSender
from bijmantra.application.events import subject_for
from bijmantra.application.events.ports import (
    ConsumerSpec,
    EventConsumer,
    EventHandler,
    EventSubscriptions,
)
from bijmantra.application.sensors.evaluation import (
    EVALUATION_CONSUMER,
    TELEMETRY_RECEIVED,
    CheckSilences,
    DueChecks,
    EvaluateTelemetry,
    EvaluationStateFactory,
    SensorsDomain,
)
from bijmantra.kernel import Clock, SystemClock
from bijmantra.observability import get_logger, untraced
from bijmantra.observability.metrics import Periodic, sample_every
from bijmantra.observability.shutdown import Closer, close_all

log = get_logger(__name__)


CONSUMER_SAMPLE_SECONDS = 5.0


def _connected() -> bool:
    return True


@dataclass
class WorkerAdapters:
    subscriptions: EventSubscriptions
    germplasm_projection: EventHandler  # per-crop counts in each organization's database
    ledger: DeliveryLedger  # which partner mails went out (exactly once under redelivery)
    # Analysis jobs and PDFs go through domain-api's worker API; None without a client secret.
    analyses: EventHandler | None = None
    store_document: StoreDocument | None = None
    mailer: EmailSender | None = None  # None: distribution notifications are not mailed
    # How each partner mail ended, to domain-api (ADR 0363); None without a client secret.
    report_mail: ReportMail | None = None
    # Who a partner mail or PDF names, asked of domain-api (ADR 0389); None without a secret.
    recipient: FindRecipient | None = None
    # Sensors evaluation (ADR 0290): its state, the due read, domain-api's worker calls.
    sensors_state: EvaluationStateFactory | None = None
    sensors_due: DueChecks | None = None
    sensors_domain: SensorsDomain | None = None  # None without a client secret: no alerts
    clock: Clock = field(default_factory=SystemClock)
    stream_connected: Callable[[], bool] = _connected
    closers: list[Closer] = field(default_factory=list)


@dataclass
class Worker:
    settings: Settings
    adapters: WorkerAdapters
    consumers: list[EventConsumer]
    periodic: list[Periodic] = field(default_factory=list)  # (seconds, task): sensor checks

    async def run(self, stop: asyncio.Event) -> None:
        consumers, connected = self.consumers, self.adapters.stream_connected
        health = await serve_health(
            self.settings.health_port,
            lambda: connected() and all(c.ready.is_set() for c in consumers),
            self.settings.bind_host,
        )

        async def sample_consumer_lag() -> None:
            for consumer in consumers:
                await consumer.sample_lag()

        tasks = [asyncio.create_task(c.run()) for c in consumers]
        with untraced():
            tasks.append(
                asyncio.create_task(
                    sample_every(CONSUMER_SAMPLE_SECONDS, stop, sample_consumer_lag)
                )
            )
        tasks += [
            asyncio.create_task(sample_every(seconds, stop, task))
            for seconds, task in self.periodic
        ]
        log.info("analytics-worker consuming", consumers=[c.durable for c in consumers])
        await stop.wait()
        log.info("analytics-worker draining")
        for consumer in consumers:
            consumer.stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
        health.close()
        await close_all(self.adapters.closers)


def bootstrap(settings: Settings, adapters: WorkerAdapters) -> Worker:
    subscribe = adapters.subscriptions.consumer
    consumers = [subscribe(spec) for spec in _consumer_specs(settings, adapters)]
    return Worker(settings, adapters, consumers, _sensors(settings, adapters, consumers))


def _consumer_specs(settings: Settings, adapters: WorkerAdapters) -> list[ConsumerSpec]:
    """The germplasm projection, and each consumer whose adapters this replica was given."""
    specs = [
        ConsumerSpec(
            durable=GERMPLASM_CONSUMER,
            filter_subjects=GERMPLASM_SUBJECTS,
            handler=adapters.germplasm_projection,
        )
    ]
    if adapters.analyses is not None:
        # A work queue: every replica pulls from the same durable, so each job runs once.
        specs.append(
            ConsumerSpec(
                durable=ANALYSIS_CONSUMER,
                filter_subjects=["bijmantra.events.analysis.requested"],
                handler=adapters.analyses,
                batch=1,
                ack_wait=settings.analysis_ack_wait,
                heartbeat=True,
            )
        )
    # Documents and partner mail follow distribution events, ten at a time.
    if adapters.store_document is not None:
        render = RenderDocuments(adapters.store_document, adapters.recipient)
        specs.append(ConsumerSpec(DOCUMENTS_CONSUMER, DOCUMENTS_SUBJECTS, render, batch=10))
    if adapters.mailer is not None:
        bound = backstop(settings.partner_mails_per_day)
        notify = NotifyPartners(
            adapters.mailer,
            adapters.ledger,
            bound,
            adapters.report_mail,
            adapters.clock,
            recipient=adapters.recipient,
        )
        specs.append(mail_consumer(notify))
    return specs


def _sensors(
    settings: Settings, adapters: WorkerAdapters, consumers: list[EventConsumer]
) -> list[Periodic]:
    """Alert rules and presence from telemetry events, and the clock's checks (ADR 0290)."""
    state, due, domain = adapters.sensors_state, adapters.sensors_due, adapters.sensors_domain
    if state is None or due is None or domain is None:
        return []
    offline_after = settings.device_offline_after
    consumers.append(
        adapters.subscriptions.consumer(
            ConsumerSpec(
                durable=EVALUATION_CONSUMER,
                filter_subjects=[subject_for(TELEMETRY_RECEIVED)],
                handler=EvaluateTelemetry(state, domain, offline_after),
            )
        )
    )
    checks = CheckSilences(state, due, domain, adapters.clock, offline_after)

    async def check() -> None:
        await checks()

    return [(settings.sensor_check_seconds, check)]
