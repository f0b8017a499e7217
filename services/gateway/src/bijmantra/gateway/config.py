"""Configuration from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated

from bijmantra.adapters.grpc.tls import InternalTls
from bijmantra.kernel.settings import Env, from_environment

LOCAL_IDENTITY = "http://127.0.0.1:8001"  # identity on a laptop: the tokens' issuer
AUDIENCE = "bijmantra"  # the audience every access token names


@dataclass(frozen=True)
class Settings:
    domain_api_target: Annotated[str, Env("DOMAIN_API_TARGET")] = "127.0.0.1:50051"
    identity_target: Annotated[str, Env("IDENTITY_TARGET")] = "127.0.0.1:50052"
    redis_url: Annotated[str | None, Env("REDIS_URL")] = None
    token_issuer: Annotated[str, Env("TOKEN_ISSUER")] = LOCAL_IDENTITY
    token_audience: Annotated[str, Env("TOKEN_AUDIENCE")] = AUDIENCE
    nats_url: Annotated[str, Env("NATS_URL")] = "nats://127.0.0.1:4222"
    ws_ping_interval: Annotated[float, Env("WS_PING_INTERVAL")] = 20.0
    ws_queue_limit: Annotated[int, Env("WS_QUEUE_LIMIT")] = 1000
    # Live-feed sockets per member and organization, per worker (ADR 0331).
    ws_sockets_per_member: Annotated[int, Env("WS_SOCKETS_PER_MEMBER")] = 32
    # Seals live-feed resume tokens (ADR 0384): the same on every replica; "" = per process.
    resume_secret: Annotated[str, Env("GATEWAY_RESUME_SECRET")] = ""
    port: int = 8000  # GATEWAY_PORT
    # /metrics is served apart from the public port, on this address (loopback unless told:
    # the charts and compose set 0.0.0.0 inside the pod's network).
    metrics_port: Annotated[int, Env("GATEWAY_METRICS_PORT")] = 9465
    bind_host: Annotated[str, Env("BIND_HOST")] = "127.0.0.1"
    workers: Annotated[int, Env("GATEWAY_WORKERS")] = 1
    log_level: Annotated[str, Env("LOG_LEVEL")] = "INFO"
    # identity's HTTP endpoints, proxied (ADR 0038).
    identity_url: Annotated[str, Env("IDENTITY_URL")] = LOCAL_IDENTITY
    # CIDRs whose X-Forwarded-For is believed (the ingress).
    trusted_proxies: Annotated[str, Env("TRUSTED_PROXIES")] = ""
    # BrAPI list pages kept per worker, revalidated per request.
    page_cache_bytes: Annotated[int, Env("GATEWAY_PAGE_CACHE_BYTES")] = 64 << 20
    # The gateway's external origin (GATEWAY_PUBLIC_URL; by default this port on loopback):
    # the console's OAuth redirect (ADR 0060).
    public_url: str = ""
    # Rate limits (ADR 0140): "off", or per class "<class>=<org>/<client>" per window; "" = defaults
    rate_limits: Annotated[str, Env("GATEWAY_RATE_LIMITS")] = ""
    rate_limit_window: Annotated[float, Env("GATEWAY_RATE_LIMIT_WINDOW")] = 60.0
    # Idempotency-Key on POST (needs REDIS_URL, like rate limits); GATEWAY_IDEMPOTENCY=off.
    idempotency: bool = True
    # Per worker and organization (ADR 0142): requests in flight (0 = no bound), and how many
    # more may wait their turn before the next is refused with 429.
    organization_in_flight: Annotated[int, Env("GATEWAY_ORGANIZATION_IN_FLIGHT")] = 8
    organization_queue: Annotated[int, Env("GATEWAY_ORGANIZATION_QUEUE")] = 256
    # This service's certificate for mutual TLS with its peers (ADR 0176); None: plaintext.
    tls: InternalTls | None = None

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        port = int(env.get("GATEWAY_PORT", str(cls.port)))
        return from_environment(
            cls,
            env,
            port=port,
            public_url=env.get("GATEWAY_PUBLIC_URL", f"http://127.0.0.1:{port}"),
            idempotency=env.get("GATEWAY_IDEMPOTENCY", "on") != "off",
            tls=InternalTls.from_env(env),
        )
