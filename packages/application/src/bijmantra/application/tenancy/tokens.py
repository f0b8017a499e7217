"""Refresh tokens (rotation, reuse detection) and machine clients (client credentials).

A refresh token is an opaque string ``<tenant uuid hex>.<256 random bits>``. Only its
SHA-256 is stored. Every successful refresh marks the presented token used and issues a new
one in the same *family*; presenting a token that was already used means it leaked (or the
client is confused), so the whole family is revoked and the caller must log in again
(OAuth 2.0 Security BCP, section 4.14). Every access token of a family names it (claim
``sid``), so revoking the family on reuse also ends the access tokens it issued, the thief's
included (ADR 0331). The tenant prefix lets the store scope its lookup
with row-level security before it knows anything else about the token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum
from functools import partial
from typing import Protocol

from bijmantra.application.revocation import RevocationList
from bijmantra.application.security import SERVICE_CLIENT_ROLES
from bijmantra.application.tenancy.login import (
    AccessGrant,
    IssuedToken,
    Membership,
    TokenIssuer,
)
from bijmantra.domain import DomainEvent
from bijmantra.kernel import (
    Clock,
    Forbidden,
    SystemClock,
    TenantId,
    Unauthorized,
    ValidationFailed,
    uuid7,
)

FIRST_PARTY_CLIENT = "bijmantra-first-party"
INVALID_REFRESH = "Refresh token is invalid, expired or revoked"
INVALID_CLIENT = "Client authentication failed"


def hash_secret(secret: str) -> bytes:
    """SHA-256: enough for 256-bit random secrets (no dictionary to attack, unlike passwords)."""
    return hashlib.sha256(secret.encode()).digest()


def new_tenant_bound_secret(tenant_id: TenantId) -> str:
    return f"{tenant_id.hex}.{secrets.token_urlsafe(32)}"


def tenant_of(token: str) -> TenantId | None:
    prefix, dot, rest = token.partition(".")
    if not dot or not rest or len(prefix) != 32:
        return None
    try:
        return TenantId(uuid.UUID(hex=prefix))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class RefreshFamily:
    id: uuid.UUID
    tenant_id: TenantId
    user_id: uuid.UUID
    client_id: str
    scope: str
    expires_at: datetime


class Rotation(Enum):
    ROTATED = "rotated"
    REUSED = "reused"  # the family has been revoked
    INVALID = "invalid"


def _allow_any(family: RefreshFamily) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Refresh:
    """One refresh-token rotation as ``RefreshTokenStore.rotate`` carries it out: spend
    ``old_hash`` and add ``new_hash`` to its family, valid until ``new_expires_at``."""

    tenant_id: TenantId
    old_hash: bytes
    new_hash: bytes
    new_expires_at: datetime
    now: datetime
    reuse_event: Callable[[RefreshFamily], DomainEvent]
    check: Callable[[RefreshFamily], None] = _allow_any


@dataclass(frozen=True, slots=True)
class RotationResult:
    outcome: Rotation
    family: RefreshFamily | None = None


class RefreshTokenStore(Protocol):
    async def start_family(
        self, family: RefreshFamily, token_hash: bytes, token_expires_at: datetime
    ) -> None: ...

    async def rotate(self, refresh: Refresh) -> RotationResult:
        """Atomically: if ``refresh.old_hash`` is live, mark it used and store
        ``refresh.new_hash`` in its family.

        If it was already used, revoke its family (reason ``reuse``), write
        ``reuse_event(family)`` to the outbox in the same transaction and report ``REUSED``.
        Unknown, expired or revoked tokens are ``INVALID``. ``check(family)`` runs on a live
        token before anything is written; what it raises propagates and nothing changes (a
        request the family does not allow must not burn the token).
        """
        ...

    async def revoke_family_of(
        self, tenant_id: TenantId, token_hash: bytes, client_id: str, reason: str
    ) -> bool: ...

    async def revoke_family(
        self, tenant_id: TenantId, family_id: uuid.UUID, reason: str
    ) -> None: ...


class MembershipLookup(Protocol):
    async def memberships(self, user_id: uuid.UUID) -> list[Membership]: ...


@dataclass(frozen=True, slots=True)
class OAuthClient:
    client_id: str
    name: str
    secret_hash: bytes | None
    grant_types: frozenset[str]
    redirect_uris: tuple[str, ...]
    scope: frozenset[str]
    tenant_id: TenantId | None
    roles: frozenset[str]
    # A platform service client: names the organization it acts for on each token request.
    acts_for_tenants: bool = False

    @property
    def is_public(self) -> bool:
        return self.secret_hash is None

    def may_act_for(self, tenant: TenantId) -> bool:
        """An organization's own client (an app, a machine) acts only for that organization
        (ADR 0383); the platform's clients (the console, the first-party login) for any of
        their user's."""
        return self.tenant_id is None or self.tenant_id == tenant


