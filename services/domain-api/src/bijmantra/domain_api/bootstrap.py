"""The composition root of domain-api: the only module that picks adapters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
from bijmantra.adapters.grpc import ErrorInterceptor, IdentitySigningKeys, JwtVerifier
from bijmantra.adapters.grpc.errors import ErrorTranslation
from bijmantra.adapters.grpc.tls import add_listener, open_channel
from bijmantra.adapters.nats import (
    EVENTS_SUBJECTS,
    DurableConsumer,
    JetStreamPublisher,
    connect,
    ensure_stream,
)
from bijmantra.adapters.nats.devices import (
    DeviceAuthCallout,
    DeviceTelemetryBridge,
    JwtSigner,
)
from bijmantra.adapters.postgres import (
    PostgresAuditStore,
    PostgresDocumentLookup,
    PostgresOutboxStore,
    create_engine,
    libpq_url,
    unit_of_work_factory,
)
from bijmantra.adapters.postgres.ddl import outbox_channel
from bijmantra.adapters.postgres.placement import PlacementEngines, PostgresPlacementDirectory
from bijmantra.adapters.postgres.placement_relays import PlacementRelays
from bijmantra.adapters.postgres.relay_loop import OutboxWakeups
from bijmantra.adapters.postgres.sensor_alerts import PostgresSilenceSchedule
from bijmantra.adapters.postgres.sensors import maintain_partitions
from bijmantra.adapters.redis import RedisSearchResultStore
from bijmantra.adapters.redis.revocations import RedisRevocationList
from bijmantra.application.analysis import (
    AttachFigures,
    CancelAnalysis,
    ClaimAnalysis,
    CompleteAnalysis,
    FailAnalysis,
    GetAnalysis,
    GetArtifact,
    GetResultPage,
    ListAnalyses,
    ReportProgress,
    RequestAnalysis,
    StreamJobGenotypes,
)
from bijmantra.application.brapi.commands import ResourceCommands
from bijmantra.application.brapi.modules import catalog
from bijmantra.application.brapi.queries import ResourceQueries
from bijmantra.application.compliance import (
    AUDIT_CONSUMER,
    ListActivity,
    ListAuditEntries,
    RecordAuditEntry,
    VerifyAuditChain,
)
from bijmantra.application.compliance.ports import AuditStore
from bijmantra.application.distribution.service import Distribution
from bijmantra.application.events import OutboxRelay
from bijmantra.application.events.ports import EventPublisher
from bijmantra.application.genotyping import (
    ExportGenotypes,
    GetVariantSet,
    ImportGenotypes,
    StreamGenotypes,
)
from bijmantra.application.genotyping.brapi import GenotypeViews
from bijmantra.application.genotyping.edits import GenotypeWrites
from bijmantra.application.genotyping.views import Documents
from bijmantra.application.operations import (
    COMPLETED,
    HARVEST_CONSUMER,
    BrapiBreedingRecords,
    BreedingLinks,
    Collaboration,
    OperationsQueries,
    RecordHarvest,
    SeasonCommands,
    WorkItemCommands,
)
from bijmantra.application.ports import TokenVerifier, UnitOfWorkFactory
from bijmantra.application.ports.documents import SearchResultStore
from bijmantra.application.sensors import (
    AlertInbox,
    AlertRules,
    AuthenticateDevice,
    CheckSilences,
    DeviceEnrolment,
    EvaluateTelemetry,
    IngestTelemetry,
    ReadHistory,
    SensorsUnitOfWorkFactory,
    StudyEnvironment,
)
from bijmantra.application.tenancy.exports import ExportsUnitOfWorkFactory
from bijmantra.contracts.analysis.v1 import analysis_service_pb2 as analysis_pb
from bijmantra.contracts.analysis.v1 import analysis_service_pb2_grpc as analysis_grpc
from bijmantra.contracts.brapi.v1 import resource_service_pb2_grpc as resource_grpc
from bijmantra.contracts.compliance.v1 import audit_service_pb2_grpc as audit_grpc
from bijmantra.contracts.distribution.v1 import distribution_service_pb2 as distribution_pb
from bijmantra.contracts.distribution.v1 import (
    distribution_service_pb2_grpc as distribution_grpc,
)
from bijmantra.contracts.genotyping.v1 import genotyping_service_pb2_grpc as genotyping_grpc
from bijmantra.contracts.operations.v1 import operations_service_pb2_grpc as operations_grpc
from bijmantra.contracts.sensors.v1 import sensors_service_pb2_grpc as sensors_grpc
from bijmantra.domain.sensors import RETENTION
from bijmantra.domain_api.audit_api import AuditServicer
from bijmantra.domain_api.config import Settings
from bijmantra.domain_api.distribution_api import (
    DistributionServicer,
    DistributionWorkerServicer,
)
from bijmantra.domain_api.exports_api import add_export_service, export_runner
from bijmantra.domain_api.genotyping_api import (
    AnalysisServicer,
    AnalysisWorkerServicer,
    GenotypingServicer,
)
from bijmantra.domain_api.grpc_api import AuthInterceptor, ResourceServicer
from bijmantra.domain_api.operations_api import OperationsServicer, OperationsUseCases
from bijmantra.domain_api.runtime import SERVED, DomainApi
from bijmantra.domain_api.sensors_api import DEVICE_METHODS, BrapiStudyPlaces, SensorsServicer
from bijmantra.kernel import SystemClock
from bijmantra.observability import current_traceparent
from bijmantra.observability.grpc_interceptors import GrpcServerMetrics
from bijmantra.observability.metrics import watch_pool
from bijmantra.observability.tracing_setup import Tracing
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from redis.asyncio import Redis

SERVICE_NAME = "domain-api"
# An audit append takes milliseconds; a short ack wait redelivers a dead replica's messages soon.
AUDIT_ACK_WAIT = 10.0
# Events appended per audit transaction: a bulk write of 10,000 observations is 10,000 events,
# and each transaction pays for the tenant setting, the inbox and the chain-head lock once.
AUDIT_BATCH = 1000
# Genotype chunks, uploads and analysis results are large; 512 MiB bounds one message.
MAX_MESSAGE_BYTES = 512 * 1024 * 1024
GRPC_SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]
WORKER_SERVICE = analysis_pb.DESCRIPTOR.services_by_name["AnalysisWorkerService"].full_name
DISTRIBUTION_WORKER_SERVICE = distribution_pb.DESCRIPTOR.services_by_name[
    "DistributionWorkerService"
].full_name
# Identity's analytics-worker platform client holds this role; only WORKER_SERVICE accepts it.
WORKER_ROLE = "analysis-worker"
MAINTENANCE_SECONDS = 3600.0
# How often no-data alert rules are checked; a silence is reported at most this late.
SILENCE_CHECK_SECONDS = 15.0
SENSOR_ALERTS_CONSUMER = "sensors-alerts"


async def _device_mqtt(
    settings: Settings, sensors_uow: SensorsUnitOfWorkFactory
) -> list[Callable[[], Awaitable[object]]]:
    """Answer the device listener's auth callout and ingest what devices publish (ADR 0207)."""
    authenticate, ingest = AuthenticateDevice(sensors_uow), IngestTelemetry(sensors_uow)

    async def whose(credential: str) -> tuple[str, str]:
        found = await authenticate(credential)
        return found["tenantId"], found["deviceId"]

    callout_nc = await connect(settings.device_callout_url, name=f"{SERVICE_NAME}-callout")
    ingest_nc = await connect(settings.device_ingest_url, name=f"{SERVICE_NAME}-devices")
    signer = JwtSigner(settings.device_issuer_seed)
    await DeviceAuthCallout(callout_nc, signer, whose).start()
    await DeviceTelemetryBridge(ingest_nc, ingest.from_connected_device).start()
    return [callout_nc.drain, ingest_nc.drain]


