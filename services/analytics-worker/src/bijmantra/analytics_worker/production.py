"""The analytics-worker's production adapters (PostgreSQL placements, NATS, domain-api's
worker API, SMTP), built in one place and handed to ``bootstrap`` (ADR 0260)."""

from __future__ import annotations

import httpx
from bijmantra.adapters.email import SmtpEmailSender
from bijmantra.adapters.grpc import CHANNEL_OPTIONS, AnalysisWorkerClient
from bijmantra.adapters.grpc.distribution import DistributionWorkerClient
from bijmantra.adapters.grpc.sensors import SensorsWorkerClient
from bijmantra.adapters.grpc.tls import http_verify, open_channel
from bijmantra.adapters.nats import JetStreamSubscriptions, connect, ensure_stream
from bijmantra.adapters.postgres import create_engine
from bijmantra.adapters.postgres.placement import PlacementEngines, PostgresPlacementDirectory
from bijmantra.adapters.postgres.sensor_evaluation import (
    PostgresDueChecks,
    PostgresEvaluationState,
)
from bijmantra.analytics_worker.bootstrap import WorkerAdapters
from bijmantra.analytics_worker.config import Settings
from bijmantra.analytics_worker.credentials import IdentityClientCredentials
from bijmantra.analytics_worker.handlers import GermplasmProjection
from bijmantra.analytics_worker.jobs import AnalysisRunner
from bijmantra.analytics_worker.mail import PostgresDeliveryLedger
from bijmantra.application.distribution.notifications import backstop
from bijmantra.observability import get_logger
from bijmantra.observability.metrics import watch_pool
from bijmantra.observability.shutdown import Closer
from bijmantra.observability.tracing_setup import Tracing

log = get_logger(__name__)


async def production_adapters(settings: Settings, tracing: Tracing) -> WorkerAdapters:
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
    adapters = WorkerAdapters(
        subscriptions=JetStreamSubscriptions(js),
        germplasm_projection=GermplasmProjection(placements),
        ledger=PostgresDeliveryLedger(placements, backstop(settings.partner_mails_per_day)),
        stream_connected=lambda: nc.is_connected,
        sensors_state=lambda tenant: PostgresEvaluationState(placements, tenant),
        sensors_due=PostgresDueChecks(placements),
    )
    closers: list[Closer] = []
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
        adapters.analyses = AnalysisRunner(
            AnalysisWorkerClient(channel, tokens),
            placements,
            block_buffer_bytes=settings.grm_buffer_mib << 20,
            memory_budget=settings.analysis_memory_mib << 20,
        )
        distribution = DistributionWorkerClient(channel, tokens)
        adapters.store_document = distribution.store_document
        adapters.report_mail = distribution.report_mail
        adapters.recipient = distribution.partner_mail_recipient
        adapters.sensors_domain = SensorsWorkerClient(channel, tokens)
        closers += [channel.close, http.aclose]
    else:
        log.warning(
            "WORKER_CLIENT_SECRET unset: this replica runs no analysis jobs, PDFs or sensor "
            "alerts, and reports no partner mail to the records"
        )
    if settings.smtp is not None:
        adapters.mailer = SmtpEmailSender(settings.smtp)
    else:
        log.warning("SMTP_HOST unset: distribution notifications are not mailed")
    adapters.closers = [*closers, nc.drain, placements.dispose, engine.dispose]
    return adapters
