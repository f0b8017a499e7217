"""Configuration from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from bijmantra.adapters.email import SmtpSettings
from bijmantra.adapters.grpc.tls import InternalTls
from bijmantra.domain.analysis import DEFAULT_JOB_MEMORY
from bijmantra.domain.distribution.mail import PARTNER_MAILS_PER_DAY
from bijmantra.domain.sensors.presence import OFFLINE_AFTER
from bijmantra.kernel.settings import Env, from_environment


@dataclass(frozen=True)
class Settings:
    database_url: Annotated[str, Env("DATABASE_URL")]
    nats_url: Annotated[str, Env("NATS_URL")] = "nats://127.0.0.1:4222"
    health_port: Annotated[int, Env("WORKER_HEALTH_PORT")] = 8002
    # The health/metrics listener (charts and compose: 0.0.0.0).
    bind_host: Annotated[str, Env("BIND_HOST")] = "127.0.0.1"
    log_level: Annotated[str, Env("LOG_LEVEL")] = "INFO"
    domain_api_target: Annotated[str, Env("DOMAIN_API_TARGET")] = "127.0.0.1:50051"
    # identity's token endpoint and this worker's platform service client (ADR 0039);
    # without a client secret the replica runs no analysis jobs.
    identity_url: Annotated[str, Env("IDENTITY_URL")] = "http://127.0.0.1:8001"
    client_id: Annotated[str, Env("WORKER_CLIENT_ID")] = "analytics-worker"
    client_secret: Annotated[str, Env("WORKER_CLIENT_SECRET")] = ""
    # Seconds JetStream waits for an ack before redelivering an analysis to another replica;
    # a running job sends in-progress heartbeats every third of it.
    analysis_ack_wait: Annotated[float, Env("ANALYSIS_ACK_WAIT")] = 30.0
    # GRM block buffers a replica keeps between jobs of the same shape (ADR 0070), in MiB.
    grm_buffer_mib: Annotated[int, Env("GRM_BUFFER_MIB")] = 512
    # MiB of working memory one analysis job may need (ADR 0338): a job needing more fails
    # with its reason before anything is read. Half the chart's 4 GiB limit; domain-api
    # refuses such requests with its own ANALYSIS_MEMORY_MIB, which should be the same.
    analysis_memory_mib: Annotated[int, Env("ANALYSIS_MEMORY_MIB")] = DEFAULT_JOB_MEMORY >> 20
    # Partner mails one organization sends a UTC day, as domain-api's (ADR 0354): the mail
    # consumer's backstop is twice it, which mail domain-api queued never reaches.
    partner_mails_per_day: Annotated[int, Env("PARTNER_MAILS_PER_DAY")] = PARTNER_MAILS_PER_DAY
    # Where distribution notifications are mailed (SMTP_HOST, …); None: no mail consumer.
    smtp: SmtpSettings | None = None
    # This service's certificate for mutual TLS with its peers (ADR 0176); None: plaintext.
    tls: InternalTls | None = None
    # How often no-data alert rules and device presence are checked (a silence is reported
    # at most this late), and how long a device may stay silent before it is offline
    # (DEVICE_OFFLINE_AFTER_SECONDS).
    sensor_check_seconds: Annotated[float, Env("SENSOR_CHECK_SECONDS")] = 15.0
    device_offline_after: timedelta = OFFLINE_AFTER

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        offline_after = env.get("DEVICE_OFFLINE_AFTER_SECONDS")
        return from_environment(
            cls,
            env,
            smtp=SmtpSettings.from_env(),
            tls=InternalTls.from_env(env),
            device_offline_after=(
                OFFLINE_AFTER if offline_after is None else timedelta(seconds=float(offline_after))
            ),
        )
