"""Password login: verify the user, pick exactly one organization, issue a scoped token.

Unknown users and wrong passwords take the same path (a dummy hash is verified) and get
the same answer, so neither timing nor message tells them apart.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bijmantra.application.tenancy.throttle import LoginAttemptLimiter
from bijmantra.domain import DomainEvent
from bijmantra.kernel import (
    Clock,
    FieldError,
    Forbidden,
    RateLimited,
    SystemClock,
    TenantId,
    Unauthorized,
    ValidationFailed,
)


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: uuid.UUID
    email: str
    display_name: str
    password_hash: str


@dataclass(frozen=True, slots=True)
class Membership:
    tenant_id: TenantId
    organization_name: str
    roles: frozenset[str]


@dataclass(frozen=True, slots=True)
class AccessGrant:
    """Whom an access token speaks for and what it allows; ``session_id`` (claim ``sid``)
    names the browser session it is minted for, so logging out can revoke it."""

    subject: str
    tenant_id: TenantId
    roles: frozenset[str]
    scope: str
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int
    tenant_id: TenantId
    roles: frozenset[str]
    refresh_token: str | None = None
    scope: str = ""


class UserDirectory(Protocol):
    async def find_by_email(self, email: str) -> UserRecord | None: ...

    async def find_by_id(self, user_id: uuid.UUID) -> UserRecord | None: ...

    async def memberships(self, user_id: uuid.UUID) -> list[Membership]: ...


class PasswordHasher(Protocol):
    def verify(self, password_hash: str, password: str) -> bool: ...

    def dummy_verify(self, password: str) -> None:
        """Spend the same time as ``verify`` when there is no user."""
        ...


class PasswordHashing(PasswordHasher, Protocol):
    """A hasher that also makes hashes (invitations set a password)."""

    def hash(self, password: str) -> str: ...


class RefreshSessionStarter(Protocol):
    async def start(
        self,
        grant: AccessGrant,
        *,
        user_id: uuid.UUID,
        client_id: str,
        scope: str,
        family_id: uuid.UUID | None = None,
    ) -> IssuedToken:
        """``grant``'s access token, the first of a new refresh-token family."""
        ...


class EventLog(Protocol):
    """Writes identity events to the outbox in a transaction of their own (for facts, such as a
    failed login, that change nothing else)."""

    async def record(self, *events: DomainEvent) -> None: ...


# Account-level events (a failed login names no organization) carry the nil UUID as tenant.
ACCOUNT_EVENTS = TenantId(uuid.UUID(int=0))


def login_failed(user: UserRecord | None, reason: str, at: datetime) -> DomainEvent:
    """No e-mail address in the event: unknown addresses would put guesses into the stream."""
    subject = str(user.id) if user is not None else "unknown"
    return DomainEvent(
        type="tenancy.login.failed",
        tenant_id=ACCOUNT_EVENTS,
        aggregate_id=subject,
        data={"reason": reason},
        occurred_at=at,
    )


class TokenIssuer(Protocol):
    def issue(self, grant: AccessGrant) -> IssuedToken: ...


INVALID_LOGIN = "Invalid email, password or organization"
TOO_MANY_ATTEMPTS = "Too many failed login attempts; try again later"


@dataclass
class LoginWithPassword:
    users: UserDirectory
    hasher: PasswordHasher
    tokens: TokenIssuer
    sessions: RefreshSessionStarter | None = None
    limiter: LoginAttemptLimiter | None = None
    events: EventLog | None = None
    client_id: str = "bijmantra-first-party"
    scope: str = "openid brapi"
    clock: Clock = field(default_factory=SystemClock)

    async def __call__(
        self,
        email: str,
        password: str,
        organization_id: uuid.UUID | None,
        *,
        client_address: str | None = None,
    ) -> IssuedToken:
        """Check the password (throttled), pick exactly one of the user's organizations and
        issue a token scoped to it."""
        user = await self.verify_password(email, password, client_address=client_address)
        chosen = choose_organization(await self.users.memberships(user.id), organization_id)
        grant = AccessGrant(str(user.id), chosen.tenant_id, chosen.roles, scope=self.scope)
        if self.sessions is None:
            return self.tokens.issue(grant)
        return await self.sessions.start(
            grant, user_id=user.id, client_id=self.client_id, scope=self.scope
        )

    async def verify_password(
        self, email: str, password: str, *, client_address: str | None = None
    ) -> UserRecord:
        if not email or not password:
            raise ValidationFailed(
                "email and password are required", [FieldError("email", "required")]
            )
        if self.limiter is not None:
            wait = await self.limiter.attempt(email, client_address)
            if wait > 0:
                # No password check while locked: a locked account gets no more guesses.
                await self._failed(None, "locked")
                raise RateLimited(
                    TOO_MANY_ATTEMPTS, [FieldError("retryAfter", str(max(1, round(wait))))]
                )
        user = await self.users.find_by_email(email)
        if user is None:
            self.hasher.dummy_verify(password)
        if user is None or not self.hasher.verify(user.password_hash, password):
            await self._failed(user, "invalid_credentials")
            raise Unauthorized(INVALID_LOGIN)
        if self.limiter is not None:
            await self.limiter.succeeded(email, client_address)
        return user

    async def _failed(self, user: UserRecord | None, reason: str) -> None:
        if self.events is not None:
            await self.events.record(login_failed(user, reason, self.clock.now()))


def choose_organization(
    memberships: list[Membership], organization_id: uuid.UUID | None
) -> Membership:
    """A token is scoped to exactly one organization: the one asked for, or the only one."""
    if organization_id is None and len(memberships) == 1:
        return memberships[0]
    matching = [m for m in memberships if m.tenant_id == organization_id]
    if not matching:
        if organization_id is None:
            raise ValidationFailed(
                "Choose an organization",
                [
                    FieldError(
                        "organizationId",
                        f"one of {', '.join(str(m.tenant_id) for m in memberships)}",
                    )
                ],
            )
        raise Forbidden("Not a member of that organization")
    return matching[0]
