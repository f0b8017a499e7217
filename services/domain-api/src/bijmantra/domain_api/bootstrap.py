"""The composition root of domain-api: the only module that picks adapters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import grpc
from bijmantra.adapters.grpc import MESSAGE_SIZE_OPTIONS, ErrorInterceptor
from bijmantra.adapters.grpc.errors import ErrorTranslation
from bijmantra.adapters.grpc.tls import SERVER_OPTIONS, add_listener
from bijmantra.adapters.nats import EVENTS_SUBJECTS
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
from bijmantra.application.console.dashboard import ReadDashboard
from bijmantra.application.console.invoices import ListInvoices
from bijmantra.application.distribution.service import Distribution
from bijmantra.application.events.ports import ConsumerSpec, EventConsumer, EventSubscriptions
from bijmantra.application.genotyping import (
    DeleteVariantSet,
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
from bijmantra.application.ports.analysis import AnalysisScheduler
from bijmantra.application.ports.documents import DocumentLookup, SearchResultStore
from bijmantra.application.sensors import (
    AuthenticateDevice,
    IngestTelemetry,
    SensorsUnitOfWorkFactory,
)
from bijmantra.application.sensors.worker_calls import SensorsWorkerCalls
from bijmantra.application.tenancy.exports import ExportsUnitOfWorkFactory
from bijmantra.contracts.analysis.v1 import analysis_service_pb2 as analysis_pb
from bijmantra.contracts.analysis.v1 import analysis_service_pb2_grpc as analysis_grpc
from bijmantra.contracts.brapi.v1 import resource_service_pb2_grpc as resource_grpc
from bijmantra.contracts.compliance.v1 import audit_service_pb2_grpc as audit_grpc
from bijmantra.contracts.console.v1 import console_service_pb2_grpc as console_grpc
from bijmantra.contracts.distribution.v1 import distribution_service_pb2 as distribution_pb
from bijmantra.contracts.distribution.v1 import (
    distribution_service_pb2_grpc as distribution_grpc,
)
from bijmantra.contracts.genotyping.v1 import genotyping_service_pb2_grpc as genotyping_grpc
from bijmantra.contracts.operations.v1 import operations_service_pb2_grpc as operations_grpc
from bijmantra.contracts.sensors.v1 import sensors_service_pb2 as sensors_pb
from bijmantra.contracts.sensors.v1 import sensors_service_pb2_grpc as sensors_grpc
from bijmantra.domain_api.audit_api import AuditServicer
from bijmantra.domain_api.config import Settings
from bijmantra.domain_api.console_api import ConsoleServicer
from bijmantra.domain_api.distribution_api import (
    DistributionServicer,
    DistributionWorkerServicer,
)
from bijmantra.domain_api.exports_api import add_export_service
from bijmantra.domain_api.genotyping_api import (
    AnalysisServicer,
    AnalysisWorkerServicer,
    GenotypingServicer,
)
from bijmantra.domain_api.grpc_api import AuthInterceptor, ResourceServicer
from bijmantra.domain_api.operations_api import OperationsServicer, OperationsUseCases
from bijmantra.domain_api.runtime import SERVED, Background, DomainApi
from bijmantra.domain_api.sensors_api import (
    DEVICE_METHODS,
    BrapiStudyPlaces,
    SensorsServicer,
    SensorsWorkerServicer,
)
from bijmantra.kernel import Clock
from bijmantra.observability.grpc_interceptors import GrpcServerMetrics
from bijmantra.observability.shutdown import Closer
from bijmantra.observability.tracing_setup import Tracing
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

SERVICE_NAME = "domain-api"
# An audit append takes milliseconds; a short ack wait redelivers a dead replica's messages soon.
AUDIT_ACK_WAIT = 10.0
# Events appended per audit transaction: a bulk write of 10,000 observations is 10,000 events,
# and each transaction pays for the tenant setting, the inbox and the chain-head lock once.
AUDIT_BATCH = 1000
# Between fetches that did not fill a batch: a steady trickle of events (a device sending a
# batch of readings a few times a second) is appended a few per transaction instead of one
# each, which took domain-api's event loop from the requests (ADR 0337). The trail is read
# by people, for whom a fifth of a second is nothing.
AUDIT_LINGER = 0.2
WORKER_SERVICE = analysis_pb.DESCRIPTOR.services_by_name["AnalysisWorkerService"].full_name
DISTRIBUTION_WORKER_SERVICE = distribution_pb.DESCRIPTOR.services_by_name[
    "DistributionWorkerService"
].full_name
SENSORS_WORKER_SERVICE = sensors_pb.DESCRIPTOR.services_by_name["SensorsWorkerService"].full_name
# Identity's analytics-worker platform client holds this role; only WORKER_SERVICE accepts it.
WORKER_ROLE = "analysis-worker"


DeviceLink = Callable[[AuthenticateDevice, IngestTelemetry], Awaitable[list[Closer]]]


async def no_device_link(authenticate: AuthenticateDevice, ingest: IngestTelemetry) -> list[Closer]:
    """Devices' MQTT is off (``DEVICE_NATS_CALLOUT_URL`` unset, and under test)."""
    return []


