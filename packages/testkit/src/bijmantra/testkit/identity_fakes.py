"""In-memory fakes of identity's ports: users and memberships, refresh-token families,
OAuth clients, authorization codes, signing keys, browser sessions, the login limiter and
the password hasher. They share one ``IdentityTables``, as the adapters share the identity
schema, and keep the adapters' rules (a used refresh token revokes its family, a code is
consumed once, unretired keys newest first)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bijmantra.application.tenancy import (
    AccessGrant,
    IssuedToken,
    Membership,
    Organization,
    UserRecord,
)
from bijmantra.application.tenancy.authorization import AuthorizationCode, BrowserSession
from bijmantra.application.tenancy.invitations import PendingInvitation
from bijmantra.application.tenancy.throttle import ACCOUNT_POLICY, ADDRESS_POLICY, BackoffPolicy
from bijmantra.application.tenancy.tokens import (
    OAuthClient,
    Refresh,
    RefreshFamily,
    Rotation,
    RotationResult,
)
from bijmantra.domain import DomainEvent
from bijmantra.domain.tenancy.placement import Placement, PlacementDatabase
from bijmantra.kernel import Principal, TenantId
from bijmantra.testkit.console_fakes import FakeTokenVerifier
from bijmantra.testkit.session_fakes import FakeSessionMap


@dataclass
class StoredInvitation:
    tenant_id: TenantId
    invitation: PendingInvitation
    next_attempt_at: datetime
    token_hash: bytes | None = None
    sent_at: datetime | None = None
    send_attempts: int = 0
    accepted_at: datetime | None = None
    revoked_at: datetime | None = None

    def is_open(self, now: datetime) -> bool:
        return (
            self.accepted_at is None
            and self.revoked_at is None
            and self.invitation.expires_at > now
        )


@dataclass
class StoredFamily:
    family: RefreshFamily
    revoked_reason: str | None = None


@dataclass
class StoredRefreshToken:
    family_id: uuid.UUID
    expires_at: datetime
    used: bool = False


@dataclass
class IdentityTables:
    """The identity schema in memory; ``events`` is its outbox."""

    users: dict[uuid.UUID, UserRecord] = field(default_factory=dict)
    organizations: dict[TenantId, tuple[Organization, uuid.UUID | None]] = field(
        default_factory=dict
    )
    memberships: dict[tuple[TenantId, uuid.UUID], tuple[frozenset[str], datetime]] = field(
        default_factory=dict
    )
    families: dict[uuid.UUID, StoredFamily] = field(default_factory=dict)
    refresh_tokens: dict[bytes, StoredRefreshToken] = field(default_factory=dict)
    clients: dict[str, OAuthClient] = field(default_factory=dict)
    codes: dict[bytes, tuple[AuthorizationCode, bool]] = field(default_factory=dict)
    invitations: dict[uuid.UUID, StoredInvitation] = field(default_factory=dict)
    signing_keys: list[tuple[str, str, datetime, bool]] = field(default_factory=list)
    events: list[DomainEvent] = field(default_factory=list)

    def register_member(
        self,
        organization: Organization,
        user: UserRecord,
        roles: frozenset[str],
        *,
        joined_at: datetime | None = None,
    ) -> None:
        """As ``adapters.postgres.identity.register_member``: organization, user, membership."""
        self.organizations.setdefault(organization.id, (organization, None))
        self.users.setdefault(user.id, user)
        self.memberships[(organization.id, user.id)] = (roles, joined_at or datetime.now(UTC))

    def revoke_families_of(self, user_id: uuid.UUID, reason: str) -> None:
        for stored in self.families.values():
            if stored.family.user_id == user_id and stored.revoked_reason is None:
                stored.revoked_reason = reason


@dataclass
class FakeUserDirectory:
    """``UserDirectory``, ``MembershipLookup`` and ``ProfileLookup``."""

    tables: IdentityTables

    async def find_by_email(self, email: str) -> UserRecord | None:
        found = [u for u in self.tables.users.values() if u.email.lower() == email.lower()]
        return found[0] if found else None

    async def find_by_id(self, user_id: uuid.UUID) -> UserRecord | None:
        return self.tables.users.get(user_id)

    async def memberships(self, user_id: uuid.UUID) -> list[Membership]:
        found = [
            Membership(tenant, self.tables.organizations[tenant][0].name, roles)
            for (tenant, user), (roles, _) in self.tables.memberships.items()
            if user == user_id
        ]
        return sorted(found, key=lambda m: m.organization_name)


@dataclass
class FakeRefreshTokenStore:
    tables: IdentityTables

    async def start_family(
        self, family: RefreshFamily, token_hash: bytes, token_expires_at: datetime
    ) -> None:
        self.tables.families[family.id] = StoredFamily(family)
        self.tables.refresh_tokens[token_hash] = StoredRefreshToken(family.id, token_expires_at)

    async def rotate(self, refresh: Refresh) -> RotationResult:
        token = self.tables.refresh_tokens.get(refresh.old_hash)
        stored = None if token is None else self.tables.families[token.family_id]
        if token is None or stored is None or stored.family.tenant_id != refresh.tenant_id:
            return RotationResult(Rotation.INVALID)
        family = stored.family
        if stored.revoked_reason is not None:
            return RotationResult(Rotation.INVALID, family)
        if token.used:
            stored.revoked_reason = "reuse"
            self.tables.events.append(refresh.reuse_event(family))
            return RotationResult(Rotation.REUSED, family)
        if token.expires_at <= refresh.now or family.expires_at <= refresh.now:
            return RotationResult(Rotation.INVALID, family)
        refresh.check(family)  # raises before anything changes
        token.used = True
        self.tables.refresh_tokens[refresh.new_hash] = StoredRefreshToken(
            family.id, min(refresh.new_expires_at, family.expires_at)
        )
        return RotationResult(Rotation.ROTATED, family)

    async def revoke_family_of(
        self, tenant_id: TenantId, token_hash: bytes, client_id: str, reason: str
    ) -> bool:
        token = self.tables.refresh_tokens.get(token_hash)
        if token is None:
            return False
        stored = self.tables.families[token.family_id]
        if (
            stored.family.tenant_id != tenant_id
            or stored.family.client_id != client_id
            or stored.revoked_reason is not None
        ):
            return False
        stored.revoked_reason = reason
        return True

    async def revoke_family(self, tenant_id: TenantId, family_id: uuid.UUID, reason: str) -> None:
        stored = self.tables.families.get(family_id)
        if stored and stored.family.tenant_id == tenant_id and stored.revoked_reason is None:
            stored.revoked_reason = reason


@dataclass
class FakeOAuthClients:
    """``OAuthClientDirectory`` and ``KnownOrganizations``."""

    tables: IdentityTables

    async def find(self, client_id: str) -> OAuthClient | None:
        return self.tables.clients.get(client_id)

    async def exists(self, tenant_id: TenantId) -> bool:
        return tenant_id in self.tables.organizations


@dataclass
class FakeAuthorizationCodes:
    tables: IdentityTables

    async def save(self, code_hash: bytes, code: AuthorizationCode) -> None:
        self.tables.codes[code_hash] = (code, False)

    async def consume(
        self, tenant_id: TenantId, code_hash: bytes, client_id: str, now: datetime
    ) -> AuthorizationCode | None:
        code, used = self.tables.codes.get(code_hash, (None, True))
        if (
            code is None
            or used
            or code.tenant_id != tenant_id
            or code.client_id != client_id
            or code.expires_at <= now
        ):
            return None
        self.tables.codes[code_hash] = (code, True)
        return code

    async def was_used(self, tenant_id: TenantId, code_hash: bytes, client_id: str) -> bool:
        code, used = self.tables.codes.get(code_hash, (None, False))
        return code is not None and used and code.tenant_id == tenant_id


@dataclass
class FakeEventLog:
    tables: IdentityTables

    async def record(self, *events: DomainEvent) -> None:
        self.tables.events.extend(events)


@dataclass
class FakeDueInvitations:
    tables: IdentityTables

    async def due(
        self, now: datetime, limit: int, max_attempts: int
    ) -> list[tuple[TenantId, uuid.UUID]]:
        due = sorted(
            (stored.next_attempt_at, stored.tenant_id, stored.invitation.id)
            for stored in self.tables.invitations.values()
            if stored.sent_at is None
            and stored.is_open(now)
            and stored.next_attempt_at <= now
            and stored.send_attempts < max_attempts
        )
        return [(tenant, invitation) for _, tenant, invitation in due[:limit]]


@dataclass
class FakeSigningKeys:
    """Identity's signing-key store: unretired keys newest first."""

    tables: IdentityTables

    async def active(self) -> list[tuple[str, str, datetime]]:
        keys = [(kid, pem, at) for kid, pem, at, retired in self.tables.signing_keys if not retired]
        return sorted(keys, key=lambda k: (-k[2].timestamp(), k[0]))

    async def retire_all_but_newest(self, keep: int) -> list[str]:
        kept = {kid for kid, _, _ in (await self.active())[:keep]}
        retired = []
        for i, (kid, pem, at, gone) in enumerate(self.tables.signing_keys):
            if not gone and kid not in kept:
                self.tables.signing_keys[i] = (kid, pem, at, True)
                retired.append(kid)
        return retired

    async def add(
        self, kid: str, algorithm: str, private_pem: str, public_jwk: Mapping[str, object]
    ) -> None:
        self.tables.signing_keys.append((kid, private_pem, datetime.now(UTC), False))


