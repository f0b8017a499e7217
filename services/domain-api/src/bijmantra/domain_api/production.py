"""domain-api's production adapters: PostgreSQL, Redis, NATS and identity, built in one place
and handed to ``bootstrap`` (ADR 0260). Nothing else in the service builds an adapter."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from bijmantra.adapters.grpc import IdentitySigningKeys, JwtVerifier
from bijmantra.adapters.grpc.tls import open_channel
from bijmantra.adapters.nats import (
    JetStreamPublisher,
    JetStreamSubscriptions,
    connect,
    ensure_stream,
)
from bijmantra.adapters.nats.device_bridge import DeviceTelemetryBridge
from bijmantra.adapters.nats.device_stream import (
    RECLAIM_SECONDS,
    DeviceStreamBounds,
    OrganizationStreams,
    ensure_device_stream,
    reclaim_unused_streams,
)
from bijmantra.adapters.nats.devices import DeviceAuthCallout, JwtSigner
from bijmantra.adapters.nats.retained import bound_retained, forget_retained_every
from bijmantra.adapters.nats.stream import STREAM_CONFIG
from bijmantra.adapters.postgres import (
    PostgresAuditStore,
    PostgresDocumentLookup,
    PostgresOutboxStore,
    create_engine,
    libpq_url,
    reachable,
    unit_of_work_factory,
)
from bijmantra.adapters.postgres.analysis_scheduler import PostgresAnalysisScheduler
from bijmantra.adapters.postgres.ddl import outbox_channel
from bijmantra.adapters.postgres.placement import PlacementEngines, PostgresPlacementDirectory
from bijmantra.adapters.postgres.placement_relays import PlacementRelays
from bijmantra.adapters.postgres.relay_loop import OutboxWakeups, run_relay
from bijmantra.adapters.postgres.sensor_partitions import maintain_partitions
from bijmantra.adapters.postgres.uow import PostgresUnitOfWork
from bijmantra.adapters.redis import RedisSearchResultStore
from bijmantra.adapters.redis.client import redis_client
from bijmantra.adapters.redis.revocations import RedisRevocationList
from bijmantra.application.events import OutboxRelay
from bijmantra.application.ports import UnitOfWorkFactory
from bijmantra.application.sensors import AuthenticateDevice, IngestTelemetry, ReleaseEdgeShare
from bijmantra.domain.sensors import RETENTION
from bijmantra.domain.tenancy.placement import PlacementDatabase
from bijmantra.domain.tenancy.quotas import DailyQuotas, Resource, deployment_quotas
from bijmantra.domain.tenancy.storage import deployment_caps
from bijmantra.domain_api.bootstrap import SERVICE_NAME, DomainAdapters
from bijmantra.domain_api.config import Settings
from bijmantra.domain_api.exports_api import export_runner
from bijmantra.domain_api.grpc_api import current_keyed_request
from bijmantra.domain_api.runtime import Background
from bijmantra.kernel import SystemClock, TenantId
from bijmantra.observability import current_traceparent, get_logger
from bijmantra.observability.metrics import sample_every, watch_pool
from bijmantra.observability.shutdown import Closer
from bijmantra.observability.tracing_setup import Tracing

log = get_logger(__name__)
MAINTENANCE_SECONDS = 3600.0


def _device_link(
    settings: Settings,
) -> Callable[[AuthenticateDevice, IngestTelemetry], Awaitable[list[Closer]]]:
    """Answer the device listener's auth callout and ingest what devices publish (ADR 0207)."""

    async def link(authenticate: AuthenticateDevice, ingest: IngestTelemetry) -> list[Closer]:
        async def whose(credential: str) -> tuple[str, str]:
            found = await authenticate(credential)
            return found["tenantId"], found["deviceId"]

        callout_nc = await connect(settings.device_callout_url, name=f"{SERVICE_NAME}-callout")
        ingest_nc = await connect(settings.device_ingest_url, name=f"{SERVICE_NAME}-devices")
        # What the edge keeps of retained publishes: 4 KiB per device topic, emptied hourly so
        # that revoked devices' go too (ADR 0361).
        edge_js = ingest_nc.jetstream()
        await bound_retained(edge_js)
        stop_purge = _running(functools.partial(forget_retained_every, edge_js))

        # What devices publish waits on the edge until stored (ADR 0371), each organization's
        # in a stream of its own, made when its first device is let in (ADR 0386).
        bounds = DeviceStreamBounds(
            max_bytes=settings.device_stream_max_bytes,
            max_per_device=settings.device_stream_max_per_device,
            max_age_seconds=settings.device_stream_max_age_seconds,
            max_bytes_per_organization=settings.device_stream_max_bytes_per_organization,
        )
        await ensure_device_stream(edge_js, bounds)
        bridge = DeviceTelemetryBridge(edge_js, ingest.from_connected_device)
        await bridge.start()
        streams = OrganizationStreams(edge_js, bounds, made=bridge.follow)
        signer = JwtSigner(settings.device_issuer_seed)
        await DeviceAuthCallout(callout_nc, signer, whose, admit=streams.admit).start()
        # The streams of organizations left without devices go, freeing their shares.
        share = ReleaseEdgeShare(authenticate.uow)

        async def release(tenant: str, reclaim: Callable[[], Awaitable[bool]]) -> bool:
            return await share(TenantId(uuid.UUID(tenant)), reclaim)

        async def reclaim() -> None:
            try:
                await reclaim_unused_streams(edge_js, release)
            except Exception:  # the edge or PostgreSQL away: tried at the next turn
                log.warning("device streams not reclaimed", exc_info=True)

        stop_reclaim = _running(lambda stop: sample_every(RECLAIM_SECONDS, stop, reclaim))
        # The bridge acknowledges what it stored before its connection closes.
        return [stop_purge, stop_reclaim, callout_nc.drain, bridge.finish, ingest_nc.drain]

    return link