class OAuthClientDirectory(Protocol):
    async def find(self, client_id: str) -> OAuthClient | None: ...


class KnownOrganizations(Protocol):
    async def exists(self, tenant_id: TenantId) -> bool: ...


class ClientDirectory(OAuthClientDirectory, KnownOrganizations, Protocol):
    """OAuth clients, and the organizations a platform client may name (one adapter)."""


class ClientNotAllowed(Forbidden):
    """The client authenticated but may not do what it asked (OAuth ``unauthorized_client``)."""


def reuse_detected(family: RefreshFamily, at: datetime) -> DomainEvent:
    return DomainEvent(
        type="tenancy.refresh_token.reuse_detected",
        tenant_id=family.tenant_id,
        aggregate_id=str(family.user_id),
        data={"family_id": str(family.id), "client_id": family.client_id},
        occurred_at=at,
    )


def _narrow_scope(requested: str | None, allowed: frozenset[str]) -> str:
    if requested is None or not requested.strip():
        return " ".join(sorted(allowed))
    asked = frozenset(requested.split())
    if not asked <= allowed:
        raise Forbidden(f"Scope not allowed: {' '.join(sorted(asked - allowed))}")
    return " ".join(sorted(asked))


@dataclass
class ClientAuthenticator:
    """Confidential clients prove their secret; public clients only name themselves."""

    clients: OAuthClientDirectory

    async def __call__(
        self, client_id: str | None, secret: str | None, *, grant_type: str
    ) -> OAuthClient:
        if not client_id:
            raise Unauthorized(INVALID_CLIENT)
        client = await self.clients.find(client_id)
        if client is None:
            hash_secret(secret or "")  # same work as a real check
            raise Unauthorized(INVALID_CLIENT)
        if client.secret_hash is not None:
            if secret is None or not hmac.compare_digest(client.secret_hash, hash_secret(secret)):
                raise Unauthorized(INVALID_CLIENT)
        elif secret is not None:
            raise Unauthorized(INVALID_CLIENT)
        if grant_type not in client.grant_types:
            raise Forbidden(f"Client may not use grant {grant_type}")
        return client


def family_session(family_id: uuid.UUID) -> str:
    """The ``sid`` of a refresh-token family's access tokens (browser sessions' are hashes)."""
    return f"refresh:{family_id}"


