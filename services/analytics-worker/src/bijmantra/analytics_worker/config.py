"""Configuration from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    database_url: str
    nats_url: str
    health_port: int = 8002
    log_level: str = "INFO"
    domain_api_target: str = "127.0.0.1:50051"
    # Signs service tokens for domain-api's worker-facing service (shared with domain-api).
    internal_token_secret: str = ""
    # Seconds JetStream waits for an ack before redelivering an analysis to another replica;
    # a running job sends in-progress heartbeats every third of it.
    analysis_ack_wait: float = 30.0

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            database_url=env["DATABASE_URL"],
            nats_url=env.get("NATS_URL", "nats://127.0.0.1:4222"),
            health_port=int(env.get("WORKER_HEALTH_PORT", "8002")),
            log_level=env.get("LOG_LEVEL", "INFO"),
            domain_api_target=env.get("DOMAIN_API_TARGET", "127.0.0.1:50051"),
            internal_token_secret=env.get("INTERNAL_TOKEN_SECRET", ""),
            analysis_ack_wait=float(env.get("ANALYSIS_ACK_WAIT", "30")),
        )
