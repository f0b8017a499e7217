"""Platform API use cases: organizations, members, the caller's own profile (invitations:
``invitations.py``).

Each use case declares the permission it needs and checks it first, so the HTTP edge, a
future gRPC edge and the CLI enforce the same rule. Every write is one unit of work whose
identity events reach the outbox in the same transaction.

An organization's id *is* its tenant id: a principal can only ever address its own
organization. Any other id answers ``unauthorized`` (the token is not valid there), the
same whether that organization exists or not, so the answer confirms nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bijmantra.application.ports.transaction import Transaction
from bijmantra.application.revocation import RevocationList, millisecond_stamp
from bijmantra.application.security import (
    MEMBER_ROLES,
    Action,
    Permission,
    authorize,
    permissions,
)
from bijmantra.application.tenancy.login import Membership, UserRecord
from bijmantra.application.use_case import ClockedUseCase, existing
from bijmantra.domain import DomainEvent
from bijmantra.kernel import (
    Clock,
    Conflict,
    FieldError,
    Forbidden,
    Principal,
    SystemClock,
    TenantId,
    Unauthorized,
    ValidationFailed,
    uuid7,
)

READ, ADMIN = permissions("tenancy", Action.READ, Action.ADMIN)
ROLES = MEMBER_ROLES  # service-client roles are never a member's
MAX_NAME = 200
MIN_PASSWORD = 12
MAX_ORGANIZATIONS_PER_USER = 10


@dataclass(frozen=True, slots=True)
class Organization:
    id: TenantId
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Member:
    user_id: uuid.UUID
    email: str
    display_name: str
    roles: frozenset[str]
    joined_at: datetime


@dataclass(frozen=True, slots=True)
class Profile:
    user: UserRecord
    organization_id: TenantId
    roles: frozenset[str]
    memberships: list[Membership]


class OrganizationRepository(Protocol):
    async def get(self) -> Organization | None:
        """The unit of work's own organization."""
        ...

    async def add(self, organization: Organization, founder: uuid.UUID) -> None:
        """Raise ``Conflict`` when the name is taken."""
        ...

    async def count_founded_by(self, founder: uuid.UUID) -> int:
        """Organizations this user founded; serialised per founder until the commit, so two
        concurrent creations cannot both pass the limit."""
        ...

    async def rename(self, name: str) -> None: ...


class MemberRepository(Protocol):
    async def list(self) -> list[Member]: ...

    async def get(self, user_id: uuid.UUID) -> Member | None: ...

    async def find_by_email(self, email: str) -> Member | None:
        """The member with this address (case-insensitive), if any."""
        ...

    async def add(self, user_id: uuid.UUID, roles: frozenset[str]) -> None: ...

    async def set_roles(self, user_id: uuid.UUID, roles: frozenset[str]) -> None: ...

    async def lock_admins(self) -> None:
        """Held until the transaction ends: changes to the organization's admins take turns,
        so "at least one admin" is counted after the other change has committed."""
        ...

    async def remove(self, user_id: uuid.UUID) -> None:
        """Delete the membership and revoke the user's refresh-token families in this tenant."""
        ...


class AccountRepository(Protocol):
    async def find_by_email(self, email: str) -> UserRecord | None: ...

    async def add(self, user: UserRecord) -> None: ...

    async def set_password(
        self, user_id: uuid.UUID, password_hash: str, display_name: str
    ) -> None: ...


class TenancyUnitOfWork(Transaction, Protocol):
    """One transaction scoped to one organization (row-level security)."""

    @property
    def organizations(self) -> OrganizationRepository: ...

    @property
    def members(self) -> MemberRepository: ...

    @property
    def accounts(self) -> AccountRepository: ...


TenancyUnitOfWorkFactory = Callable[[TenantId], TenancyUnitOfWork]


class ProfileLookup(Protocol):
    async def find_by_id(self, user_id: uuid.UUID) -> UserRecord | None: ...

    async def memberships(self, user_id: uuid.UUID) -> list[Membership]: ...