async def bootstrap(
    settings: Settings,
    *,
    uow: UnitOfWorkFactory | None = None,
    sensors_uow: SensorsUnitOfWorkFactory | None = None,
    exports_uow: ExportsUnitOfWorkFactory | None = None,
    verifier: TokenVerifier | None = None,
    publisher: EventPublisher | None = None,
    searches: SearchResultStore | None = None,
    tracing: Tracing | None = None,
) -> DomainApi:
    """Wire the service; tests pass fakes from ``bijmantra.testkit`` for any port."""
    tracing = tracing or Tracing()
    closers: list[Callable[[], Awaitable[object]]] = []
    engine = None
    placements: PlacementEngines | None = None  # every organization's database (ADR 0102)
    lookup: PostgresDocumentLookup | None = None  # None: single documents through ``uow``
    wakeups: OutboxWakeups | None = None
    placement_relays: PlacementRelays | None = None
    if uow is None:
        engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
        tracing.instrument_sqlalchemy(engine)
        watch_pool(SERVICE_NAME, engine.pool)
        placements = PlacementEngines(
            engine,
            PostgresPlacementDirectory(engine),
            service_url=settings.database_url,
            max_engines=settings.placement_max_engines,
            pool_size=settings.placement_pool_size,
            on_engine=tracing.instrument_sqlalchemy,
        )
        wakeups = OutboxWakeups(libpq_url(settings.database_url), outbox_channel("domain"))
        postgres = unit_of_work_factory(
            placements,
            source=SERVICE_NAME,
            traceparent=current_traceparent,
            committed_events=wakeups.wake,
            committed_elsewhere=lambda database: (
                placement_relays.wake(database) if placement_relays is not None else None
            ),
        )
        uow = sensors_uow = exports_uow = postgres  # one unit of work offers every store
        closers += [engine.dispose, placements.dispose]
        lookup = await PostgresDocumentLookup.open(
            settings.database_url,
            max_size=max(2, settings.db_pool_size // 4),
            placements=placements,
            dedicated_size=max(2, settings.placement_pool_size),
        )
        closers.append(lookup.close)
    if verifier is None:
        identity_channel = tracing.client_channel(  # interceptors only for sampled calls
            lambda i: open_channel(settings.identity_target, settings.tls, interceptors=i)
        )
        closers.append(identity_channel.close)
        # Revoked tokens (removal, /oauth/revoke, logout) stop here too (issue 17, defect 7).
        revocations = RedisRevocationList.from_url(settings.redis_url)
        closers.append(revocations.close)
        verifier = JwtVerifier(
            IdentitySigningKeys(identity_channel),
            issuer=settings.token_issuer,
            audience=settings.token_audience,
            revocations=revocations,
        )
    if searches is None:
        tracing.instrument_redis()
        redis = Redis.from_url(settings.redis_url)
        closers.append(redis.aclose)
        searches = RedisSearchResultStore(redis)
    brapi = catalog()
    documents = Documents(settings.public_url.rstrip("/"))
    views = GenotypeViews(uow, searches, documents)
    resource_queries = ResourceQueries(brapi, uow, searches, lookup, views)
    resource_commands = ResourceCommands(brapi, uow, views=GenotypeWrites(uow, documents))
    breeding = BrapiBreedingRecords(resource_queries, resource_commands)
    relay = outbox = None
    consumers: list[DurableConsumer] = []
    audit: AuditStore | None = None
    if placements is not None:
        audit = PostgresAuditStore(placements)
    if publisher is None and engine is not None and audit is not None:
        nc = await connect(settings.nats_url, name=SERVICE_NAME)
        js = nc.jetstream()
        await ensure_stream(js)
        publisher = JetStreamPublisher(js)
        recorder = RecordAuditEntry(audit)
        if sensors_uow is not None:
            consumers.append(
                DurableConsumer(
                    js,
                    durable=SENSOR_ALERTS_CONSUMER,
                    filter_subjects=["bijmantra.events.sensors.telemetry.received"],
                    handler=EvaluateTelemetry(sensors_uow),
                )
            )
        consumers.append(
            DurableConsumer(
                js,
                durable=AUDIT_CONSUMER,
                filter_subjects=EVENTS_SUBJECTS,
                handler=recorder,
                batch_handler=recorder.batch,
                upcasting=False,
                ack_wait=AUDIT_ACK_WAIT,
                batch=AUDIT_BATCH,
            )
        )
        consumers.append(
            DurableConsumer(
                js,
                durable=HARVEST_CONSUMER,
                filter_subjects=[f"bijmantra.events.{COMPLETED}"],
                handler=RecordHarvest(uow, breeding),
            )
        )
        closers.append(nc.drain)
    if publisher is not None and engine is not None and placements is not None:
        outbox = PostgresOutboxStore(engine)
        relay = OutboxRelay(outbox, publisher)
        placement_relays = PlacementRelays(placements, publisher, settings.database_url)

    # Outermost first: the server span, then RED metrics (timing auth too), then auth, then
    # the translation of use-case errors into gRPC statuses.
    server = grpc.aio.server(
        interceptors=[
            *tracing.grpc_server_interceptors(),
            GrpcServerMetrics(),
            ErrorInterceptor(),  # the catch-all: auth and every servicer inside it
            AuthInterceptor(
                verifier,
                service_roles={
                    WORKER_SERVICE: WORKER_ROLE,
                    DISTRIBUTION_WORKER_SERVICE: WORKER_ROLE,
                },
                device_methods=DEVICE_METHODS,
            ),
            ErrorTranslation(),
        ],
        options=GRPC_SERVER_OPTIONS,
    )
    resource_grpc.add_ResourceServiceServicer_to_server(
        ResourceServicer(resource_queries, resource_commands), server
    )
    operations_grpc.add_OperationsServiceServicer_to_server(
        OperationsServicer(
            OperationsUseCases(
                SeasonCommands(uow),
                WorkItemCommands(uow),
                Collaboration(uow),
                OperationsQueries(uow),
                BreedingLinks(uow, breeding),
            )
        ),
        server,
    )
    distribution = Distribution.build(uow, SystemClock(), resource_commands)
    distribution_grpc.add_DistributionServiceServicer_to_server(
        DistributionServicer(distribution), server
    )
    distribution_grpc.add_DistributionWorkerServiceServicer_to_server(
        DistributionWorkerServicer(distribution), server
    )
    genotyping_grpc.add_GenotypingServiceServicer_to_server(
        GenotypingServicer(
            ImportGenotypes(uow, public_url=settings.public_url.rstrip("/")),
            GetVariantSet(uow),
            StreamGenotypes(uow),
            ExportGenotypes(uow),
        ),
        server,
    )
    analysis_grpc.add_AnalysisServiceServicer_to_server(
        AnalysisServicer(
            RequestAnalysis(uow),
            GetAnalysis(uow),
            CancelAnalysis(uow),
            GetResultPage(uow),
            GetArtifact(uow),
            ListAnalyses(uow),
        ),
        server,
    )
    analysis_grpc.add_AnalysisWorkerServiceServicer_to_server(
        AnalysisWorkerServicer(
            ClaimAnalysis(uow),
            StreamJobGenotypes(uow),
            ReportProgress(uow),
            CompleteAnalysis(uow),
            AttachFigures(uow),
            FailAnalysis(uow),
        ),
        server,
    )
    if audit is not None:
        audit_grpc.add_AuditServiceServicer_to_server(
            AuditServicer(ListAuditEntries(audit), VerifyAuditChain(audit), ListActivity(audit)),
            server,
        )
    if sensors_uow is not None:
        sensors_grpc.add_SensorsServiceServicer_to_server(
            SensorsServicer(
                DeviceEnrolment(sensors_uow),
                IngestTelemetry(sensors_uow),
                ReadHistory(sensors_uow),
                StudyEnvironment(sensors_uow, BrapiStudyPlaces(resource_queries)),
                AuthenticateDevice(sensors_uow),
                AlertRules(sensors_uow),
                AlertInbox(sensors_uow),
            ),
            server,
        )
    if sensors_uow is not None and settings.device_callout_url:
        closers += await _device_mqtt(settings, sensors_uow)
    periodic: list[tuple[float, Callable[[], Awaitable[None]]]] = []
    if placements is not None and sensors_uow is not None:
        partitioned = placements
        silences = CheckSilences(sensors_uow, PostgresSilenceSchedule(placements))

        async def maintenance() -> None:
            for database in await partitioned.placements():
                engine_there = partitioned.engine_of(database)
                await maintain_partitions(engine_there, SystemClock().now(), RETENTION)

        async def check_silences() -> None:
            await silences()

        periodic = [(MAINTENANCE_SECONDS, maintenance), (SILENCE_CHECK_SECONDS, check_silences)]
    if exports_uow is not None:
        add_export_service(server, exports_uow)
    if placements is not None and settings.owner_url:
        periodic.append(export_runner(settings.owner_url, settings.export_scratch))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (
            *SERVED,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    add_listener(server, f"{settings.bind_host}:{settings.port}", settings.tls)
    return DomainApi(
        settings,
        server,
        health_servicer,
        engine,
        relay,
        outbox,
        consumers,
        closers,
        wakeups,
        placement_relays,
        periodic,
    )