@dataclass
class FakeBrowserSessions(FakeSessionMap[bytes, BrowserSession]):
    """The ``BrowserSessions`` port in memory."""

    ended: dict[uuid.UUID, datetime] = field(default_factory=dict)

    async def end_all(self, user_id: uuid.UUID, at: datetime, ttl: timedelta) -> None:
        self.ended[user_id] = at

    async def ended_at(self, user_id: uuid.UUID) -> datetime | None:
        return self.ended.get(user_id)


@dataclass
class FakeLoginLimiter:
    """``LoginAttemptLimiter`` with the real backoff policies; failures never expire."""

    account_policy: BackoffPolicy = ACCOUNT_POLICY
    address_policy: BackoffPolicy = ADDRESS_POLICY
    failures: dict[tuple[str, str | None], int] = field(default_factory=dict)
    address_failures: dict[str, int] = field(default_factory=dict)

    async def attempt(self, account: str, address: str | None) -> float:
        by_account = self.account_policy.lock_seconds(self.failures.get((account, address), 0))
        by_address = (
            self.address_policy.lock_seconds(self.address_failures.get(address, 0))
            if address is not None
            else 0.0
        )
        if max(by_account, by_address) > 0:
            return max(by_account, by_address)
        self.failures[(account, address)] = self.failures.get((account, address), 0) + 1
        if address is not None:
            self.address_failures[address] = self.address_failures.get(address, 0) + 1
        return 0.0

    async def succeeded(self, account: str, address: str | None) -> None:
        self.failures.pop((account, address), None)
        if address is not None and self.address_failures.get(address):
            self.address_failures[address] -= 1


