"""Configuration from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

from bijmantra.adapters.email import SmtpSettings
from bijmantra.adapters.grpc.tls import InternalTls
from bijmantra.domain.sensors.presence import OFFLINE_AFTER


@dataclass(frozen=True)
class Settings:
    database_url: str
    nats_url: str
    health_port: int = 8002
    bind_host: str = "127.0.0.1"  # the health/metrics listener (charts and compose: 0.0.0.0)
    log_level: str = "INFO"
    domain_api_target: str = "127.0.0.1:50051"
    # identity's token endpoint and this worker's platform service client (ADR 0039);
    # without a client secret the replica runs no analysis jobs.
    identity_url: str = "http://127.0.0.1:8001"
    client_id: str = "analytics-worker"
    client_secret: str = ""
    # Seconds JetStream waits for an ack before redelivering an analysis to another replica;
    # a running job sends in-progress heartbeats every third of it.
    analysis_ack_wait: float = 30.0
    # GRM block buffers a replica keeps between jobs of the same shape (ADR 0070), in MiB.
    grm_buffer_mib: int = 512
    # Where distribution notifications are mailed (SMTP_HOST, …); None: no mail consumer.
    smtp: SmtpSettings | None = None
    # This service's certificate for mutual TLS with its peers (ADR 0176); None: plaintext.
    tls: InternalTls | None = None
    # How often no-data alert rules and device presence are checked (a silence is reported
    # at most this late), and how long a device may stay silent before it is offline.
    sensor_check_seconds: float = 15.0
    device_offline_after: timedelta = OFFLINE_AFTER

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            database_url=env["DATABASE_URL"],
            nats_url=env.get("NATS_URL", "nats://127.0.0.1:4222"),
            health_port=int(env.get("WORKER_HEALTH_PORT", "8002")),
            bind_host=env.get("BIND_HOST", "127.0.0.1"),
            log_level=env.get("LOG_LEVEL", "INFO"),
            domain_api_target=env.get("DOMAIN_API_TARGET", "127.0.0.1:50051"),
            identity_url=env.get("IDENTITY_URL", "http://127.0.0.1:8001"),
            client_id=env.get("WORKER_CLIENT_ID", "analytics-worker"),
            client_secret=env.get("WORKER_CLIENT_SECRET", ""),
            analysis_ack_wait=float(env.get("ANALYSIS_ACK_WAIT", "30")),
            grm_buffer_mib=int(env.get("GRM_BUFFER_MIB", "512")),
            smtp=SmtpSettings.from_env(),
            tls=InternalTls.from_env(env),
            sensor_check_seconds=float(env.get("SENSOR_CHECK_SECONDS", "15")),
            device_offline_after=timedelta(
                seconds=float(
                    env.get("DEVICE_OFFLINE_AFTER_SECONDS", str(OFFLINE_AFTER.total_seconds()))
                )
            ),
        )
