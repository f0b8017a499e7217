"""Configuration from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass

from bijmantra.adapters.email import SmtpSettings
from bijmantra.adapters.grpc.tls import InternalTls


@dataclass(frozen=True)
class Settings:
    database_url: str
    issuer: str
    audience: str
    port: int = 8001
    grpc_port: int = 50052
    bind_host: str = "127.0.0.1"  # the gRPC listener (charts and compose: 0.0.0.0)
    # Plaintext listeners beside the mutual-TLS ones (ADR 0176), 0: off. grpc.health.v1 alone
    # for Kubernetes' probes; /metrics for Prometheus.
    health_port: int = 0
    metrics_port: int = 0
    access_token_ttl: int = 600  # seconds: short-lived by design
    log_level: str = "INFO"
    redis_url: str | None = None  # login attempt limiter; required outside tests
    refresh_token_ttl: int = 14 * 24 * 3600  # idle lifetime of one refresh token
    refresh_family_ttl: int = 30 * 24 * 3600  # absolute lifetime of a login
    nats_url: str | None = None  # identity events are relayed from identity.outbox to JetStream
    session_ttl: int = 12 * 3600  # browser sessions (cookie)
    # Whose X-Forwarded-For is believed: nobody unless configured (IDENTITY_TRUSTED_PROXIES or
    # TRUSTED_PROXIES: the gateway's addresses); a loopback default let any local process
    # choose the address its login attempts were counted against (issue 17).
    trusted_proxies: str = ""
    key_reload_interval: float = 30.0  # seconds between reloads of the signing keys
    key_publish_delay: float = 60.0  # a new key is published this long before it signs
    login_backoff_base: float = 1.0  # seconds of the first login lock; doubles per failure
    smtp: SmtpSettings | None = None  # invitations are mailed through it (SMTP_HOST, …)
    # The page the invitation link opens (``?token=`` is appended); by default identity's own
    # page behind the gateway. PUBLIC_URL is the address users reach the platform at.
    invitation_url: str = ""
    max_organizations_per_user: int = 10  # how many organizations one user may found
    mail_retry_interval: float = 5.0  # seconds between the mailer's rounds (retries)
    # This service's certificate for mutual TLS with its peers (ADR 0176); None: plaintext.
    tls: InternalTls | None = None

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        port = int(env.get("IDENTITY_PORT", "8001"))
        return cls(
            database_url=env["DATABASE_URL"],
            issuer=env.get("TOKEN_ISSUER", f"http://127.0.0.1:{port}"),
            audience=env.get("TOKEN_AUDIENCE", "bijmantra"),
            port=port,
            grpc_port=int(env.get("IDENTITY_GRPC_PORT", "50052")),
            bind_host=env.get("BIND_HOST", "127.0.0.1"),
            health_port=int(env.get("IDENTITY_HEALTH_PORT", "0")),
            metrics_port=int(env.get("IDENTITY_METRICS_PORT", "0")),
            access_token_ttl=int(env.get("ACCESS_TOKEN_TTL", "600")),
            log_level=env.get("LOG_LEVEL", "INFO"),
            redis_url=env.get("REDIS_URL"),
            refresh_token_ttl=int(env.get("REFRESH_TOKEN_TTL", str(14 * 24 * 3600))),
            refresh_family_ttl=int(env.get("REFRESH_FAMILY_TTL", str(30 * 24 * 3600))),
            nats_url=env.get("NATS_URL") or None,
            session_ttl=int(env.get("SESSION_TTL", str(12 * 3600))),
            trusted_proxies=env.get("IDENTITY_TRUSTED_PROXIES", env.get("TRUSTED_PROXIES", "")),
            key_reload_interval=float(env.get("KEY_RELOAD_INTERVAL", "30")),
            key_publish_delay=float(env.get("KEY_PUBLISH_DELAY", "60")),
            login_backoff_base=float(env.get("LOGIN_BACKOFF_BASE", "1")),
            smtp=SmtpSettings.from_env(),
            max_organizations_per_user=int(env.get("MAX_ORGANIZATIONS_PER_USER", "10")),
            invitation_url=env.get("INVITATION_URL")
            or env.get("PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
            + "/api/v1/auth/invitations/accept",
            tls=InternalTls.from_env(env),
        )


# The demo organization and user that `bijmantra up` seeds (local only).
DEMO_ORGANIZATION_ID = "0193a000-0000-7000-8000-00000000d001"
DEMO_ORGANIZATION_NAME = "Demo Breeding Program"
DEMO_USER_ID = "0193a000-0000-7000-8000-00000000a001"
DEMO_EMAIL = "demo@bijmantra.org"
DEMO_PASSWORD = "demo-breeder-2026"  # noqa: S105 (the documented local demo login)