@dataclass
class DomainAdapters:
    """Every port domain-api's use cases reach: ``production.production_adapters`` builds
    the real ones, tests pass ``bijmantra.testkit`` fakes (ADR 0260)."""

    uow: UnitOfWorkFactory
    sensors_uow: SensorsUnitOfWorkFactory
    exports_uow: ExportsUnitOfWorkFactory
    verifier: TokenVerifier
    searches: SearchResultStore
    audit: AuditStore
    analysis_scheduler: AnalysisScheduler
    subscriptions: EventSubscriptions
    clock: Clock
    lookup: DocumentLookup  # single documents, read without a unit of work (ADR 0040)
    device_link: DeviceLink = no_device_link  # devices' auth callout and telemetry (ADR 0207)
    # Units of work of the platform carrying out work it accepted (the workers' calls, event
    # consumers): never refused for the organization's day of events (ADR 0340); None: ``uow``.
    work_uow: UnitOfWorkFactory | None = None
    sensors_work_uow: SensorsUnitOfWorkFactory | None = None
    background: Background = field(default_factory=Background)


def _consumers(adapters: DomainAdapters, breeding: BrapiBreedingRecords) -> list[EventConsumer]:
    """The event stream's durable consumers this service runs (each handles at least once)."""
    uow, subscribe = adapters.work_uow or adapters.uow, adapters.subscriptions.consumer
    recorder = RecordAuditEntry(adapters.audit)
    return [
        subscribe(
            ConsumerSpec(
                durable=AUDIT_CONSUMER,
                filter_subjects=EVENTS_SUBJECTS,
                handler=recorder,
                batch_handler=recorder.batch,
                upcasting=False,
                ack_wait=AUDIT_ACK_WAIT,
                batch=AUDIT_BATCH,
                linger=AUDIT_LINGER,
            )
        ),
        subscribe(
            ConsumerSpec(
                durable=HARVEST_CONSUMER,
                filter_subjects=[f"bijmantra.events.{COMPLETED}"],
                handler=RecordHarvest(uow, breeding),
            )
        ),
    ]


async def bootstrap(settings: Settings, adapters: DomainAdapters, tracing: Tracing) -> DomainApi:
    """Wire the use cases and servicers of domain-api to ``adapters``; nothing is built here
    but the gRPC server (not started) and what the use cases are."""
    uow, sensors_uow, searches = adapters.uow, adapters.sensors_uow, adapters.searches
    brapi = catalog()
    documents = Documents(settings.public_url.rstrip("/"))
    views = GenotypeViews(uow, searches, documents)
    resource_queries = ResourceQueries(brapi, uow, searches, adapters.lookup, views)
    resource_commands = ResourceCommands(brapi, uow, views=GenotypeWrites(uow, documents))
    breeding = BrapiBreedingRecords(resource_queries, resource_commands)
    consumers = _consumers(adapters, breeding)

    # Outermost first: the server span, then RED metrics (timing auth too), then auth, then
    # the translation of use-case errors into gRPC statuses.
    server = grpc.aio.server(
        interceptors=[
            *tracing.grpc_server_interceptors(),
            GrpcServerMetrics(),
            ErrorInterceptor(),  # the catch-all: auth and every servicer inside it
            AuthInterceptor(
                adapters.verifier,
                service_roles={
                    WORKER_SERVICE: WORKER_ROLE,
                    DISTRIBUTION_WORKER_SERVICE: WORKER_ROLE,
                    SENSORS_WORKER_SERVICE: WORKER_ROLE,
                },
                device_methods=DEVICE_METHODS,
            ),
            ErrorTranslation(),
        ],
        options=[*MESSAGE_SIZE_OPTIONS, *SERVER_OPTIONS],
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
    mails = settings.partner_mails_per_day
    distribution = Distribution.build(uow, adapters.clock, resource_commands, mails)
    distribution_grpc.add_DistributionServiceServicer_to_server(
        DistributionServicer(distribution), server
    )
    # The worker's documents and mail carry out accepted work (ADR 0340): ``work_uow``.
    working = Distribution.build(adapters.work_uow or uow, adapters.clock, resource_commands, mails)
    distribution_grpc.add_DistributionWorkerServiceServicer_to_server(
        DistributionWorkerServicer(working), server
    )
    genotyping_grpc.add_GenotypingServiceServicer_to_server(
        GenotypingServicer(
            ImportGenotypes(uow, public_url=settings.public_url.rstrip("/")),
            GetVariantSet(uow),
            StreamGenotypes(uow),
            ExportGenotypes(uow),
            DeleteVariantSet(uow, adapters.clock),
        ),
        server,
    )
    analysis_grpc.add_AnalysisServiceServicer_to_server(
        AnalysisServicer(uow, memory_budget=settings.analysis_memory_mib << 20), server
    )
    analysis_grpc.add_AnalysisWorkerServiceServicer_to_server(
        AnalysisWorkerServicer(adapters.work_uow or uow, adapters.analysis_scheduler), server
    )
    audit = adapters.audit
    audit_grpc.add_AuditServiceServicer_to_server(
        AuditServicer(ListAuditEntries(audit), VerifyAuditChain(audit), ListActivity(audit)),
        server,
    )
    console_grpc.add_ConsoleServiceServicer_to_server(
        ConsoleServicer(ReadDashboard(uow, audit), ListInvoices(uow)), server
    )
    sensors_grpc.add_SensorsServiceServicer_to_server(
        SensorsServicer.over(sensors_uow, BrapiStudyPlaces(resource_queries)),
        server,
    )
    sensors_grpc.add_SensorsWorkerServiceServicer_to_server(
        SensorsWorkerServicer(SensorsWorkerCalls(adapters.sensors_work_uow or sensors_uow)), server
    )
    closers = await adapters.device_link(
        AuthenticateDevice(sensors_uow), IngestTelemetry(sensors_uow)
    )
    add_export_service(server, adapters.exports_uow)
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
        adapters.background,
        consumers,
        [],
        closers,
    )
