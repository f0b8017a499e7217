"""Composition root of the analytics-worker."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
from bijmantra.adapters.email import SmtpEmailSender
from bijmantra.adapters.grpc import CHANNEL_OPTIONS, AnalysisWorkerClient
from bijmantra.adapters.grpc.distribution import DistributionWorkerClient
from bijmantra.adapters.grpc.tls import http_verify, open_channel
from bijmantra.adapters.nats import DurableConsumer, connect, ensure_stream
from bijmantra.adapters.postgres import create_engine
from bijmantra.adapters.postgres.placement import PlacementEngines, PostgresPlacementDirectory
from bijmantra.analytics_worker.config import Settings
from bijmantra.analytics_worker.credentials import IdentityClientCredentials
from bijmantra.analytics_worker.documents import (
    DOCUMENTS_CONSUMER,
    DOCUMENTS_SUBJECTS,
    RenderDocuments,
)
from bijmantra.analytics_worker.handlers import (
    GERMPLASM_CONSUMER,
    GERMPLASM_SUBJECTS,
    GermplasmProjection,
)
from bijmantra.analytics_worker.health import serve_health
from bijmantra.analytics_worker.jobs import ANALYSIS_CONSUMER, AnalysisRunner
from bijmantra.analytics_worker.mail import MAIL_SUBJECTS, PostgresDeliveryLedger
from bijmantra.application.distribution.notifications import MAIL_CONSUMER, NotifyPartners
from bijmantra.observability import get_logger, untraced
from bijmantra.observability.metrics import sample_every, watch_pool
from bijmantra.observability.tracing_setup import Tracing

log = get_logger(__name__)


CONSUMER_SAMPLE_SECONDS = 5.0


async def run(settings: Settings, stop: asyncio.Event, tracing: Tracing | None = None) -> None:
    tracing = tracing or Tracing()
    engine = create_engine(settings.database_url, pool_size=4)
    tracing.instrument_sqlalchemy(engine)
    watch_pool("analytics-worker", engine.pool)
    # Projections and ledgers live in each organization's placement (ADR 0102).
    placements = PlacementEngines(
        engine,
        PostgresPlacementDirectory(engine),
        service_url=settings.database_url,
        on_engine=tracing.instrument_sqlalchemy,
    )
    nc = await connect(settings.nats_url, name="analytics-worker")
    js = nc.jetstream()
    await ensure_stream(js)
    consumers = [
        DurableConsumer(
            js,
            durable=GERMPLASM_CONSUMER,
            filter_subjects=GERMPLASM_SUBJECTS,
            handler=GermplasmProjection(placements),
        )
    ]
    channel = http = None
    if settings.client_secret:
        channel = open_channel(
            settings.domain_api_target,
            settings.tls,
            options=CHANNEL_OPTIONS,
            interceptors=tracing.grpc_client_interceptors(),
        )
        http = httpx.AsyncClient(verify=http_verify(settings.tls))
        tokens = IdentityClientCredentials(
            http, settings.identity_url, settings.client_id, settings.client_secret
        )
        # A work queue: every replica pulls from the same durable, so each job runs once.
        consumers.append(
            DurableConsumer(
                js,
                durable=ANALYSIS_CONSUMER,
                filter_subjects=["bijmantra.events.analysis.requested"],
                handler=AnalysisRunner(
                    AnalysisWorkerClient(channel, tokens),
                    placements,
                    block_buffer_bytes=settings.grm_buffer_mib << 20,
                ),
                batch=1,
                ack_wait=settings.analysis_ack_wait,
                heartbeat=True,
            )
        )
        documents = DistributionWorkerClient(channel, tokens)
        consumers.append(
            DurableConsumer(
                js,
                durable=DOCUMENTS_CONSUMER,
                filter_subjects=DOCUMENTS_SUBJECTS,
                handler=RenderDocuments(documents.store_document),
                batch=10,
            )
        )
    else:
        log.warning("WORKER_CLIENT_SECRET unset: this replica runs no analysis jobs or PDFs")
    if settings.smtp is not None:
        consumers.append(
            DurableConsumer(
                js,
                durable=MAIL_CONSUMER,
                filter_subjects=MAIL_SUBJECTS,
                handler=NotifyPartners(
                    SmtpEmailSender(settings.smtp), PostgresDeliveryLedger(placements)
                ),
                batch=10,
            )
        )
    else:
        log.warning("SMTP_HOST unset: distribution notifications are not mailed")
    health = await serve_health(
        settings.health_port,
        lambda: nc.is_connected and all(c.ready.is_set() for c in consumers),
        settings.bind_host,
    )

    async def sample_consumer_lag() -> None:
        for consumer in consumers:
            await consumer.sample_lag()

    tasks = [asyncio.create_task(c.run()) for c in consumers]
    with untraced():
        tasks.append(
            asyncio.create_task(sample_every(CONSUMER_SAMPLE_SECONDS, stop, sample_consumer_lag))
        )
    log.info("analytics-worker consuming", consumers=[c.durable for c in consumers])
    await stop.wait()
    log.info("analytics-worker draining")
    for consumer in consumers:
        consumer.stop()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
    health.close()
    if channel is not None:
        await channel.close()
    if http is not None:
        await http.aclose()
    await nc.drain()
    await placements.dispose()
    await engine.dispose()
