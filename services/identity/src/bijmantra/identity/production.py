"""identity's production adapters (PostgreSQL, Redis, SMTP, NATS), built in one place and
handed to ``bootstrap`` (ADR 0260); and the database the administrative commands use."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bijmantra.adapters.email import SmtpEmailSender
from bijmantra.adapters.nats import JetStreamPublisher, connect, ensure_stream
from bijmantra.adapters.postgres import PostgresOutboxStore, create_engine, libpq_url, reachable
from bijmantra.adapters.postgres.ddl import outbox_channel
from bijmantra.adapters.postgres.identity import (
    PostgresAuthorizationCodes,
    PostgresOAuthClients,
    PostgresRefreshTokenStore,
    PostgresSigningKeys,
    PostgresUserDirectory,
    register_member,
    register_service_client,
    set_console_redirect_uris,
)
from bijmantra.adapters.postgres.invitations import PostgresDueInvitations
from bijmantra.adapters.postgres.login_failures import PostgresLoginLimiter
from bijmantra.adapters.postgres.relay_loop import run_relay
from bijmantra.adapters.postgres.tenancy import PostgresEventLog, tenancy_unit_of_work_factory
from bijmantra.adapters.redis.revocations import RedisRevocationList
from bijmantra.adapters.redis.sessions import RedisBrowserSessions
from bijmantra.application.events import OutboxRelay
from bijmantra.application.tenancy.authorization import BrowserSession
from bijmantra.application.tenancy.throttle import ACCOUNT_POLICY, ADDRESS_POLICY
from bijmantra.identity.bootstrap import Background, IdentityAdapters, bootstrap
from bijmantra.identity.config import Settings
from bijmantra.identity.passwords import Argon2PasswordHasher
from bijmantra.identity.tokens import SigningKeyRing
from bijmantra.kernel import Unavailable
from bijmantra.observability import configure_logging, get_logger, untraced
from bijmantra.observability.metrics import watch_pool
from bijmantra.observability.shutdown import Closer
from bijmantra.observability.tracing_setup import Tracing, configure_tracing
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncEngine

log = get_logger(__name__)


NO_SESSIONS = "Browser sessions need Redis (REDIS_URL)"


class _NoSessionStore:
    """Without Redis there are no browser sessions (and no login throttling): say so clearly."""

    async def save(self, key: bytes, session: BrowserSession) -> None:
        raise Unavailable(NO_SESSIONS)

    async def get(self, key: bytes) -> BrowserSession | None:
        raise Unavailable(NO_SESSIONS)

    async def delete(self, key: bytes) -> None:
        raise Unavailable(NO_SESSIONS)

    async def end_all(self, user_id: uuid.UUID, at: datetime, ttl: timedelta) -> None:
        raise Unavailable(NO_SESSIONS)

    async def ended_at(self, user_id: uuid.UUID) -> datetime | None:
        raise Unavailable(NO_SESSIONS)


def _outbox_relay(settings: Settings, nats_url: str, engine: AsyncEngine) -> Background:
    """Identity's events, from its outbox to the stream (ADR 0080)."""

    async def start(stop: asyncio.Event) -> Closer:
        nats = await connect(nats_url, name="identity")
        js = nats.jetstream()
        await ensure_stream(js)
        outbox = PostgresOutboxStore(engine, schema="identity")
        relay = OutboxRelay(outbox, JetStreamPublisher(js))
        listen_url = libpq_url(settings.database_url)
        with untraced():  # the relay's own polling opens no traces; its publishes join theirs
            relaying = asyncio.create_task(
                run_relay(relay, listen_url, stop, channel=outbox_channel("identity"), purge=outbox)
            )

        async def end() -> None:
            await relaying
            await nats.drain()

        return end

    return start


