"""The gateway's production adapters (gRPC channels, identity over HTTP, Redis, NATS), built
in one place and handed to ``bootstrap`` (ADR 0260); ``create_app`` is granian's factory."""

from __future__ import annotations

import httpx
from bijmantra.adapters.grpc import CHANNEL_OPTIONS, IdentitySigningKeys, JwtVerifier
from bijmantra.adapters.grpc.tls import http_verify, open_channel
from bijmantra.adapters.nats import JetStreamEventFeed, connect, ensure_stream
from bijmantra.adapters.redis import RedisConsoleSessions
from bijmantra.adapters.redis.client import redis_client
from bijmantra.adapters.redis.rate_limiter import RedisRateLimiter
from bijmantra.adapters.redis.revocations import RedisRevocationList
from bijmantra.application.events.live_feed import EventFeed
from bijmantra.application.security import API_SCOPE
from bijmantra.edge.client_address import parse_networks
from bijmantra.gateway.bootstrap import GatewayAdapters, bootstrap
from bijmantra.gateway.config import Settings
from bijmantra.gateway.console import Console
from bijmantra.gateway.identity_proxy import IdentityProxy
from bijmantra.gateway.protection.wiring import protections
from bijmantra.kernel import SystemClock
from bijmantra.observability import configure_logging
from bijmantra.observability.shutdown import Closer
from bijmantra.observability.tracing_setup import Tracing, configure_tracing
from litestar import Litestar

GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 30_000),
]


def _console(settings: Settings, verifier: JwtVerifier) -> Console:
    if not settings.redis_url:
        raise RuntimeError("the web console keeps its sessions in Redis: set REDIS_URL")
    http = httpx.AsyncClient(
        base_url=settings.identity_url, timeout=10.0, verify=http_verify(settings.tls)
    )
    store = RedisConsoleSessions.from_url(settings.redis_url)
    starts = redis_client(settings.redis_url)  # each command bounded (ADR 0317)
    console = Console.over(settings, verifier, store, http, SystemClock(), RedisRateLimiter(starts))
    console.closers.extend([store.close, starts.aclose])
    return console


def production_adapters(settings: Settings, tracing: Tracing) -> GatewayAdapters:
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
    verifier = JwtVerifier(
        IdentitySigningKeys(identity_channel),
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        revocations=revocations,
        required_scope=API_SCOPE,
    )

    async def open_feed() -> tuple[EventFeed, Closer]:
        nc = await connect(settings.nats_url, name="gateway")
        js = nc.jetstream()
        await ensure_stream(js)
        return JetStreamEventFeed(js), nc.drain

    identity_http = IdentityProxy(
        settings.identity_url,
        parse_networks(settings.trusted_proxies),
        verify=http_verify(settings.tls),
    )
    console = _console(settings, verifier)
    protection = protections(settings)
    closers: list[Closer] = [
        identity_http.close,
        console.close,
        protection.close,
        domain_channel.close,
        identity_channel.close,
    ]
    if revocations is not None:
        closers.append(revocations.close)
    return GatewayAdapters(
        domain_channel=domain_channel,
        identity_channel=identity_channel,
        verifier=verifier,
        open_feed=open_feed,
        console=console,
        identity_http=identity_http,
        protections=protection,
        closers=closers,
    )


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    configure_logging("gateway", settings.log_level)
    # Here, not in main: granian runs this in each worker.
    tracing = configure_tracing("gateway", head_sampling=True)
    return bootstrap(settings, production_adapters(settings, tracing), tracing)