def tenancy_event(
    kind: str,
    tenant: TenantId,
    subject: object,
    actor: Principal | None,
    *,
    at: datetime,
    **data: object,
) -> DomainEvent:
    """``tenancy.<kind>`` events; subjects are users or organizations, never e-mail addresses."""
    return DomainEvent(
        type=f"tenancy.{kind}",
        tenant_id=tenant,
        aggregate_id=str(subject),
        data=dict(data),
        actor=None if actor is None else actor.subject,
        occurred_at=at,
    )


def _name(value: str) -> str:
    name = " ".join(value.split())
    if not name or len(name) > MAX_NAME:
        raise ValidationFailed(
            "Invalid organization name", [FieldError("name", f"1 to {MAX_NAME} characters")]
        )
    return name


def _roles(values: list[str]) -> frozenset[str]:
    roles = frozenset(values)
    if not roles or not roles <= ROLES:
        raise ValidationFailed(
            "Invalid roles",
            [FieldError("roles", f"a non-empty subset of {', '.join(sorted(ROLES))}")],
        )
    return roles


def _user_id(principal: Principal) -> uuid.UUID:
    """Only people (not machine clients) have a profile, create organizations or accept invites."""
    try:
        return uuid.UUID(principal.subject)
    except ValueError:
        raise Forbidden("Only users can do this, not machine clients") from None


def _own(principal: Principal, organization_id: uuid.UUID, permission: Permission) -> TenantId:
    """The organization a caller acts on, where it must hold ``permission`` (403). A token is
    valid for exactly one organization; any other id, existing or not, is 401."""
    authorize(principal, permission)
    if organization_id != principal.tenant_id:
        raise Unauthorized("The token is not valid for this organization")
    return principal.tenant_id


@dataclass
class CreateOrganization:
    """Any signed-in user may found an organization and becomes its first admin, up to
    ``limit`` organizations each (issue 17: organizations were unbounded)."""

    uow: TenancyUnitOfWorkFactory
    limit: int = MAX_ORGANIZATIONS_PER_USER
    clock: Clock = field(default_factory=SystemClock)

    async def __call__(self, principal: Principal, name: str) -> Organization:
        user_id = _user_id(principal)
        organization = Organization(TenantId(uuid7()), _name(name), self.clock.now())
        at = organization.created_at
        async with self.uow(organization.id) as uow:
            if await uow.organizations.count_founded_by(user_id) >= self.limit:
                raise Forbidden(f"A user may found at most {self.limit} organizations")
            await uow.organizations.add(organization, user_id)
            await uow.members.add(user_id, frozenset({"admin"}))
            uow.record(
                tenancy_event(
                    "organization.created",
                    organization.id,
                    organization.id,
                    principal,
                    at=at,
                    name=organization.name,
                )
            )
            uow.record(
                tenancy_event(
                    "member.added", organization.id, user_id, principal, at=at, roles=["admin"]
                )
            )
            await uow.commit()
        return organization


@dataclass
class GetOrganization:
    uow: TenancyUnitOfWorkFactory

    async def __call__(self, principal: Principal, organization_id: uuid.UUID) -> Organization:
        async with self.uow(_own(principal, organization_id, READ)) as uow:
            organization = await uow.organizations.get()
        return existing(organization, "Organization")


class UpdateOrganization(ClockedUseCase[TenancyUnitOfWork]):
    async def __call__(
        self, principal: Principal, organization_id: uuid.UUID, name: str
    ) -> Organization:
        tenant = _own(principal, organization_id, ADMIN)
        new_name = _name(name)
        async with self.uow(tenant) as uow:
            await uow.organizations.rename(new_name)
            uow.record(
                tenancy_event(
                    "organization.updated",
                    tenant,
                    tenant,
                    principal,
                    at=self.clock.now(),
                    name=new_name,
                )
            )
            organization = await uow.organizations.get()
            await uow.commit()
        assert organization is not None
        return organization


