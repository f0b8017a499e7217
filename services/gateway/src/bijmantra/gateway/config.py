"""Configuration from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass

from bijmantra.adapters.grpc.tls import InternalTls


@dataclass(frozen=True)
class Settings:
    domain_api_target: str
    identity_target: str
    redis_url: str | None
    token_issuer: str
    token_audience: str
    nats_url: str = "nats://127.0.0.1:4222"
    ws_ping_interval: float = 20.0
    ws_queue_limit: int = 1000
    port: int = 8000
    # /metrics is served apart from the public port, on this address (loopback unless told:
    # the charts and compose set 0.0.0.0 inside the pod's network).
    metrics_port: int = 9465
    bind_host: str = "127.0.0.1"
    workers: int = 1
    log_level: str = "INFO"
    identity_url: str = "http://127.0.0.1:8001"  # identity's HTTP endpoints, proxied (ADR 0038)
    trusted_proxies: str = ""  # CIDRs whose X-Forwarded-For is believed (the ingress)
    page_cache_bytes: int = 64 << 20  # BrAPI list pages kept per worker, revalidated per request
    public_url: str = ""  # the gateway's external origin: the console's OAuth redirect (ADR 0060)
    # Rate limits (ADR 0140): "off", or per class "<class>=<org>/<client>" per window; "" = defaults
    rate_limits: str = ""
    rate_limit_window: float = 60.0
    idempotency: bool = True  # Idempotency-Key on POST (needs REDIS_URL, like rate limits)
    # Per worker and organization (ADR 0142): requests in flight (0 = no bound), and how many
    # more may wait their turn before the next is refused with 429.
    organization_in_flight: int = 8
    organization_queue: int = 256
    # This service's certificate for mutual TLS with its peers (ADR 0176); None: plaintext.
    tls: InternalTls | None = None

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            domain_api_target=env.get("DOMAIN_API_TARGET", "127.0.0.1:50051"),
            identity_target=env.get("IDENTITY_TARGET", "127.0.0.1:50052"),
            redis_url=env.get("REDIS_URL") or None,
            token_issuer=env.get("TOKEN_ISSUER", "http://127.0.0.1:8001"),
            token_audience=env.get("TOKEN_AUDIENCE", "bijmantra"),
            nats_url=env.get("NATS_URL", "nats://127.0.0.1:4222"),
            ws_ping_interval=float(env.get("WS_PING_INTERVAL", "20")),
            ws_queue_limit=int(env.get("WS_QUEUE_LIMIT", "1000")),
            port=int(env.get("GATEWAY_PORT", "8000")),
            metrics_port=int(env.get("GATEWAY_METRICS_PORT", "9465")),
            bind_host=env.get("BIND_HOST", "127.0.0.1"),
            workers=int(env.get("GATEWAY_WORKERS", "1")),
            log_level=env.get("LOG_LEVEL", "INFO"),
            identity_url=env.get("IDENTITY_URL", "http://127.0.0.1:8001"),
            trusted_proxies=env.get("TRUSTED_PROXIES", ""),
            page_cache_bytes=int(env.get("GATEWAY_PAGE_CACHE_BYTES", str(64 << 20))),
            public_url=env.get(
                "GATEWAY_PUBLIC_URL", f"http://127.0.0.1:{env.get('GATEWAY_PORT', '8000')}"
            ),
            rate_limits=env.get("GATEWAY_RATE_LIMITS", ""),
            rate_limit_window=float(env.get("GATEWAY_RATE_LIMIT_WINDOW", "60")),
            idempotency=env.get("GATEWAY_IDEMPOTENCY", "on") != "off",
            organization_in_flight=int(env.get("GATEWAY_ORGANIZATION_IN_FLIGHT", "8")),
            organization_queue=int(env.get("GATEWAY_ORGANIZATION_QUEUE", "256")),
            tls=InternalTls.from_env(env),
        )
