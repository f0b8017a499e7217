"""Composition root of the gateway: adapters are chosen here and one app is built."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
from bijmantra.adapters.grpc import (
    AnalysisClient,
    AuditClient,
    GenotypingClient,
    OperationsClient,
    ResourceClient,
    SensorsClient,
)
from bijmantra.adapters.grpc.console import ConsoleClient
from bijmantra.adapters.grpc.distribution import DistributionClient
from bijmantra.adapters.grpc.exports import ExportClient
from bijmantra.application.brapi.modules import catalog
from bijmantra.application.events.live_feed import EventFeed
from bijmantra.application.events.live_hub import LiveHub
from bijmantra.application.events.permissions import event_permissions
from bijmantra.application.ports import TokenVerifier
from bijmantra.edge import (
    errors_answered_inside,
    exception_handlers,
    nosniff,
    request_id_middleware,
    security_headers_middleware,
)
from bijmantra.gateway import (
    brapi,
    compliance,
    console,
    distribution,
    exports,
    genotypes,
    operations,
    sensors,
)
from bijmantra.gateway.config import Settings
from bijmantra.gateway.contract import ROUTES as CONTRACT_ROUTES
from bijmantra.gateway.edge import (
    authentication_middleware,
    nul_free_url_middleware,
    route_guard,
)
from bijmantra.gateway.identity_proxy import IdentityProxy, identity_routes
from bijmantra.gateway.live import FeedSettings, SocketQuota, live_feed
from bijmantra.gateway.multipart_form import BoundedFormRequest
from bijmantra.gateway.page_cache import PageCache
from bijmantra.gateway.permissions import my_permissions
from bijmantra.gateway.protection.wiring import Protections
from bijmantra.gateway.resume_tokens import ResumeTokens
from bijmantra.observability import get_logger
from bijmantra.observability.http import head_sampled, http_observability
from bijmantra.observability.metrics import serve_metrics
from bijmantra.observability.shutdown import Closer, close_all
from bijmantra.observability.tracing_setup import Tracing
from grpc_health.v1 import health_pb2, health_pb2_grpc
from litestar import Litestar, Response, get
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware

log = get_logger(__name__)


@dataclass
class GatewayAdapters:
    """What the gateway reaches: domain-api and identity (channels, identity's HTTP), the
    token verifier, the event stream, the console's sessions and the protections' stores.
    ``production.production_adapters`` builds the real ones; tests pass fakes (ADR 0260)."""

    domain_channel: grpc.aio.Channel
    identity_channel: grpc.aio.Channel
    verifier: TokenVerifier
    # Opened when the app starts: each replica follows the event stream itself.
    open_feed: Callable[[], Awaitable[tuple[EventFeed, Closer]]]
    console: console.Console
    identity_http: IdentityProxy
    protections: Protections
    closers: list[Closer] = field(default_factory=list)


@get("/health/live", opt={"public": True}, sync_to_thread=False)
def live() -> dict[str, str]:
    return {"status": "ok"}


@get("/health/startup", opt={"public": True}, sync_to_thread=False)
def startup() -> dict[str, str]:
    return {"status": "ok"}


@get("/health/ready", opt={"public": True})
async def ready(state: State) -> Response[dict[str, Any]]:
    """Ready when domain-api and identity answer their gRPC health checks."""
    checks = {}
    for name, channel in state.channels.items():
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=2
            )
            checks[name] = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        except grpc.aio.AioRpcError as exc:
            checks[name] = exc.code().name
    ok = all(status == "SERVING" for status in checks.values())
    return Response(
        {"status": "ok" if ok else "degraded", "checks": checks}, status_code=200 if ok else 503
    )


def bootstrap(settings: Settings, adapters: GatewayAdapters, tracing: Tracing) -> Litestar:
    """Wire the gateway's routes, middleware and clients to ``adapters``."""
    observability = http_observability("gateway", tracing)
    domain_channel, verifier = adapters.domain_channel, adapters.verifier
    resources = ResourceClient(domain_channel)
    brapi_catalog = catalog()
    state = State(
        {
            "brapi": resources,
            "pages": PageCache(resources, settings.page_cache_bytes),
            "genotyping": GenotypingClient(domain_channel),
            "analyses": AnalysisClient(domain_channel),
            "audit": AuditClient(domain_channel),
            "console": ConsoleClient(domain_channel),
            "exports": ExportClient(domain_channel),
            "sensors": SensorsClient(domain_channel),
            "operations": OperationsClient(domain_channel),
            "distribution": DistributionClient(domain_channel),
            "verifier": verifier,
            "feed_settings": FeedSettings(
                ResumeTokens.from_secret(settings.resume_secret),
                ping_interval=settings.ws_ping_interval,
                queue_limit=settings.ws_queue_limit,
            ),
            "socket_quota": SocketQuota(settings.ws_sockets_per_member),
            "channels": {"domain-api": domain_channel, "identity": adapters.identity_channel},
            "event_permissions": event_permissions(
                (e.name, e.context) for e in brapi_catalog.entities.values()
            ),
        }
    )

    protection = adapters.protections  # rate limits and Idempotency-Key (ADR 0140)
    state.update(adapters.console.state())

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # Each replica follows the event stream itself: /ws works behind any replica.
        app.state.feed, close_feed = await adapters.open_feed()
        # One follower of the stream for all of this worker's sockets (ADR 0362).
        app.state.live_hub = LiveHub(app.state.feed)
        metrics = serve_metrics(settings.metrics_port, settings.bind_host)
        # Start-up objects (modules, the app, clients) never die: move them out of the
        # collector's reach, so a full collection no longer walks them while it stalls
        # every open /ws connection (85 ms pauses measured at 1,000 events/s, ADR 0050).
        gc.freeze()
        try:
            yield
        finally:
            if metrics is not None:
                metrics.shutdown()
            await app.state.live_hub.close()
            await close_feed()
            await close_all(adapters.closers)
            tracing.shutdown()

    auth = authentication_middleware(verifier)
    app = Litestar(
        route_handlers=[
            live,
            startup,
            ready,
            *brapi.route_handlers(brapi_catalog),
            *genotypes.HANDLERS,
            *compliance.ROUTES,
            *exports.ROUTES,
            *sensors.ROUTES,
            *operations.ROUTES,
            *distribution.route_handlers(),
            live_feed,
            my_permissions,
            *identity_routes(adapters.identity_http),
            *console.console_router(),
            *CONTRACT_ROUTES,  # /openapi.json and /docs (ADR 0230)
        ],
        template_config=console.template_config(),
        request_class=BoundedFormRequest,  # multipart within bounds (ADR 0376)
        state=state,
        lifespan=[lifespan],
        plugins=observability.plugins,
        middleware=[
            *observability.middleware,
            request_id_middleware,
            security_headers_middleware,
            errors_answered_inside,  # what the middleware below raise, through the above
            nul_free_url_middleware,
            DefineMiddleware(auth, exclude_from_auth_key="public"),
            console.console_session_middleware,  # a console page's member, for the protections
            *protection.middleware,
        ],
        guards=[route_guard],  # one guard: Litestar copies the handler per guard (ADR 0373)
        before_send=[nosniff, console.console_headers],  # unmatched routes too (ADR 0326)
        exception_handlers=exception_handlers(),
        openapi_config=None,
    )
    if tracing.head_ratio is not None:
        head_sampled(app, tracing.head_ratio)
    return app
