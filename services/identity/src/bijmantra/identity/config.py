"""Configuration from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated

from bijmantra.adapters.email import SmtpSettings
from bijmantra.adapters.grpc.tls import InternalTls
from bijmantra.kernel.settings import Env, from_environment


@dataclass(frozen=True)
class Settings:
    database_url: Annotated[str, Env("DATABASE_URL")]
    issuer: str  # TOKEN_ISSUER; by default identity's own address
    audience: Annotated[str, Env("TOKEN_AUDIENCE")] = "bijmantra"
    port: int = 8001  # IDENTITY_PORT
    grpc_port: Annotated[int, Env("IDENTITY_GRPC_PORT")] = 50052
    # The gRPC listener (charts and compose: 0.0.0.0).
    bind_host: Annotated[str, Env("BIND_HOST")] = "127.0.0.1"
    # Plaintext listeners beside the mutual-TLS ones (ADR 0176), 0: off. grpc.health.v1 alone
    # for Kubernetes' probes; /metrics for Prometheus.
    health_port: Annotated[int, Env("IDENTITY_HEALTH_PORT")] = 0
    metrics_port: Annotated[int, Env("IDENTITY_METRICS_PORT")] = 0
    # Seconds: short-lived by design.
    access_token_ttl: Annotated[int, Env("ACCESS_TOKEN_TTL")] = 600
    log_level: Annotated[str, Env("LOG_LEVEL")] = "INFO"
    # The login attempt limiter; required outside tests.
    redis_url: Annotated[str | None, Env("REDIS_URL")] = None
    # The idle lifetime of one refresh token, and the absolute lifetime of a login.
    refresh_token_ttl: Annotated[int, Env("REFRESH_TOKEN_TTL")] = 14 * 24 * 3600
    refresh_family_ttl: Annotated[int, Env("REFRESH_FAMILY_TTL")] = 30 * 24 * 3600
    # Identity events are relayed from identity.outbox to JetStream.
    nats_url: Annotated[str | None, Env("NATS_URL")] = None
    session_ttl: Annotated[int, Env("SESSION_TTL")] = 12 * 3600  # browser sessions (cookie)
    # Whose X-Forwarded-For is believed: nobody unless configured (IDENTITY_TRUSTED_PROXIES or
    # TRUSTED_PROXIES: the gateway's addresses); a loopback default let any local process
    # choose the address its login attempts were counted against (issue 17).
    trusted_proxies: str = ""
    # Seconds between reloads of the signing keys; a new key is published this long before
    # it signs; the first login lock (it doubles per failure).
    key_reload_interval: Annotated[float, Env("KEY_RELOAD_INTERVAL")] = 30.0
    key_publish_delay: Annotated[float, Env("KEY_PUBLISH_DELAY")] = 60.0
    login_backoff_base: Annotated[float, Env("LOGIN_BACKOFF_BASE")] = 1.0
    smtp: SmtpSettings | None = None  # invitations are mailed through it (SMTP_HOST, …)
    # The page the invitation link opens (``?token=`` is appended; INVITATION_URL); by
    # default identity's own page behind the gateway. PUBLIC_URL is the address users reach
    # the platform at.
    invitation_url: str = ""
    # How many organizations one user may found.
    max_organizations_per_user: Annotated[int, Env("MAX_ORGANIZATIONS_PER_USER")] = 10
    mail_retry_interval: float = 5.0  # seconds between the mailer's rounds (retries)
    # This service's certificate for mutual TLS with its peers (ADR 0176); None: plaintext.
    tls: InternalTls | None = None

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        port = int(env.get("IDENTITY_PORT", str(cls.port)))
        public_url = env.get("PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
        return from_environment(
            cls,
            env,
            issuer=env.get("TOKEN_ISSUER", f"http://127.0.0.1:{port}"),
            port=port,
            trusted_proxies=env.get("IDENTITY_TRUSTED_PROXIES", env.get("TRUSTED_PROXIES", "")),
            smtp=SmtpSettings.from_env(),
            invitation_url=env.get("INVITATION_URL")
            or public_url + "/api/v1/auth/invitations/accept",
            tls=InternalTls.from_env(env),
        )


# The demo organization and user that `bijmantra up` seeds (local only).
DEMO_ORGANIZATION_ID = "0193a000-0000-7000-8000-00000000d001"
DEMO_ORGANIZATION_NAME = "Demo Breeding Program"
DEMO_USER_ID = "0193a000-0000-7000-8000-00000000a001"
DEMO_EMAIL = "demo@bijmantra.org"
DEMO_PASSWORD = "demo-breeder-2026"  # noqa: S105 (the documented local demo login)
