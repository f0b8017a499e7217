"""domain-api running: the gRPC server, its health, and the loops beside it (outbox relays,
consumers, periodic maintenance), started and drained together. ``bootstrap`` builds it."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field

import grpc
import prometheus_client
from bijmantra.adapters.grpc.tls import start_probe_listener
from bijmantra.application.events.ports import EventConsumer
from bijmantra.contracts.analysis.v1 import analysis_service_pb2 as analysis_pb
from bijmantra.contracts.brapi.v1 import resource_service_pb2 as resource_pb
from bijmantra.contracts.compliance.v1 import audit_service_pb2 as audit_pb
from bijmantra.contracts.console.v1 import console_service_pb2 as console_pb
from bijmantra.contracts.distribution.v1 import distribution_service_pb2 as distribution_pb
from bijmantra.contracts.genotyping.v1 import genotyping_service_pb2 as genotyping_pb
from bijmantra.contracts.operations.v1 import operations_service_pb2 as operations_pb
from bijmantra.contracts.sensors.v1 import sensors_service_pb2 as sensors_pb
from bijmantra.contracts.tenancy.v1 import export_service_pb2 as export_pb
from bijmantra.domain_api.config import Settings
from bijmantra.observability import get_logger, untraced
from bijmantra.observability.metrics import Periodic, sample_every
from bijmantra.observability.shutdown import Closer, close_all
from grpc_health.v1 import health, health_pb2

SERVED = (
    resource_pb.DESCRIPTOR.services_by_name["ResourceService"].full_name,
    genotyping_pb.DESCRIPTOR.services_by_name["GenotypingService"].full_name,
    analysis_pb.DESCRIPTOR.services_by_name["AnalysisService"].full_name,
    audit_pb.DESCRIPTOR.services_by_name["AuditService"].full_name,
    console_pb.DESCRIPTOR.services_by_name["ConsoleService"].full_name,
    sensors_pb.DESCRIPTOR.services_by_name["SensorsService"].full_name,
    operations_pb.DESCRIPTOR.services_by_name["OperationsService"].full_name,
    distribution_pb.DESCRIPTOR.services_by_name["DistributionService"].full_name,
    export_pb.DESCRIPTOR.services_by_name["ExportService"].full_name,
)


LAG_SAMPLE_SECONDS = 5.0


OUTBOX_PENDING = prometheus_client.Gauge(
    "outbox_pending_events", "Committed events not yet published."
)


OUTBOX_LAG = prometheus_client.Gauge(
    "outbox_lag_seconds", "Age of the oldest unpublished outbox event."
)


log = get_logger(__name__)


async def _reachable() -> bool:
    return True


async def _no_backlog() -> tuple[int, float]:
    return 0, 0.0


@dataclass
class Background:
    """What the production adapters run beside the server (fakes run nothing): loops until
    stop (outbox wake-ups and relays), periodic tasks (reading partitions made ahead and
    dropped past retention, ADR 0207), the outbox backlog, the database probe, closers."""

    loops: list[Callable[[asyncio.Event], Coroutine[None, None, None]]] = field(
        default_factory=list
    )
    periodic: list[Periodic] = field(default_factory=list)
    outbox_backlog: Callable[[], Awaitable[tuple[int, float]]] = _no_backlog
    database_reachable: Callable[[], Awaitable[bool]] = _reachable
    closers: list[Closer] = field(default_factory=list)


@dataclass
class DomainApi:
    settings: Settings
    server: grpc.aio.Server
    health: health.aio.HealthServicer
    background: Background
    consumers: list[EventConsumer] = field(default_factory=list)
    # (interval, task) beside the background's: no-data alert checks (ADR 0207).
    periodic: list[Periodic] = field(default_factory=list)
    closers: list[Closer] = field(default_factory=list)

    async def serve(self, stop: asyncio.Event) -> None:
        await self.server.start()
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        for service in SERVED:
            await self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        probes = await start_probe_listener(
            self.health, self.settings.bind_host, self.settings.health_port
        )
        metrics_server, _ = prometheus_client.start_http_server(
            self.settings.metrics_port, addr=self.settings.bind_host
        )
        log.info(
            "domain-api serving", port=self.settings.port, metrics_port=self.settings.metrics_port
        )
        # Start-up objects never die: out of the collector's reach, a full collection no
        # longer walks them while relay passes and RPCs wait (530 ms pauses measured at
        # 1,000 events/s, ADR 0050).
        gc.freeze()
        with untraced():  # background loops: no root trace per poll
            tasks = [asyncio.create_task(self._watch_database(stop))]
            tasks += [asyncio.create_task(loop(stop)) for loop in self.background.loops]
            tasks.append(
                asyncio.create_task(sample_every(LAG_SAMPLE_SECONDS, stop, self._sample_lag))
            )
            tasks += [
                asyncio.create_task(sample_every(interval, stop, task))
                for interval, task in [*self.background.periodic, *self.periodic]
            ]
        tasks += [asyncio.create_task(c.run()) for c in self.consumers]
        await stop.wait()
        log.info("domain-api draining")
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace=10)
        if probes is not None:
            await probes.stop(None)
        for consumer in self.consumers:
            consumer.stop()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await close_all([*self.background.closers, *self.closers])
        metrics_server.shutdown()

    async def _sample_lag(self) -> None:
        """Outbox backlog (relay lag) and the audit consumer's backlog on the stream."""
        pending, oldest_age = await self.background.outbox_backlog()
        OUTBOX_PENDING.set(pending)
        OUTBOX_LAG.set(oldest_age)
        for consumer in self.consumers:
            await consumer.sample_lag()

    async def _watch_database(self, stop: asyncio.Event) -> None:
        """Report NOT_SERVING while PostgreSQL is unreachable, so probes route around us."""
        while not stop.is_set():
            status = health_pb2.HealthCheckResponse.SERVING
            if not await self.background.database_reachable():
                status = health_pb2.HealthCheckResponse.NOT_SERVING
            await self.health.set("", status)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 5)