def production_adapters(settings: Settings, tracing: Tracing) -> IdentityAdapters:
    engine = create_engine(settings.database_url, pool_size=5)
    tracing.instrument_sqlalchemy(engine)
    tracing.instrument_redis()
    watch_pool("identity", engine.pool)
    closers: list[Closer] = []
    # Failed sign-ins are counted in PostgreSQL: Redis may forget them (ADR 0339).
    limiter = PostgresLoginLimiter(
        engine,
        account_policy=replace(ACCOUNT_POLICY, base_seconds=settings.login_backoff_base),
        address_policy=replace(ADDRESS_POLICY, base_seconds=settings.login_backoff_base),
    )
    revocations = None
    if settings.redis_url:
        revocations = RedisRevocationList.from_url(settings.redis_url)
        closers.append(revocations.close)
    else:
        log.warning("identity without REDIS_URL: access tokens cannot be revoked before expiry")
    sessions: RedisBrowserSessions | _NoSessionStore = _NoSessionStore()
    if settings.redis_url:
        sessions = RedisBrowserSessions.from_url(settings.redis_url)
        closers.append(sessions.close)
    mailer = None
    if settings.smtp is not None:
        mailer = SmtpEmailSender(settings.smtp)
    else:
        log.warning("identity without SMTP_HOST: invitations wait in identity.invitations unsent")
    background = []
    if settings.nats_url:
        background.append(_outbox_relay(settings, settings.nats_url, engine))
    else:
        log.warning("identity without NATS_URL: identity events stay in identity.outbox")
    closers.append(engine.dispose)

    return IdentityAdapters(
        users=PostgresUserDirectory(engine),
        refresh_tokens=PostgresRefreshTokenStore(engine),
        clients=PostgresOAuthClients(engine),
        codes=PostgresAuthorizationCodes(engine),
        tenancy=tenancy_unit_of_work_factory(engine),
        events=PostgresEventLog(engine),
        due_invitations=PostgresDueInvitations(engine),
        signing_keys=PostgresSigningKeys(engine),
        hasher=Argon2PasswordHasher(),
        browser_sessions=sessions,
        limiter=limiter,
        revocations=revocations,
        mailer=mailer,
        database_reachable=functools.partial(reachable, engine),
        background=background,
        closers=closers,
    )


def create_app(settings: Settings | None = None) -> Litestar:
    """The served app (granian's factory, once per worker): production adapters, wired."""
    settings = settings or Settings.from_env()
    configure_logging("identity", settings.log_level)
    tracing = configure_tracing("identity")  # per granian worker, like the app itself
    return bootstrap(settings, production_adapters(settings, tracing), tracing)


@dataclass
class Administration:
    """What ``bijmantra-identity seed-demo``, ``rotate-keys`` and ``register-…`` change,
    over one connection to the identity database."""

    engine: AsyncEngine

    async def register_member(
        self,
        *,
        organization_id: uuid.UUID,
        organization_name: str,
        user_id: uuid.UUID,
        email: str,
        display_name: str,
        password: str,
        roles: list[str],
    ) -> None:
        await register_member(
            self.engine,
            organization_id=organization_id,
            organization_name=organization_name,
            user_id=user_id,
            email=email,
            display_name=display_name,
            password_hash=Argon2PasswordHasher().hash(password),
            roles=roles,
        )

    async def rotate_keys(self) -> tuple[str, list[str]]:
        return await SigningKeyRing(PostgresSigningKeys(self.engine)).rotate()

    async def register_service_client(
        self, *, client_id: str, name: str, secret_hash: bytes, roles: list[str]
    ) -> None:
        await register_service_client(
            self.engine, client_id=client_id, name=name, secret_hash=secret_hash, roles=roles
        )

    async def set_console_redirect_uris(self, client_id: str, uris: list[str]) -> None:
        await set_console_redirect_uris(self.engine, client_id, uris)


@asynccontextmanager
async def administration(settings: Settings) -> AsyncIterator[Administration]:
    """The identity database for one administrative command: a single connection, closed
    when the command ends."""
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        yield Administration(engine)
    finally:
        await engine.dispose()
