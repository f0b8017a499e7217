"""Composition root of identity: adapters chosen here, one Litestar app built here."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import grpc
import msgspec
from bijmantra.adapters.grpc import ErrorInterceptor
from bijmantra.adapters.grpc.auth import JwtVerifier
from bijmantra.adapters.grpc.tls import SERVER_OPTIONS, add_listener, start_probe_listener
from bijmantra.application.email import EmailSender
from bijmantra.application.revocation import RevocationList
from bijmantra.application.tenancy import (
    AcceptInvitation,
    ChangeMemberRoles,
    ClientAuthenticator,
    ClientCredentials,
    CreateOrganization,
    DeliverInvitations,
    GetMyProfile,
    GetOrganization,
    InviteMember,
    ListInvitations,
    ListMembers,
    LoginWithPassword,
    RefreshSessions,
    RemoveMember,
    RevokeInvitation,
    UpdateOrganization,
)
from bijmantra.application.tenancy.authorization import (
    AuthorizationCodes,
    AuthorizationCodeStore,
    BrowserSessions,
    BrowserSessionStore,
)
from bijmantra.application.tenancy.invitations import DueInvitations, InvitationsUnitOfWork
from bijmantra.application.tenancy.keys import SigningKeyStore
from bijmantra.application.tenancy.login import EventLog, PasswordHashing, UserDirectory
from bijmantra.application.tenancy.throttle import LoginAttemptLimiter
from bijmantra.application.tenancy.tokens import ClientDirectory, RefreshTokenStore
from bijmantra.contracts.tenancy.v1 import identity_service_pb2_grpc
from bijmantra.edge import (
    error_response,
    http_exception_handler,
    single_valued_parameters,
    unexpected_error_handler,
)
from bijmantra.edge.client_address import parse_networks
from bijmantra.identity import browser as browser_edge
from bijmantra.identity import invitations as invitation_edge
from bijmantra.identity import platform
from bijmantra.identity.authlib_server import (
    ID_TOKEN_CLAIMS,
    SCOPES_SUPPORTED,
    IdentityAuthorizationServer,
    IdentityOpenIDCode,
)
from bijmantra.identity.config import Settings
from bijmantra.identity.edge import MAX_BODY, client_ip, decode_json, ok
from bijmantra.identity.grpc_api import IdentityServicer
from bijmantra.identity.oauth import revoke, token, userinfo
from bijmantra.identity.tokens import JwtIssuer, SigningKeyRing, organization_token_body
from bijmantra.kernel import BijmantraError, TenantId, Unavailable
from bijmantra.observability import get_logger, untraced
from bijmantra.observability.grpc_interceptors import GrpcServerMetrics
from bijmantra.observability.http import http_observability
from bijmantra.observability.metrics import serve_metrics
from bijmantra.observability.shutdown import Closer, close_all
from bijmantra.observability.tracing_setup import Tracing
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from joserfc.jwk import KeySetSerialization
from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import State
from litestar.exceptions import HTTPException

log = get_logger(__name__)

# Started before the app serves, it runs until ``stop``; awaiting what it returns ends it.
Background = Callable[[asyncio.Event], Awaitable[Closer]]


async def _reachable() -> bool:
    return True


@dataclass
class IdentityAdapters:
    """Every port identity's use cases reach: ``production.production_adapters`` builds the
    real ones, tests pass ``bijmantra.testkit`` fakes (ADR 0260)."""

    users: UserDirectory
    refresh_tokens: RefreshTokenStore
    clients: ClientDirectory
    codes: AuthorizationCodeStore
    tenancy: Callable[[TenantId], InvitationsUnitOfWork]
    events: EventLog
    due_invitations: DueInvitations
    signing_keys: SigningKeyStore
    hasher: PasswordHashing
    browser_sessions: BrowserSessionStore
    limiter: LoginAttemptLimiter | None = None  # None: login attempts are not limited
    revocations: RevocationList | None = None  # None: tokens live until they expire
    mailer: EmailSender | None = None  # None: invitations wait unsent
    database_reachable: Callable[[], Awaitable[bool]] = _reachable
    background: list[Background] = field(default_factory=list)  # the outbox relay
    closers: list[Closer] = field(default_factory=list)


async def _reload_keys(
    ring: SigningKeyRing, interval: float, stop: asyncio.Event, status: health.aio.HealthServicer
) -> None:
    """Every replica picks up keys rotated by ``bijmantra-identity rotate-keys``, no restart.
    The gRPC health status follows the database, as ``/health/ready`` does (the probes ask
    the health listener: they cannot present a client certificate, ADR 0176)."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
        if stop.is_set():
            return
        try:
            await ring.load()
        except Exception:  # PostgreSQL away: keep serving with the keys we have
            log.warning("signing keys reload failed; keeping the loaded keys", exc_info=True)
            await status.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        else:
            await status.set("", health_pb2.HealthCheckResponse.SERVING)


