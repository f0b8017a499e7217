"""Password login: verify the user, pick exactly one organization, issue a scoped token.

Unknown users and wrong passwords take the same path (a dummy hash is verified) and get
the same answer, so neither timing nor message tells them apart.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from bijmantra.kernel import FieldError, Forbidden, RateLimited, TenantId, Unauthorized, ValidationFailed

from bijmantra.application.tenancy.throttle import LoginAttemptLimiter


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
class IssuedToken:
    access_token: str
    expires_in: int
    tenant_id: TenantId
    roles: frozenset[str]
    refresh_token: str | None = None
    scope: str = ""


class UserDirectory(Protocol):
    async def find_by_email(self, email: str) -> UserRecord | None: ...

    async def memberships(self, user_id: uuid.UUID) -> list[Membership]: ...


class PasswordHasher(Protocol):
    def verify(self, password_hash: str, password: str) -> bool: ...

    def dummy_verify(self, password: str) -> None:
        """Spend the same time as ``verify`` when there is no user."""
        ...


class RefreshSessionStarter(Protocol):
    async def start(self, issued: IssuedToken, *, user_id: uuid.UUID, client_id: str, scope: str) -> IssuedToken: ...


class TokenIssuer(Protocol):
    def issue(self, *, subject: str, tenant_id: TenantId, roles: frozenset[str], scope: str) -> IssuedToken: ...


INVALID_LOGIN = "Invalid email, password or organization"
TOO_MANY_ATTEMPTS = "Too many failed login attempts; try again later"


@dataclass
class LoginWithPassword:
    users: UserDirectory
    hasher: PasswordHasher
    tokens: TokenIssuer
    sessions: RefreshSessionStarter | None = None
    limiter: LoginAttemptLimiter | None = None
    client_id: str = "bijmantra-first-party"
    scope: str = "openid brapi"

    async def __call__(
        self, email: str, password: str, organization_id: uuid.UUID | None, *, client_address: str | None = None
    ) -> IssuedToken:
        if not email or not password:
            raise ValidationFailed("email and password are required", [FieldError("email", "required")])
        if self.limiter is not None:
            wait = await self.limiter.retry_after(email, client_address)
            if wait > 0:
                # No password check while locked: a locked account gets no more guesses.
                raise RateLimited(TOO_MANY_ATTEMPTS, [FieldError("retryAfter", str(max(1, round(wait))))])
        user = await self.users.find_by_email(email)
        if user is None:
            self.hasher.dummy_verify(password)
        if user is None or not self.hasher.verify(user.password_hash, password):
            if self.limiter is not None:
                await self.limiter.failed(email, client_address)
            raise Unauthorized(INVALID_LOGIN)
        if self.limiter is not None:
            await self.limiter.succeeded(email, client_address)
        memberships = await self.users.memberships(user.id)
        if organization_id is None and len(memberships) == 1:
            chosen = memberships[0]
        else:
            matching = [m for m in memberships if m.tenant_id == organization_id]
            if not matching:
                if organization_id is None:
                    raise ValidationFailed(
                        "Choose an organization",
                        [FieldError("organizationId", f"member of {len(memberships)} organizations")],
                    )
                raise Forbidden("Not a member of that organization")
            chosen = matching[0]
        issued = self.tokens.issue(
            subject=str(user.id), tenant_id=chosen.tenant_id, roles=chosen.roles, scope=self.scope
        )
        if self.sessions is None:
            return issued
        return await self.sessions.start(issued, user_id=user.id, client_id=self.client_id, scope=self.scope)
