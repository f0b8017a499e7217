"""Composition root of the gateway: adapters are chosen here and one app is built."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
from bijmantra.adapters.grpc import (
    CHANNEL_OPTIONS,
    AnalysisClient,
    AuditClient,
    GenotypingClient,
    IdentitySigningKeys,
    JwtVerifier,
    OperationsClient,
    ResourceClient,
    SensorsClient,
)
from bijmantra.adapters.grpc.distribution import DistributionClient
from bijmantra.adapters.grpc.exports import ExportClient
from bijmantra.adapters.grpc.tls import http_verify, open_channel
from bijmantra.adapters.nats import JetStreamEventFeed, connect, ensure_stream
from bijmantra.adapters.redis.revocations import RedisRevocationList
from bijmantra.application.brapi.modules import catalog
from bijmantra.application.events.permissions import event_permissions
from bijmantra.application.ports import TokenVerifier
from bijmantra.edge import exception_handlers, request_id_middleware, security_headers_middleware
from bijmantra.edge.client_address import parse_networks
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
from bijmantra.gateway.edge import authentication_middleware, permission_guard
from bijmantra.gateway.identity_proxy import IdentityProxy, identity_routes
from bijmantra.gateway.live import FeedSettings, live_feed
from bijmantra.gateway.page_cache import PageCache
from bijmantra.gateway.permissions import my_permissions
from bijmantra.gateway.protection.wiring import protections
from bijmantra.observability import configure_logging, get_logger
from bijmantra.observability.http import head_sampled, http_observability
from bijmantra.observability.metrics import serve_metrics
from bijmantra.observability.tracing_setup import configure_tracing
from grpc_health.v1 import health_pb2, health_pb2_grpc
from litestar import Litestar, Response, get
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware

log = get_logger(__name__)
GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 30_000),
]


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


def create_app(
    settings: Settings | None = None, *, verifier: TokenVerifier | None = None
) -> Litestar:
    settings = settings or Settings.from_env()
    configure_logging("gateway", settings.log_level)
    tracing = configure_tracing(
        "gateway", head_sampling=True
    )  # here, not in main: granian runs this in each worker
    observability = http_observability("gateway", tracing)
    # Two connections per target when tracing: the interceptors cost only sampled calls.
    domain_channel = tracing.client_channel(
        lambda interceptors: open_channel(
            settings.domain_api_target,
            settings.tls,
            options=CHANNEL_OPTIONS,
            interceptors=interceptors,
        )
    )
    identity_channel = tracing.client_channel(
        lambda interceptors: open_channel(
            settings.identity_target, settings.tls, options=GRPC_OPTIONS, interceptors=interceptors
        )
    )
    # Revoked tokens (removal, /oauth/revoke, logout) stop here within a second (issue 17).
    revocations = RedisRevocationList.from_url(settings.redis_url) if settings.redis_url else None
    verifier = verifier or JwtVerifier(
        IdentitySigningKeys(identity_channel),
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        revocations=revocations,
    )
    resources = ResourceClient(domain_channel)
    brapi_catalog = catalog()
    state = State(
        {
            "brapi": resources,
            "pages": PageCache(resources, settings.page_cache_bytes),
            "genotyping": GenotypingClient(domain_channel),
            "analyses": AnalysisClient(domain_channel),
            "audit": AuditClient(domain_channel),
            "exports": ExportClient(domain_channel),
            "sensors": SensorsClient(domain_channel),
            "operations": OperationsClient(domain_channel),
            "distribution": DistributionClient(domain_channel),
            "verifier": verifier,
            "feed_settings": FeedSettings(
                ping_interval=settings.ws_ping_interval, queue_limit=settings.ws_queue_limit
            ),
            "channels": {"domain-api": domain_channel, "identity": identity_channel},
            "event_permissions": event_permissions(
                (e.name, e.context) for e in brapi_catalog.entities.values()
            ),
        }
    )

    protection = protections(settings)  # rate limits and Idempotency-Key (ADR 0140)
    identity_http = IdentityProxy(
        settings.identity_url,
        parse_networks(settings.trusted_proxies),
        verify=http_verify(settings.tls),
    )
    web_console = console.Console.create(settings, verifier)
    state.update(web_console.state())

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # Each replica follows the event stream itself: /ws works behind any replica.
        nc = await connect(settings.nats_url, name="gateway")
        js = nc.jetstream()
        await ensure_stream(js)
        app.state.feed = JetStreamEventFeed(js)
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
            await nc.drain()
            await identity_http.close()
            await web_console.close()
            await protection.close()
            await domain_channel.close()
            await identity_channel.close()
            if revocations is not None:
                await revocations.close()
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
            *identity_routes(identity_http),
            *console.console_router(),
            *CONTRACT_ROUTES,  # /openapi.json and /docs (ADR 0230)
        ],
        template_config=console.template_config(),
        state=state,
        lifespan=[lifespan],
        plugins=observability.plugins,
        middleware=[
            *observability.middleware,
            request_id_middleware,
            security_headers_middleware,
            console.console_headers_middleware,
            DefineMiddleware(auth, exclude_from_auth_key="public"),
            *protection.middleware,
        ],
        guards=[permission_guard],
        exception_handlers=exception_handlers(),
        openapi_config=None,
    )
    if tracing.head_ratio is not None:
        head_sampled(app, tracing.head_ratio)
    return app