class LoginRequest(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    email: str
    password: str
    organization_id: uuid.UUID | None = None


@get("/health/live", sync_to_thread=False)
def live() -> dict[str, str]:
    return {"status": "ok"}


@get("/health/startup")
async def startup(state: State) -> Response[dict[str, str]]:
    ready = bool(state.ring.keys)
    return Response({"status": "ok" if ready else "starting"}, status_code=200 if ready else 503)


@get("/health/ready")
async def ready(state: State) -> Response[dict[str, str]]:
    if not await state.database_reachable():
        return Response({"status": "database unreachable"}, status_code=503)
    return Response({"status": "ok"})


@get("/.well-known/jwks.json")
async def jwks(state: State) -> dict[str, Any]:
    published: dict[str, Any] = state.ring.jwks()
    return published


@get("/.well-known/openid-configuration")
async def openid_configuration(state: State) -> dict[str, Any]:
    issuer = state.settings.issuer
    return {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": SCOPES_SUPPORTED,
        "claims_supported": ID_TOKEN_CLAIMS,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "subject_types_supported": ["public"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
    }


@post("/api/v1/auth/login", status_code=200)
async def password_login(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    try:
        body = decode_json(await request.body(), LoginRequest)
        issued = await state.login(
            body.email,
            body.password,
            body.organization_id,
            client_address=client_ip(request, state),
        )
    except BijmantraError as error:
        return error_response(request, error)
    return ok(request, organization_token_body(issued))


def bootstrap(settings: Settings, adapters: IdentityAdapters, tracing: Tracing) -> Litestar:
    """Wire identity's use cases, HTTP routes and gRPC server to ``adapters``."""
    observability = http_observability("identity", tracing)
    ring = SigningKeyRing(adapters.signing_keys, publish_delay=settings.key_publish_delay)
    issuer = JwtIssuer(
        ring, issuer=settings.issuer, audience=settings.audience, ttl=settings.access_token_ttl
    )
    hasher, users, clients = adapters.hasher, adapters.users, adapters.clients
    tenancy, limiter, revocations = adapters.tenancy, adapters.limiter, adapters.revocations
    revocation_ttl = settings.access_token_ttl + 60  # a token's life and the verifiers' leeway
    sessions = RefreshSessions(
        adapters.refresh_tokens,
        users,
        issuer,
        token_ttl=timedelta(seconds=settings.refresh_token_ttl),
        family_ttl=timedelta(seconds=settings.refresh_family_ttl),
        revocations=revocations,
        revocation_ttl=revocation_ttl,
    )
    login = LoginWithPassword(
        users, hasher, issuer, sessions=sessions, limiter=limiter, events=adapters.events
    )
    browser = BrowserSessions(
        login,
        adapters.browser_sessions,
        users,
        issuer,
        ttl=timedelta(seconds=settings.session_ttl),
        revocations=revocations,
        token_ttl=revocation_ttl,
    )
    codes = AuthorizationCodes(adapters.codes, users, issuer, sessions)
    mail_wake = asyncio.Event()
    deliver = None
    if adapters.mailer is not None:
        deliver = DeliverInvitations(
            tenancy,
            adapters.due_invitations,
            adapters.mailer,
            settings.invitation_url or f"{settings.issuer}/api/v1/auth/invitations/accept",
        )

    async def own_keys() -> KeySetSerialization:
        return ring.jwks()

    state = State(
        {
            "settings": settings,
            "database_reachable": adapters.database_reachable,
            "ring": ring,
            "users": users,
            "login": login,
            "browser": browser,
            "oauth_server": IdentityAuthorizationServer(
                clients,
                codes,
                IdentityOpenIDCode(
                    ring, users, issuer=settings.issuer, ttl=settings.access_token_ttl
                ),
            ),
            "trusted_proxies": parse_networks(settings.trusted_proxies),
            "create_organization": CreateOrganization(tenancy, settings.max_organizations_per_user),
            "get_organization": GetOrganization(tenancy),
            "update_organization": UpdateOrganization(tenancy),
            "list_members": ListMembers(tenancy),
            "invite_member": InviteMember(tenancy, wake=mail_wake.set),
            "list_invitations": ListInvitations(tenancy),
            "revoke_invitation": RevokeInvitation(tenancy),
            "change_member_roles": ChangeMemberRoles(tenancy, revocations, revocation_ttl),
            "remove_member": RemoveMember(tenancy, revocations, revocation_ttl),
            "revocations": revocations,
            "revocation_ttl": revocation_ttl,
            "accept_invitation": AcceptInvitation(
                tenancy, hasher.hash, hasher.verify, limiter=limiter
            ),
            "my_profile": GetMyProfile(users),
            "sessions": sessions,
            "authenticate_client": ClientAuthenticator(clients),
            "client_credentials": ClientCredentials(issuer, clients),
            "verifier": JwtVerifier(
                own_keys,
                issuer=settings.issuer,
                audience=settings.audience,
                refetch_interval=0,
                revocations=revocations,
            ),
        }
    )

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await ring.load()
        if revocations is not None:  # before the first token; a Redis that evicts is refused
            try:
                await revocations.begin()
            except Unavailable:  # Redis down: the first check after begins it (ADR 0336)
                log.warning("identity started without Redis: the revocation list begins later")
        server = grpc.aio.server(
            interceptors=[
                *tracing.grpc_server_interceptors(),
                GrpcServerMetrics(),
                ErrorInterceptor(),  # the catch-all of every method
            ],
            options=SERVER_OPTIONS,
        )
        identity_service_pb2_grpc.add_IdentityServiceServicer_to_server(
            IdentityServicer(ring), server
        )
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        add_listener(server, f"{settings.bind_host}:{settings.grpc_port}", settings.tls)
        await server.start()
        await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        probes = await start_probe_listener(
            health_servicer, settings.bind_host, settings.health_port
        )
        metrics = (
            serve_metrics(settings.metrics_port, settings.bind_host)
            if settings.metrics_port
            else None
        )
        log.info("identity serving", port=settings.port, grpc_port=settings.grpc_port)
        stop = asyncio.Event()
        key_reloader = asyncio.create_task(
            _reload_keys(ring, settings.key_reload_interval, stop, health_servicer)
        )
        mailer = None
        if deliver is not None:
            with untraced():
                mailer = asyncio.create_task(
                    invitation_edge.mail_invitations(
                        deliver, mail_wake, stop, settings.mail_retry_interval
                    )
                )
        running = [await start(stop) for start in adapters.background]
        try:
            yield
        finally:
            stop.set()
            await key_reloader
            if mailer is not None:
                await mailer
            for end in running:
                await end()
            await server.stop(grace=5)
            if probes is not None:
                await probes.stop(None)
            if metrics is not None:
                metrics.shutdown()
            await close_all(adapters.closers)
            tracing.shutdown()

    return Litestar(
        route_handlers=[
            live,
            startup,
            ready,
            jwks,
            openid_configuration,
            password_login,
            token,
            revoke,
            userinfo,
            *platform.HANDLERS,
            *invitation_edge.HANDLERS,
            *browser_edge.HANDLERS,
            *observability.route_handlers,
        ],
        state=state,
        exception_handlers={
            BijmantraError: error_response,
            HTTPException: http_exception_handler,
            Exception: unexpected_error_handler,  # the catch-all
        },
        lifespan=[lifespan],
        plugins=observability.plugins,
        middleware=observability.middleware,
        guards=[single_valued_parameters],  # one rule for a repeated parameter (ADR 0314)
        openapi_config=None,
        # Every identity body is small: past the bound, Litestar stops reading and answers 413
        # (it read up to its 10 MB default, then the JSON decoder said 422).
        request_max_body_size=MAX_BODY,
    )
