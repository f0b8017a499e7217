"""Unit of work: one transaction, one tenant, row-level security switched on at the start."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from types import TracebackType
from typing import Self

import psycopg
from bijmantra.adapters.postgres.analyses import PostgresAnalysisRepository
from bijmantra.adapters.postgres.applied_requests import record_applied
from bijmantra.adapters.postgres.distribution import PostgresDistributionStore
from bijmantra.adapters.postgres.engine import (
    driver_connection,
    opened_transaction,
    queue_commit,
)
from bijmantra.adapters.postgres.export_jobs import PostgresExportStore
from bijmantra.adapters.postgres.genotypes import PostgresGenotypeStore
from bijmantra.adapters.postgres.operations import PostgresOperationsRepository
from bijmantra.adapters.postgres.outbox import insert_outbox, outbox_parts
from bijmantra.adapters.postgres.placement import (
    PlacementEngines,
    as_placements,
    moving_or,
    release,
)
from bijmantra.adapters.postgres.resources import PostgresResourceStore
from bijmantra.adapters.postgres.sensor_alerts import PostgresAlertStore
from bijmantra.adapters.postgres.sensors import PostgresSensorStore
from bijmantra.adapters.postgres.storage import PostgresStorageReader, check_stored
from bijmantra.adapters.postgres.usage import PostgresUsageReader, charge_usage, quota_or
from bijmantra.application.events import EventEnvelope, envelope_for, publishable_envelopes
from bijmantra.application.ports.transaction import KeyedRequest
from bijmantra.domain import DomainEvent
from bijmantra.domain.tenancy.placement import PlacementDatabase
from bijmantra.domain.tenancy.quotas import DailyQuotas, Resource, charges, event_bytes
from bijmantra.domain.tenancy.storage import NO_CAPS, StorageCaps, StoredResource
from bijmantra.kernel import Clock, SystemClock, TenantId
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

UNBOUNDED = DailyQuotas({})  # tools and tests that bound nothing
SYSTEM_CLOCK = SystemClock()
SET_TENANT = "SELECT set_config('app.tenant_id', %s, true)"


async def set_tenant(connection: AsyncConnection, tenant_id: TenantId) -> None:
    """Scope the current transaction to a tenant (``is_local`` => reset at commit/rollback).

    Pipelined, so the transaction's ``BEGIN`` and the setting share one round trip: every
    request pays this, reads of one document included."""
    driver = await driver_connection(connection)
    async with driver.pipeline():
        await driver.execute(SET_TENANT, (str(tenant_id),))


@contextlib.asynccontextmanager
async def tenant_transaction(
    engine: AsyncEngine, tenant_id: TenantId
) -> AsyncIterator[AsyncConnection]:
    """A transaction of its own scoped to ``tenant_id`` (row-level security), committed when
    the block ends without an error. A pooled connection found dead at the tenant setting is
    replaced once (ADR 0341)."""
    async with opened_transaction(engine, lambda c: set_tenant(c, tenant_id)) as (connection, _):
        yield connection


class TenantTransaction:
    """One connection and transaction scoped to a tenant (RLS), rolled back unless committed.

    The connection is to the tenant's placement (ADR 0102): the shared database or its own.
    Shared by every service's unit of work; a subclass binds its stores to the connection in
    ``_bind`` and writes the recorded events to its outbox in ``commit``."""

    def __init__(self, engine: AsyncEngine | PlacementEngines, tenant_id: TenantId) -> None:
        self._placements = as_placements(engine)
        self.tenant_id = tenant_id
        self._connection: AsyncConnection | None = None
        self._gate = ""
        self.database: PlacementDatabase | None = None  # where the open transaction runs
        self._events: list[DomainEvent] = []

    def _bind(self, connection: AsyncConnection) -> None:
        """Attach the stores this unit of work offers to the open connection."""

    async def __aenter__(self) -> Self:
        self._connection, self._gate, self.database = await self._placements.connect(self.tenant_id)
        self._events = []
        self._bind(self._connection)
        return self

    def record(self, event: DomainEvent) -> None:
        self._events.append(event)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._connection is not None
        try:
            await release(self._connection)
        finally:
            self._connection = None
            self._events = []
        if exc is not None and (moving := moving_or(exc, self._gate)) is not exc:
            raise moving from exc


class PostgresUnitOfWork(TenantTransaction):
    def __init__(
        self,
        engine: AsyncEngine | PlacementEngines,
        tenant_id: TenantId,
        *,
        source: str,
        traceparent: Callable[[], str | None] = lambda: None,
        keyed_request: Callable[[], KeyedRequest | None] = lambda: None,
        committed_events: Callable[[], None] = lambda: None,
        committed_elsewhere: Callable[[PlacementDatabase], None] = lambda database: None,
        quotas: DailyQuotas = UNBOUNDED,
        clock: Clock = SYSTEM_CLOCK,
        caps: StorageCaps = NO_CAPS,
    ) -> None:
        super().__init__(engine, tenant_id)
        self._quotas = quotas
        self._caps = caps
        self._clock = clock
        self._source = source
        self._traceparent = traceparent
        self._keyed_request = keyed_request
        self._committed_events = committed_events
        self._committed_elsewhere = committed_elsewhere

    def _bind(self, connection: AsyncConnection) -> None:
        self.resources = PostgresResourceStore(connection)
        self.genotypes = PostgresGenotypeStore(connection)
        self.analyses = PostgresAnalysisRepository(connection)
        self.sensors = PostgresSensorStore(connection)
        self.alerts = PostgresAlertStore(connection)
        self.distribution = PostgresDistributionStore(connection)
        self.operations = PostgresOperationsRepository(connection, self.tenant_id)
        self.exports = PostgresExportStore(connection)
        self.usage = PostgresUsageReader(connection, self._quotas)
        self.storage = PostgresStorageReader(connection, self._caps)

    async def commit(self) -> None:
        """Write what the stores deferred and the outbox rows, then ``COMMIT``: the last
        writes and the ``COMMIT`` go as one pipeline, one round trip (ADR 0321). A write
        that fails there fails the ``COMMIT`` too (PostgreSQL skips the rest of an aborted
        pipeline), so nothing of the transaction is kept."""
        assert self._connection is not None
        events, self._events = self._events, []
        events.extend(await self.genotypes.flush())
        events.extend(await self.analyses.flush())
        parts: Sequence[EventEnvelope] = []
        payloads: list[bytes] = []
        if events:
            trace = self._traceparent()
            envelopes = [envelope_for(e, source=self._source, traceparent=trace) for e in events]
            parts = await outbox_parts(self._connection, envelopes)
            payloads = publishable_envelopes(parts)
        now = self._clock.now()
        usage = {
            Resource.EVENT_BYTES: event_bytes(map(len, payloads)),
            Resource.TELEMETRY_READINGS: self.sensors.stored,
            Resource.GENOTYPE_CALLS: self.genotypes.stored_calls,
            Resource.ANALYSIS_RESULT_BYTES: self.analyses.stored_bytes,
            Resource.UPLOAD_BYTES: self.resources.stored_bytes,
        }
        # What the organization stores with this write's rows, against its standing caps
        # (ADR 0343): computed from the stored rows, refused before anything is sent.
        stored = {
            StoredResource.GENOTYPE_CALLS: self.genotypes.stored_calls,
            StoredResource.ANALYSIS_RESULT_BYTES: self.analyses.stored_bytes,
            StoredResource.UPLOAD_BYTES: self.resources.stored_bytes,
            StoredResource.ENROLLED_DEVICES: self.sensors.added_devices,
        }
        await check_stored(self._connection, self._caps, [r for r, n in stored.items() if n > 0])
        keyed = self._keyed_request() if events else None
        if keyed is not None and not keyed.recorded:
            await record_applied(self._connection, self.tenant_id, keyed.key)
        else:
            keyed = None
        driver = await driver_connection(self._connection)
        try:
            async with driver.pipeline():
                await self.sensors.flush()
                await insert_outbox(self._connection, parts, payloads=payloads)
                await self.resources.bump_versions()
                # Last: the organization's row of the day is locked from here to COMMIT only,
                # and its holder waits on nothing else.
                await charge_usage(self._connection, charges(self._quotas, usage), now)
                await queue_commit(driver)
            await self._connection.commit()  # committed already: ends SQLAlchemy's transaction
        except (DBAPIError, psycopg.Error) as error:
            if (refusal := quota_or(error, now)) is error:
                raise
            raise refusal from error
        self.sensors.stored = self.genotypes.stored_calls = 0
        self.analyses.stored_bytes = self.resources.stored_bytes = 0
        self.sensors.added_devices = 0
        if keyed is not None:
            keyed.recorded = True
        if events and self.database is None:
            self._committed_events()
        elif events and self.database is not None:
            self._committed_elsewhere(self.database)


def unit_of_work_factory(
    engine: AsyncEngine | PlacementEngines,
    *,
    source: str,
    traceparent: Callable[[], str | None] = lambda: None,
    keyed_request: Callable[[], KeyedRequest | None] = lambda: None,
    committed_events: Callable[[], None] = lambda: None,
    committed_elsewhere: Callable[[PlacementDatabase], None] = lambda database: None,
    quotas: DailyQuotas = UNBOUNDED,
    clock: Clock = SYSTEM_CLOCK,
    caps: StorageCaps = NO_CAPS,
) -> Callable[[TenantId], PostgresUnitOfWork]:
    """The ``UnitOfWorkFactory`` port bound to one engine, or to every placement.

    ``traceparent`` returns the W3C trace context of the current request (the tracing
    setup supplies it); it is stored with each event and sent as a NATS header.
    ``keyed_request`` returns the current request's ``Idempotency-Key`` record, if any: its
    first commit with events records it (``applied_requests``, ADR 0336).
    ``committed_events`` runs after each commit that wrote events (``OutboxWakeups.wake``)
    in the shared database, ``committed_elsewhere`` after one in a dedicated database.
    ``quotas`` bound what one organization's writes add in a day (ADR 0340), by ``clock``;
    ``caps`` what it stores in all (ADR 0343).
    """

    def factory(tenant_id: TenantId) -> PostgresUnitOfWork:
        return PostgresUnitOfWork(
            engine,
            tenant_id,
            source=source,
            traceparent=traceparent,
            keyed_request=keyed_request,
            committed_events=committed_events,
            committed_elsewhere=committed_elsewhere,
            quotas=quotas,
            clock=clock,
            caps=caps,
        )

    return factory