@dataclass
class ListMembers:
    uow: TenancyUnitOfWorkFactory

    async def __call__(self, principal: Principal, organization_id: uuid.UUID) -> list[Member]:
        async with self.uow(_own(principal, organization_id, READ)) as uow:
            return await uow.members.list()


async def _other_admins(uow: TenancyUnitOfWork, user_id: uuid.UUID) -> int:
    return sum(1 for m in await uow.members.list() if m.user_id != user_id and "admin" in m.roles)


async def _end_access(
    revocations: RevocationList | None, tenant: TenantId, user_id: uuid.UUID, clock: Clock, ttl: int
) -> None:
    """Every access token the member holds here, issued up to now, stops working (they refresh
    with what is left). Stamped before the commit (if the commit then fails, refreshing restores
    what they had) and again after it: a token minted with the old roles while the transaction
    ran is ended too, and one minted after the change never is (ADR 0324)."""
    if revocations is not None:
        stamp = millisecond_stamp(clock.now().timestamp())
        await revocations.revoke_member(tenant, str(user_id), stamp, ttl)


@dataclass
class ChangeMemberRoles:
    uow: TenancyUnitOfWorkFactory
    revocations: RevocationList | None = None
    token_ttl: int = 3600
    clock: Clock = field(default_factory=SystemClock)

    async def __call__(
        self, principal: Principal, organization_id: uuid.UUID, user_id: uuid.UUID, roles: list[str]
    ) -> Member:
        tenant = _own(principal, organization_id, ADMIN)
        granted = _roles(roles)
        async with self.uow(tenant) as uow:
            await uow.members.lock_admins()  # two admins demoting each other left none
            current = existing(await uow.members.get(user_id), "Member")
            if (
                "admin" in current.roles
                and "admin" not in granted
                and not await _other_admins(uow, user_id)
            ):
                raise Conflict("An organization must keep at least one admin")
            await _end_access(self.revocations, tenant, user_id, self.clock, self.token_ttl)
            await uow.members.set_roles(user_id, granted)
            uow.record(
                tenancy_event(
                    "member.role_changed",
                    tenant,
                    user_id,
                    principal,
                    at=self.clock.now(),
                    roles=sorted(granted),
                    previous_roles=sorted(current.roles),
                )
            )
            member = await uow.members.get(user_id)
            await uow.commit()
        await _end_access(self.revocations, tenant, user_id, self.clock, self.token_ttl)
        assert member is not None
        return member


@dataclass
class RemoveMember:
    """Removing a member also ends their refresh-token families in this organization and,
    through the revocation list, their access tokens there (issue 17, defect 7)."""

    uow: TenancyUnitOfWorkFactory
    revocations: RevocationList | None = None
    token_ttl: int = 3600
    clock: Clock = field(default_factory=SystemClock)

    async def __call__(
        self, principal: Principal, organization_id: uuid.UUID, user_id: uuid.UUID
    ) -> None:
        tenant = _own(principal, organization_id, ADMIN)
        async with self.uow(tenant) as uow:
            await uow.members.lock_admins()  # two admins demoting each other left none
            current = existing(await uow.members.get(user_id), "Member")
            if "admin" in current.roles and not await _other_admins(uow, user_id):
                raise Conflict("An organization must keep at least one admin")
            await _end_access(self.revocations, tenant, user_id, self.clock, self.token_ttl)
            await uow.members.remove(user_id)
            uow.record(
                tenancy_event("member.removed", tenant, user_id, principal, at=self.clock.now())
            )
            await uow.commit()
        await _end_access(self.revocations, tenant, user_id, self.clock, self.token_ttl)


@dataclass
class GetMyProfile:
    """``GET /api/v1/users/me``: who the token speaks for, and the organizations to choose from."""

    users: ProfileLookup

    async def __call__(self, principal: Principal) -> Profile:
        user = await self.users.find_by_id(_user_id(principal))
        if user is None:
            raise Unauthorized("Unknown user")
        memberships = await self.users.memberships(user.id)
        return Profile(user, principal.tenant_id, principal.roles, memberships)
