"""Configuration from the environment (12-factor); one place lists every knob."""

from __future__ import annotations

import os
from dataclasses import dataclass

from bijmantra.adapters.grpc.tls import InternalTls


@dataclass(frozen=True)
class Settings:
    database_url: str
    nats_url: str
    identity_target: str
    token_issuer: str
    token_audience: str
    port: int = 50051
    # Listeners (gRPC, /metrics) take connections only on this address unless told otherwise:
    # loopback on a laptop; the charts and compose set 0.0.0.0 inside the pod's network.
    bind_host: str = "127.0.0.1"
    metrics_port: int = 9464
    # grpc.health.v1 alone, in plaintext, for Kubernetes' probes (they present no
    # certificate); 0: not served (ADR 0176).
    health_port: int = 0
    log_level: str = "INFO"
    db_pool_size: int = 20
    # Dedicated databases (ADR 0102): at most this many engines at once, each this small.
    placement_max_engines: int = 16
    placement_pool_size: int = 2
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Devices' MQTT through a NATS server's MQTT listener (ADR 0207); empty: MQTT is off.
    # The two users are the listener's auth-callout responder and the telemetry subscriber;
    # the seed is the account nkey that signs the per-device user JWTs.
    device_callout_url: str = ""
    device_ingest_url: str = ""
    device_issuer_seed: str = ""
    # The gateway's external origin: variant sets' ``availableFormats`` link files there.
    public_url: str = "http://127.0.0.1:8000"
    # This service's certificate for mutual TLS with its peers (ADR 0176); None: plaintext.
    tls: InternalTls | None = None
    # The owner's URL for the organization export runner (ADR 0285); empty: this replica
    # runs no exports (they wait, queued, for one that does).
    owner_url: str = ""
    # Where the runner writes an archive before storing it; empty: the system's temp folder.
    export_scratch: str = ""

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            database_url=env["DATABASE_URL"],
            nats_url=env.get("NATS_URL", "nats://127.0.0.1:4222"),
            identity_target=env.get("IDENTITY_TARGET", "127.0.0.1:50052"),
            token_issuer=env.get("TOKEN_ISSUER", "http://127.0.0.1:8001"),
            token_audience=env.get("TOKEN_AUDIENCE", "bijmantra"),
            port=int(env.get("DOMAIN_API_PORT", "50051")),
            bind_host=env.get("BIND_HOST", "127.0.0.1"),
            metrics_port=int(env.get("METRICS_PORT", "9464")),
            health_port=int(env.get("DOMAIN_API_HEALTH_PORT", "0")),
            log_level=env.get("LOG_LEVEL", "INFO"),
            db_pool_size=int(env.get("DB_POOL_SIZE", "20")),
            placement_max_engines=int(env.get("PLACEMENT_MAX_ENGINES", "16")),
            placement_pool_size=int(env.get("PLACEMENT_POOL_SIZE", "2")),
            redis_url=env.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
            device_callout_url=env.get("DEVICE_NATS_CALLOUT_URL", ""),
            device_ingest_url=env.get("DEVICE_NATS_INGEST_URL", ""),
            device_issuer_seed=env.get("DEVICE_NATS_ISSUER_SEED", ""),
            public_url=env.get("PUBLIC_URL")
            or env.get("GATEWAY_PUBLIC_URL")
            or "http://127.0.0.1:8000",
            tls=InternalTls.from_env(env),
            owner_url=env.get("DATABASE_OWNER_URL", ""),
            export_scratch=env.get("EXPORT_SCRATCH_DIR", ""),
        )