class FakePasswordHasher:
    """``PasswordHasher`` without Argon2's cost: a hash is the password, marked."""

    PREFIX = "fake-hash$"

    def hash(self, password: str) -> str:
        return self.PREFIX + password

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == self.PREFIX + password

    def dummy_verify(self, password: str) -> None:
        return None


@dataclass
class FakeTokenIssuer:
    """``TokenIssuer`` whose access tokens are opaque names that ``verifier`` accepts."""

    verifier: FakeTokenVerifier = field(default_factory=FakeTokenVerifier)
    ttl: int = 600

    def issue(self, grant: AccessGrant) -> IssuedToken:
        token = f"fake-access-{len(self.verifier.principals) + 1}"
        self.verifier.principals[token] = Principal(
            subject=grant.subject,
            tenant_id=grant.tenant_id,
            roles=grant.roles,
            scopes=frozenset(grant.scope.split()),
        )
        return IssuedToken(token, self.ttl, grant.tenant_id, grant.roles, scope=grant.scope)


@dataclass
class FakePlacementDirectory:
    """``PlacementDirectory``: every organization in the shared database unless placed."""

    placements: dict[TenantId, Placement] = field(default_factory=dict)
    forgotten: int = 0

    async def placement_of(self, organization: TenantId) -> Placement:
        return self.placements.get(organization, Placement(organization))

    async def dedicated_databases(self) -> Sequence[PlacementDatabase]:
        return sorted({p.database for p in self.placements.values() if p.database is not None})

    def forget(self) -> None:
        self.forgotten += 1


def organization(name: str, *, at: datetime | None = None) -> Organization:
    """A new organization value for ``IdentityTables.register_member``."""
    return Organization(TenantId(uuid.uuid4()), name, at or datetime.now(UTC))


__all__ = [
    "FakeAuthorizationCodes",
    "FakeBrowserSessions",
    "FakeDueInvitations",
    "FakeEventLog",
    "FakeLoginLimiter",
    "FakeOAuthClients",
    "FakePasswordHasher",
    "FakePlacementDirectory",
    "FakeRefreshTokenStore",
    "FakeSigningKeys",
    "FakeTokenIssuer",
    "FakeUserDirectory",
    "IdentityTables",
    "StoredInvitation",
    "organization",
]
