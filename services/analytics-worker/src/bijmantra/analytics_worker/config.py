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

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            database_url=env["DATABASE_URL"],
            nats_url=env.get("NATS_URL", "nats://127.0.0.1:4222"),
            health_port=int(env.get("WORKER_HEALTH_PORT", "8002")),
            log_level=env.get("LOG_LEVEL", "INFO"),
        )