def _running(loop: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> Closer:
    """Run ``loop`` until the returned closer is called (it sets the loop's stop event)."""
    stop = asyncio.Event()
    task = asyncio.create_task(loop(stop))

    async def close() -> None:
        stop.set()
        await task

    return close


async def _no_devices(authenticate: AuthenticateDevice, ingest: IngestTelemetry) -> list[Closer]:
    return []


async def production_adapters(settings: Settings, tracing: Tracing) -> DomainAdapters:
    """Every adapter of the running service, and the loops that run beside its server."""
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    tracing.instrument_sqlalchemy(engine)
    watch_pool(SERVICE_NAME, engine.pool)
    placements = PlacementEngines(  # every organization's database (ADR 0102)
        engine,
        PostgresPlacementDirectory(engine),
        service_url=settings.database_url,
        max_engines=settings.placement_max_engines,
        pool_size=settings.placement_pool_size,
        on_engine=tracing.instrument_sqlalchemy,
    )
    wakeups = OutboxWakeups(libpq_url(settings.database_url), outbox_channel("domain"))
    placement_relays: PlacementRelays | None = None  # built once the publisher is there

    def committed_elsewhere(database: PlacementDatabase) -> None:
        if placement_relays is not None:
            placement_relays.wake(database)

    nc = await connect(settings.nats_url, name=SERVICE_NAME)
    js = nc.jetstream()
    stream_bytes = await ensure_stream(js)  # as the server has it: an operator may raise it
    quotas = deployment_quotas(
        stream_bytes,
        timedelta(seconds=STREAM_CONFIG.max_age or 0),
        share=settings.quota_stream_share,
        event_bytes=settings.quota_event_bytes,
        readings=settings.quota_readings,
        calls=settings.quota_calls,
        results=settings.quota_results,
        uploads=settings.quota_uploads,
    )

    caps = deployment_caps(
        calls=settings.cap_calls,
        results=settings.cap_results,
        uploads=settings.cap_uploads,
        devices=settings.max_devices,
    )

    def units(quotas: DailyQuotas) -> Callable[[TenantId], PostgresUnitOfWork]:
        return unit_of_work_factory(
            placements,
            source=SERVICE_NAME,
            traceparent=current_traceparent,
            keyed_request=current_keyed_request,
            committed_events=wakeups.wake,
            committed_elsewhere=committed_elsewhere,
            quotas=quotas,
            clock=SystemClock(),
            caps=caps,
        )

    postgres = units(quotas)
    # Events of work already accepted (a job's claim, progress and end, alerts, presence, what
    # consumers derive) are bounded by what was accepted; refusing them would strand it.
    work = units(quotas.without(Resource.EVENT_BYTES))
    closers: list[Closer] = [engine.dispose, placements.dispose]
    lookup = await PostgresDocumentLookup.open(
        settings.database_url,
        max_size=max(2, settings.db_pool_size // 4),
        placements=placements,
        dedicated_size=max(2, settings.placement_pool_size),
    )
    closers.append(lookup.close)
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
    tracing.instrument_redis()
    redis = redis_client(settings.redis_url)
    closers.append(redis.aclose)
    publisher = JetStreamPublisher(js)
    closers.append(nc.drain)
    outbox = PostgresOutboxStore(engine)
    relay = OutboxRelay(outbox, publisher)
    placement_relays = PlacementRelays(placements, publisher, settings.database_url)
    relays = placement_relays

    async def relaying(stop: asyncio.Event) -> None:
        await run_relay(
            relay,
            libpq_url(settings.database_url),
            stop,
            channel=outbox_channel("domain"),
            purge=outbox,
        )

    async def outbox_backlog() -> tuple[int, float]:
        pending, oldest_age = await outbox.pending()
        elsewhere, elsewhere_age = await relays.pending()
        return pending + elsewhere, max(oldest_age, elsewhere_age)

    async def maintenance() -> None:
        """Reading partitions made ahead and dropped past retention, in every database."""
        for database in await placements.placements():
            await maintain_partitions(
                placements.engine_of(database), SystemClock().now(), RETENTION
            )

    return DomainAdapters(
        uow=postgres,
        work_uow=work,
        sensors_work_uow=work,
        sensors_uow=postgres,  # one unit of work offers every context's stores
        exports_uow=postgres,
        verifier=verifier,
        searches=RedisSearchResultStore(redis),
        audit=PostgresAuditStore(placements),
        analysis_scheduler=PostgresAnalysisScheduler(placements),
        subscriptions=JetStreamSubscriptions(js),
        clock=SystemClock(),
        lookup=lookup,
        device_link=_device_link(settings) if settings.device_callout_url else _no_devices,
        background=Background(
            loops=[wakeups.run, relaying, placement_relays.run],
            periodic=[
                (MAINTENANCE_SECONDS, maintenance),
                # Organization archives, built as the owner role (ADR 0104).
                *(
                    [export_runner(settings.owner_url, settings.export_scratch)]
                    if settings.owner_url
                    else []
                ),
            ],
            outbox_backlog=outbox_backlog,
            database_reachable=functools.partial(reachable, engine),
            closers=closers,
        ),
    )


@asynccontextmanager
async def postgres_units(database_url: str) -> AsyncIterator[UnitOfWorkFactory]:
    """Units of work for one administrative command (``import-testdata``): a small pool over
    every organization's placement (ADR 0102), disposed when the command ends."""
    engine = create_engine(database_url, pool_size=2)
    placements = PlacementEngines(
        engine, PostgresPlacementDirectory(engine), service_url=database_url
    )
    try:
        yield unit_of_work_factory(placements, source=SERVICE_NAME)
    finally:
        await placements.dispose()
        await engine.dispose()