@dataclass
class RefreshSessions:
    """Starts, rotates and revokes refresh-token families."""

    store: RefreshTokenStore
    memberships: MembershipLookup
    tokens: TokenIssuer
    token_ttl: timedelta = timedelta(days=14)  # idle lifetime of one refresh token
    family_ttl: timedelta = timedelta(days=30)  # absolute lifetime of a login
    clock: Clock = field(default_factory=SystemClock)
    revocations: RevocationList | None = None  # a leaked family's access tokens end with it
    revocation_ttl: int = 3600  # how long one of its access tokens could still be valid (s)

    async def start(
        self,
        grant: AccessGrant,
        *,
        user_id: uuid.UUID,
        client_id: str,
        scope: str,
        family_id: uuid.UUID | None = None,
    ) -> IssuedToken:
        """Issue ``grant``'s access token as the first of a new refresh-token family (with
        the id an authorization code names, or a new one)."""
        now = self.clock.now()
        family = RefreshFamily(
            family_id or uuid7(), grant.tenant_id, user_id, client_id, scope, now + self.family_ttl
        )
        token = new_tenant_bound_secret(grant.tenant_id)
        await self.store.start_family(family, hash_secret(token), now + self.token_ttl)
        issued = self.tokens.issue(replace(grant, session_id=family_session(family.id)))
        return replace(issued, refresh_token=token)

    async def _end_access(self, family_id: uuid.UUID) -> None:
        """End the family's access tokens before they expire (where a revocation list is kept)."""
        if self.revocations is not None:
            await self.revocations.revoke_session(family_session(family_id), self.revocation_ttl)

    async def end_family(self, tenant_id: TenantId, family_id: uuid.UUID, reason: str) -> None:
        """Revoke a family's refresh tokens and its access tokens (a replayed code's)."""
        await self.store.revoke_family(tenant_id, family_id, reason)
        await self._end_access(family_id)

    async def refresh(
        self, refresh_token: str, client: OAuthClient, scope: str | None = None
    ) -> IssuedToken:
        tenant = tenant_of(refresh_token)
        if tenant is None:
            raise Unauthorized(INVALID_REFRESH)
        now = self.clock.now()
        new_token = new_tenant_bound_secret(tenant)
        granted = ""

        def check(family: RefreshFamily) -> None:
            # Issue 17 defect 6: an over-wide scope is refused before the token is rotated.
            nonlocal granted
            if family.client_id == client.client_id:
                granted = _narrow_scope(scope, frozenset(family.scope.split()))

        result = await self.store.rotate(
            Refresh(
                tenant,
                hash_secret(refresh_token),
                hash_secret(new_token),
                now + self.token_ttl,
                now,
                partial(reuse_detected, at=now),
                check,
            )
        )
        family = result.family
        if result.outcome is Rotation.REUSED and family is not None:
            await self._end_access(family.id)  # the store has revoked the family itself
        if result.outcome is not Rotation.ROTATED or family is None:
            raise Unauthorized(INVALID_REFRESH)
        if family.client_id != client.client_id:
            # A token presented by a client it was not issued to has leaked.
            await self.end_family(tenant, family.id, "wrong_client")
            raise Unauthorized(INVALID_REFRESH)
        if not client.may_act_for(tenant):
            # An organization's app given another organization's family before ADR 0383.
            await self.end_family(tenant, family.id, "client_organization")
            raise Unauthorized(INVALID_REFRESH)
        # Roles are read again: a removed member cannot keep refreshing.
        membership = next(
            (
                m
                for m in await self.memberships.memberships(family.user_id)
                if m.tenant_id == tenant
            ),
            None,
        )
        if membership is None:
            await self.store.revoke_family(tenant, family.id, "membership_removed")
            raise Unauthorized(INVALID_REFRESH)
        issued = self.tokens.issue(
            AccessGrant(
                str(family.user_id),
                tenant,
                membership.roles,
                scope=granted,
                session_id=family_session(family.id),
            )
        )
        return replace(issued, refresh_token=new_token)

    async def revoke(self, token: str, client: OAuthClient) -> None:
        """RFC 7009: revoking a refresh token ends its whole family; unknown tokens are ignored."""
        tenant = tenant_of(token)
        if tenant is not None:
            await self.store.revoke_family_of(
                tenant, hash_secret(token), client.client_id, "revoked"
            )


@dataclass
class ClientCredentials:
    """A machine client acts in the one organization it was registered for, with its roles.

    A platform service client (``acts_for_tenants``) has no organization: it names the one it
    acts for and gets only ``SERVICE_CLIENT_ROLES`` there; an organization's own client may
    not name another organization.
    """

    tokens: TokenIssuer
    organizations: KnownOrganizations

    async def __call__(
        self, client: OAuthClient, scope: str | None = None, organization_id: str | None = None
    ) -> IssuedToken:
        if client.is_public:
            raise Unauthorized(INVALID_CLIENT)
        if scope is not None and len(scope) > 1000:
            raise ValidationFailed("scope too long")
        granted = _narrow_scope(scope, client.scope)
        if client.acts_for_tenants:
            return await self._for_named_organization(client, organization_id, granted)
        if client.tenant_id is None:
            raise Unauthorized(INVALID_CLIENT)
        if organization_id is not None and not client.may_act_for(_organization(organization_id)):
            raise ClientNotAllowed("Client may act only for its own organization")
        return self.tokens.issue(
            AccessGrant(f"client:{client.client_id}", client.tenant_id, client.roles, granted)
        )

    async def _for_named_organization(
        self, client: OAuthClient, organization_id: str | None, granted: str
    ) -> IssuedToken:
        if organization_id is None:
            raise ValidationFailed("organization_id is required for this client")
        if not client.roles or not client.roles <= SERVICE_CLIENT_ROLES:
            raise ClientNotAllowed("Client has roles a platform client may not hold")
        tenant = _organization(organization_id)
        if not await self.organizations.exists(tenant):
            raise ValidationFailed("Unknown organization_id")
        return self.tokens.issue(
            AccessGrant(f"service:{client.client_id}", tenant, client.roles, granted)
        )


def _organization(value: str) -> TenantId:
    try:
        return TenantId(uuid.UUID(value))
    except ValueError:
        raise ValidationFailed("organization_id must be a UUID") from None
