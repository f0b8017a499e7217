"""Configuration from the environment (12-factor); one place lists every knob."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated

from bijmantra.adapters.grpc.tls import InternalTls
from bijmantra.adapters.nats.device_stream import DeviceStreamBounds
from bijmantra.domain.analysis import DEFAULT_JOB_MEMORY
from bijmantra.domain.distribution.mail import PARTNER_MAILS_PER_DAY
from bijmantra.domain.tenancy.quotas import (
    DEFAULT_ANALYSIS_RESULT_BYTES,
    DEFAULT_GENOTYPE_CALLS,
    DEFAULT_STREAM_SHARE,
    DEFAULT_TELEMETRY_READINGS,
    DEFAULT_UPLOAD_BYTES,
)
from bijmantra.domain.tenancy.storage import (
    DEFAULT_ENROLLED_DEVICES,
    DEFAULT_STORED_ANALYSIS_RESULT_BYTES,
    DEFAULT_STORED_GENOTYPE_CALLS,
    DEFAULT_STORED_UPLOAD_BYTES,
)
from bijmantra.kernel.settings import Env, from_environment

LOCAL_IDENTITY = "http://127.0.0.1:8001"  # identity on a laptop: the tokens' issuer
AUDIENCE = "bijmantra"  # the audience every access token names
DEVICE_STREAM_BOUNDS = DeviceStreamBounds()


@dataclass(frozen=True)
class Settings:
    database_url: Annotated[str, Env("DATABASE_URL")]
    nats_url: Annotated[str, Env("NATS_URL")] = "nats://127.0.0.1:4222"
    identity_target: Annotated[str, Env("IDENTITY_TARGET")] = "127.0.0.1:50052"
    token_issuer: Annotated[str, Env("TOKEN_ISSUER")] = LOCAL_IDENTITY
    token_audience: Annotated[str, Env("TOKEN_AUDIENCE")] = AUDIENCE
    port: Annotated[int, Env("DOMAIN_API_PORT")] = 50051
    # Listeners (gRPC, /metrics) take connections only on this address unless told otherwise:
    # loopback on a laptop; the charts and compose set 0.0.0.0 inside the pod's network.
    bind_host: Annotated[str, Env("BIND_HOST")] = "127.0.0.1"
    metrics_port: Annotated[int, Env("METRICS_PORT")] = 9464
    # grpc.health.v1 alone, in plaintext, for Kubernetes' probes (they present no
    # certificate); 0: not served (ADR 0176).
    health_port: Annotated[int, Env("DOMAIN_API_HEALTH_PORT")] = 0
    log_level: Annotated[str, Env("LOG_LEVEL")] = "INFO"
    db_pool_size: Annotated[int, Env("DB_POOL_SIZE")] = 20
    # Dedicated databases (ADR 0102): at most this many engines at once, each this small.
    placement_max_engines: Annotated[int, Env("PLACEMENT_MAX_ENGINES")] = 16
    placement_pool_size: Annotated[int, Env("PLACEMENT_POOL_SIZE")] = 2
    redis_url: Annotated[str, Env("REDIS_URL")] = "redis://127.0.0.1:6379/0"
    # Devices' MQTT through a NATS server's MQTT listener (ADR 0207); empty: MQTT is off.
    # The two users are the listener's auth-callout responder and the telemetry subscriber;
    # the seed is the account nkey that signs the per-device user JWTs.
    device_callout_url: Annotated[str, Env("DEVICE_NATS_CALLOUT_URL")] = ""
    device_ingest_url: Annotated[str, Env("DEVICE_NATS_INGEST_URL")] = ""
    device_issuer_seed: Annotated[str, Env("DEVICE_NATS_ISSUER_SEED")] = ""
    # What the edge keeps of batches not yet stored (ADR 0371, 0386; docs/operations.md sizes
    # them): bytes of dead letters, batches per device, how long, bytes per organization.
    device_stream_max_bytes: Annotated[int, Env("DEVICE_STREAM_MAX_BYTES")] = (
        DEVICE_STREAM_BOUNDS.max_bytes
    )
    device_stream_max_per_device: Annotated[int, Env("DEVICE_STREAM_MAX_PER_DEVICE")] = (
        DEVICE_STREAM_BOUNDS.max_per_device
    )
    device_stream_max_age_seconds: Annotated[int, Env("DEVICE_STREAM_MAX_AGE_SECONDS")] = (
        DEVICE_STREAM_BOUNDS.max_age_seconds
    )
    device_stream_max_bytes_per_organization: Annotated[
        int, Env("DEVICE_STREAM_MAX_BYTES_PER_ORGANIZATION")
    ] = DEVICE_STREAM_BOUNDS.max_bytes_per_organization
    # The gateway's external origin (PUBLIC_URL, else GATEWAY_PUBLIC_URL): variant sets'
    # ``availableFormats`` link files there.
    public_url: str = "http://127.0.0.1:8000"
    # This service's certificate for mutual TLS with its peers (ADR 0176); None: plaintext.
    tls: InternalTls | None = None
    # The owner's URL for the organization export runner (ADR 0285); empty: this replica
    # runs no exports (they wait, queued, for one that does).
    owner_url: Annotated[str, Env("DATABASE_OWNER_URL")] = ""
    # Where the runner writes an archive before storing it; empty: the system's temp folder.
    export_scratch: Annotated[str, Env("EXPORT_SCRATCH_DIR")] = ""
    # MiB of working memory one analysis job may need in a worker (ADR 0338); a request
    # needing more is refused. The workers' own ANALYSIS_MEMORY_MIB should be the same.
    analysis_memory_mib: Annotated[int, Env("ANALYSIS_MEMORY_MIB")] = DEFAULT_JOB_MEMORY >> 20
    # What one organization's writes may add in a UTC day (ADR 0340): bytes of events (0: its
    # share of the event stream, 1/QUOTA_EVENT_STREAM_SHARE of it), telemetry readings, genotype
    # calls, bytes of analysis results and of uploaded files stored.
    quota_event_bytes: Annotated[int, Env("QUOTA_EVENT_BYTES_PER_DAY")] = 0
    quota_stream_share: Annotated[int, Env("QUOTA_EVENT_STREAM_SHARE")] = DEFAULT_STREAM_SHARE
    quota_readings: Annotated[int, Env("QUOTA_TELEMETRY_READINGS_PER_DAY")] = (
        DEFAULT_TELEMETRY_READINGS
    )
    quota_calls: Annotated[int, Env("QUOTA_GENOTYPE_CALLS_PER_DAY")] = DEFAULT_GENOTYPE_CALLS
    quota_results: Annotated[int, Env("QUOTA_ANALYSIS_RESULT_BYTES_PER_DAY")] = (
        DEFAULT_ANALYSIS_RESULT_BYTES
    )
    quota_uploads: Annotated[int, Env("QUOTA_UPLOAD_BYTES_PER_DAY")] = DEFAULT_UPLOAD_BYTES
    # What one organization may store in all (ADR 0343; 0: not capped): genotype calls, bytes
    # of analysis results and of uploaded files, as its stored rows hold them.
    cap_calls: Annotated[int, Env("STORAGE_CAP_GENOTYPE_CALLS")] = DEFAULT_STORED_GENOTYPE_CALLS
    cap_results: Annotated[int, Env("STORAGE_CAP_ANALYSIS_RESULT_BYTES")] = (
        DEFAULT_STORED_ANALYSIS_RESULT_BYTES
    )
    cap_uploads: Annotated[int, Env("STORAGE_CAP_UPLOAD_BYTES")] = DEFAULT_STORED_UPLOAD_BYTES
    # Devices one organization may have enrolled (registered and not revoked; 0: no limit).
    # Each may hold a retained MQTT publish of up to 4 MiB on the device edge (ADR 0361).
    max_devices: Annotated[int, Env("MAX_ENROLLED_DEVICES")] = DEFAULT_ENROLLED_DEVICES
    # Partner mails one organization sends a UTC day (ADR 0348, 0354); past it a record says
    # its mail was not sent. The worker's PARTNER_MAILS_PER_DAY should be the same.
    partner_mails_per_day: Annotated[int, Env("PARTNER_MAILS_PER_DAY")] = PARTNER_MAILS_PER_DAY

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        public_url = env.get("PUBLIC_URL") or env.get("GATEWAY_PUBLIC_URL")
        return from_environment(
            cls,
            env,
            public_url=public_url or cls.public_url,
            tls=InternalTls.from_env(env),
        )
