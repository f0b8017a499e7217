"""Which fake stands for which port (``tests/architecture/test_every_port_has_a_fake.py``
checks that every ``Protocol`` of the application and kernel is here), and, for mypy, that
each fake implements its port structurally (the block under ``TYPE_CHECKING``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bijmantra.application.brapi.entity import (
    ContentPolicy,
    DocumentReader,
    EntityRules,
    TableBuilder,
    ViewBuilder,
)
from bijmantra.application.compliance.ports import AuditStore
from bijmantra.application.console.sessions import ConsoleSessionStore, TokenEndpoint
from bijmantra.application.distribution.notifications import DeliveryLedger
from bijmantra.application.email import EmailSender
from bijmantra.application.events.live_feed import EventFeed
from bijmantra.application.events.live_hub import Inbox
from bijmantra.application.events.ports import (
    EventConsumer,
    EventPublisher,
    EventSubscriptions,
    OutboxBatch,
    OutboxStore,
)
from bijmantra.application.ports import TokenVerifier, Transaction, UnitOfWork
from bijmantra.application.ports.analysis import AnalysisRepository, AnalysisScheduler
from bijmantra.application.ports.distribution import DistributionStore
from bijmantra.application.ports.documents import (
    DocumentLookup,
    ResourceStore,
    SearchResultStore,
    ViewSource,
    ViewWrites,
)
from bijmantra.application.ports.genotypes import (
    CallBlock,
    GenotypeBlock,
    GenotypeStore,
    GenotypeUpload,
    VariantSetWriter,
)
from bijmantra.application.ports.operations import BreedingRecords, OperationsRepository
from bijmantra.application.ports.storage import StorageReader
from bijmantra.application.ports.usage import UsageReader
from bijmantra.application.protection.idempotency import IdempotencyStore
from bijmantra.application.protection.ratelimit import RateLimiter
from bijmantra.application.revocation import RevocationList
from bijmantra.application.sensors.evaluation import DueChecks, EvaluationState, SensorsDomain
from bijmantra.application.sensors.ports import (
    AlertStore,
    SensorStore,
    SensorsUnitOfWork,
    StudyPlaces,
)
from bijmantra.application.sensors.worker_calls import SensorsWorkerCalls
from bijmantra.application.tenancy.authorization import AuthorizationCodeStore, BrowserSessionStore
from bijmantra.application.tenancy.exports import ExportStore, ExportsUnitOfWork
from bijmantra.application.tenancy.invitations import (
    DueInvitations,
    InvitationRepository,
    InvitationsUnitOfWork,
)
from bijmantra.application.tenancy.keys import SigningKeyStore
from bijmantra.application.tenancy.login import (
    EventLog,
    PasswordHasher,
    PasswordHashing,
    RefreshSessionStarter,
    TokenIssuer,
    UserDirectory,
)
from bijmantra.application.tenancy.organizations import (
    AccountRepository,
    MemberRepository,
    OrganizationRepository,
    ProfileLookup,
    TenancyUnitOfWork,
)
from bijmantra.application.tenancy.placement import PlacementDirectory
from bijmantra.application.tenancy.throttle import LoginAttemptLimiter
from bijmantra.application.tenancy.tokens import (
    ClientDirectory,
    KnownOrganizations,
    MembershipLookup,
    OAuthClientDirectory,
    RefreshTokenStore,
)
from bijmantra.application.use_case import StoringUnit
from bijmantra.kernel import Clock, TenantId
from bijmantra.testkit import genotype_fakes as genotypes
from bijmantra.testkit.analysis_fakes import FakeAnalysisRepository
from bijmantra.testkit.analysis_scheduler import FakeAnalysisScheduler
from bijmantra.testkit.console_fakes import (
    FakeConsoleSessionStore,
    FakeTokenEndpoint,
    FakeTokenVerifier,
)
from bijmantra.testkit.distribution import DistributionTables, FakeDistributionStore
from bijmantra.testkit.event_fakes import (
    FakeAuditStore,
    FakeDeliveryLedger,
    FakeDocumentLookup,
    FakeEventConsumer,
    FakeEventFeed,
    FakeEventSubscriptions,
    QueueInbox,
)
from bijmantra.testkit.export_fakes import ExportTables, FakeExportStore, FakeExportsUnitOfWork
from bijmantra.testkit.fakes import (
    FakeOutboxBatch,
    FakeOutboxStore,
    FakePublisher,
    FakeResourceStore,
    FakeRevocationList,
    FakeSearchResultStore,
    FakeUnitOfWork,
    InMemoryDatabase,
    RecordingEmailSender,
)
from bijmantra.testkit.identity_fakes import (
    FakeAuthorizationCodes,
    FakeBrowserSessions,
    FakeDueInvitations,
    FakeEventLog,
    FakeLoginLimiter,
    FakeOAuthClients,
    FakePasswordHasher,
    FakePlacementDirectory,
    FakeRefreshTokenStore,
    FakeSigningKeys,
    FakeTokenIssuer,
    FakeUserDirectory,
    IdentityTables,
)
from bijmantra.testkit.operations import FakeBreedingRecords, FakeOperationsRepository
from bijmantra.testkit.protection_fakes import FakeIdempotencyStore, FakeRateLimiter
from bijmantra.testkit.sensor_evaluation import (
    EvaluationTables,
    FakeDueChecks,
    FakeEvaluationState,
    InProcessSensorsDomain,
)
from bijmantra.testkit.sensors import (
    FakeAlertStore,
    FakeSensorStore,
    FakeSensorsUnitOfWork,
    FakeStudyPlaces,
    SensorTables,
    SettableClock,
)
from bijmantra.testkit.storage_fakes import FakeStorageReader
from bijmantra.testkit.tenancy_fakes import (
    FakeAccounts,
    FakeInvitations,
    FakeMembers,
    FakeOrganizations,
    FakeTenancyUnitOfWork,
)
from bijmantra.testkit.usage_fakes import FakeUsageReader, UsageTables

PORT_FAKES: dict[type[Any], type[Any]] = {
    AccountRepository: FakeAccounts,
    AlertStore: FakeAlertStore,
    AnalysisRepository: FakeAnalysisRepository,
    AnalysisScheduler: FakeAnalysisScheduler,
    AuditStore: FakeAuditStore,
    AuthorizationCodeStore: FakeAuthorizationCodes,
    BreedingRecords: FakeBreedingRecords,
    BrowserSessionStore: FakeBrowserSessions,
    ClientDirectory: FakeOAuthClients,
    Clock: SettableClock,
    ConsoleSessionStore: FakeConsoleSessionStore,
    DeliveryLedger: FakeDeliveryLedger,
    DistributionStore: FakeDistributionStore,
    DocumentLookup: FakeDocumentLookup,
    DueChecks: FakeDueChecks,
    DueInvitations: FakeDueInvitations,
    EmailSender: RecordingEmailSender,
    EvaluationState: FakeEvaluationState,
    EventConsumer: FakeEventConsumer,
    EventFeed: FakeEventFeed,
    EventLog: FakeEventLog,
    EventPublisher: FakePublisher,
    EventSubscriptions: FakeEventSubscriptions,
    ExportStore: FakeExportStore,
    ExportsUnitOfWork: FakeExportsUnitOfWork,
    GenotypeStore: genotypes.FakeGenotypeStore,
    IdempotencyStore: FakeIdempotencyStore,
    Inbox: QueueInbox,
    InvitationRepository: FakeInvitations,
    InvitationsUnitOfWork: FakeTenancyUnitOfWork,
    KnownOrganizations: FakeOAuthClients,
    LoginAttemptLimiter: FakeLoginLimiter,
    MemberRepository: FakeMembers,
    MembershipLookup: FakeUserDirectory,
    OAuthClientDirectory: FakeOAuthClients,
    OperationsRepository: FakeOperationsRepository,
    OrganizationRepository: FakeOrganizations,
    OutboxBatch: FakeOutboxBatch,
    OutboxStore: FakeOutboxStore,
    PasswordHasher: FakePasswordHasher,
    PasswordHashing: FakePasswordHasher,
    PlacementDirectory: FakePlacementDirectory,
    ProfileLookup: FakeUserDirectory,
    RateLimiter: FakeRateLimiter,
    RefreshTokenStore: FakeRefreshTokenStore,
    ResourceStore: FakeResourceStore,
    RevocationList: FakeRevocationList,
    SearchResultStore: FakeSearchResultStore,
    SensorsDomain: InProcessSensorsDomain,
    SensorStore: FakeSensorStore,
    SensorsUnitOfWork: FakeSensorsUnitOfWork,
    SigningKeyStore: FakeSigningKeys,
    StorageReader: FakeStorageReader,
    StudyPlaces: FakeStudyPlaces,
    TenancyUnitOfWork: FakeTenancyUnitOfWork,
    TokenEndpoint: FakeTokenEndpoint,
    TokenIssuer: FakeTokenIssuer,
    TokenVerifier: FakeTokenVerifier,
    Transaction: FakeUnitOfWork,
    UnitOfWork: FakeUnitOfWork,
    UsageReader: FakeUsageReader,
    UserDirectory: FakeUserDirectory,
    VariantSetWriter: genotypes.FakeWriter,
}

# Protocols that no adapter implements, so no fake stands in for them: the application's
# own extension points and the shapes of values that cross a port.
NOT_ADAPTER_PORTS: dict[type[Any], str] = {
    CallBlock: "a value: the calls a GenotypeStore reads back",
    ContentPolicy: "a BrAPI entity's declaration, written in the application",
    DocumentReader: "what a BrAPI view reads: the engine's queries, in the application",
    EntityRules: "a BrAPI entity's declaration, written in the application",
    GenotypeBlock: "a value: a block of variants a GenotypeStore writes",
    GenotypeUpload: "a value: a parsed genotype file (bijmantra.genomics)",
    RefreshSessionStarter: "implemented by the application's RefreshSessions",
    StoringUnit: "what UnitOfWork and SensorsUnitOfWork share for refuse_full (their fakes)",
    TableBuilder: "a BrAPI entity's declaration, written in the application",
    ViewBuilder: "a BrAPI entity's declaration, written in the application",
    ViewSource: "implemented by the genotyping context's GenotypeViews (application)",
    ViewWrites: "implemented by the genotyping context's GenotypeWrites (application)",
}

if TYPE_CHECKING:  # mypy: each fake implements its port (nothing here runs)
    _tenant = TenantId(uuid.UUID(int=0))
    _db, _identity, _sensors = InMemoryDatabase(), IdentityTables(), SensorTables()
    _accounts: AccountRepository = FakeAccounts(_identity, _tenant)
    _alerts: AlertStore = FakeAlertStore(_sensors, _tenant)
    _analyses: AnalysisRepository = FakeAnalysisRepository(_db.analyses, _db.results, _tenant)
    _scheduler: AnalysisScheduler = FakeAnalysisScheduler(_db)
    _audit: AuditStore = FakeAuditStore()
    _codes: AuthorizationCodeStore = FakeAuthorizationCodes(_identity)
    _breeding: BreedingRecords = FakeBreedingRecords()
    _browser: BrowserSessionStore = FakeBrowserSessions()
    _clients: ClientDirectory = FakeOAuthClients(_identity)
    _clock: Clock = SettableClock(datetime(2026, 1, 1, tzinfo=UTC))
    _console: ConsoleSessionStore = FakeConsoleSessionStore()
    _ledger: DeliveryLedger = FakeDeliveryLedger()
    _distribution: DistributionStore = FakeDistributionStore(DistributionTables(), _tenant)
    _lookup: DocumentLookup = FakeDocumentLookup()
    _due: DueInvitations = FakeDueInvitations(_identity)
    _mail: EmailSender = RecordingEmailSender()
    _feed: EventFeed = FakeEventFeed()
    _inbox: Inbox = QueueInbox()
    _log: EventLog = FakeEventLog(_identity)
    _publisher: EventPublisher = FakePublisher()
    _subscriptions: EventSubscriptions = FakeEventSubscriptions()
    _exports: ExportStore = FakeExportStore(ExportTables(), _tenant)
    _export_units: ExportsUnitOfWork = FakeExportsUnitOfWork(ExportTables(), _tenant)
    _genotypes: GenotypeStore = genotypes.FakeGenotypeStore({}, _tenant)
    _idempotency: IdempotencyStore = FakeIdempotencyStore(float)
    _invitations: InvitationRepository = FakeInvitations(_identity, _tenant)
    _tenancy: InvitationsUnitOfWork = FakeTenancyUnitOfWork(_identity, _tenant)
    _limiter: LoginAttemptLimiter = FakeLoginLimiter()
    _members: MemberRepository = FakeMembers(_identity, _tenant)
    _users: UserDirectory = FakeUserDirectory(_identity)
    _profiles: ProfileLookup = FakeUserDirectory(_identity)
    _operations: OperationsRepository = FakeOperationsRepository({}, _tenant)
    _organizations: OrganizationRepository = FakeOrganizations(_identity, _tenant)
    _outbox: OutboxStore = FakeOutboxStore(_db)
    _batch: OutboxBatch = FakeOutboxBatch(_db, [])
    _hasher: PasswordHashing = FakePasswordHasher()
    _placements: PlacementDirectory = FakePlacementDirectory()
    _rates: RateLimiter = FakeRateLimiter(float)
    _refresh: RefreshTokenStore = FakeRefreshTokenStore(_identity)
    _resources: ResourceStore = FakeResourceStore({}, _tenant)
    _revocations: RevocationList = FakeRevocationList()
    _searches: SearchResultStore = FakeSearchResultStore()
    _sensor_store: SensorStore = FakeSensorStore(_sensors, _tenant)
    _sensor_units: SensorsUnitOfWork = FakeSensorsUnitOfWork(_sensors, _tenant)
    _keys: SigningKeyStore = FakeSigningKeys(_identity)
    _evaluation = EvaluationTables()
    _evaluation_state: EvaluationState = FakeEvaluationState(_evaluation, _tenant)
    _due_checks: DueChecks = FakeDueChecks(_evaluation)
    _sensors_domain: SensorsDomain = InProcessSensorsDomain(
        SensorsWorkerCalls(lambda tenant: FakeSensorsUnitOfWork(_sensors, tenant))
    )
    _study_places: StudyPlaces = FakeStudyPlaces()
    _endpoint: TokenEndpoint = FakeTokenEndpoint()
    _issuer: TokenIssuer = FakeTokenIssuer()
    _verifier: TokenVerifier = FakeTokenVerifier()
    _unit: UnitOfWork = FakeUnitOfWork(_db, _tenant)
    _usage: UsageReader = FakeUsageReader(UsageTables(), _tenant)
    _storage: StorageReader = FakeStorageReader(
        _db.storage, _tenant, _db.variant_sets, _db.contents, _db.results
    )
