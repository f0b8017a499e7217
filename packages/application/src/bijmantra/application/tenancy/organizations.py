"""Platform API use cases: organizations, members, invitations, the caller's own profile.

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
from datetime import datetime, timedelta
from types import TracebackType
from typing import Protocol, Self

from bijmantra.application.security import MEMBER_ROLES, Action, Permission, authorize
from bijmantra.application.tenancy.login import Membership, UserRecord
from bijmantra.application.tenancy.tokens import hash_secret, new_tenant_bound_secret, tenant_of
from bijmantra.domain import DomainEvent
from bijmantra.kernel import (
    Clock,
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    Principal,
    SystemClock,
    TenantId,
    Unauthorized,
    ValidationFailed,
    uuid7,
)

READ = Permission("tenancy", Action.READ)
ADMIN = Permission("tenancy", Action.ADMIN)
ROLES = MEMBER_ROLES  # service-client roles are never a member's
MAX_NAME = 200
INVITATION_TTL = timedelta(days=7)
MIN_PASSWORD = 12


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
class Invitation:
    token: str  # shown once, to the inviting admin; only its hash is stored
    member: Member
    expires_at: datetime


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

    async def add(self, organization: Organization) -> None:
        """Raise ``Conflict`` when the name is taken."""
        ...

    async def rename(self, name: str) -> None: ...


class MemberRepository(Protocol):
    async def list(self) -> list[Member]: ...

    async def get(self, user_id: uuid.UUID) -> Member | None: ...

    async def add(self, user_id: uuid.UUID, roles: frozenset[str]) -> None: ...

    async def set_roles(self, user_id: uuid.UUID, roles: frozenset[str]) -> None: ...

    async def remove(self, user_id: uuid.UUID) -> None:
        """Delete the membership and revoke the user's refresh-token families in this tenant."""
        ...


class AccountRepository(Protocol):
    async def find_by_email(self, email: str) -> UserRecord | None: ...

    async def add(self, user: UserRecord) -> None: ...

    async def set_password(
        self, user_id: uuid.UUID, password_hash: str, display_name: str
    ) -> None: ...

    async def add_invitation(
        self, token_hash: bytes, user_id: uuid.UUID, invited_by: str, expires_at: datetime
    ) -> None: ...

    async def accept_invitation(self, token_hash: bytes, now: datetime) -> uuid.UUID | None:
        """Mark a live invitation accepted (once); return its user, or None."""
        ...


class TenancyUnitOfWork(Protocol):
    """One transaction scoped to one organization (row-level security)."""

    organizations: OrganizationRepository
    members: MemberRepository
    accounts: AccountRepository

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def record(self, event: DomainEvent) -> None:
        """Queue an identity event; ``commit`` writes it to the outbox in the same transaction."""
        ...

    async def commit(self) -> None: ...


TenancyUnitOfWorkFactory = Callable[[TenantId], TenancyUnitOfWork]


class ProfileLookup(Protocol):
    async def find_by_id(self, user_id: uuid.UUID) -> UserRecord | None: ...

    async def memberships(self, user_id: uuid.UUID) -> list[Membership]: ...


def tenancy_event(
    kind: str, tenant: TenantId, subject: object, actor: Principal | None, **data: object
) -> DomainEvent:
    """``tenancy.<kind>`` events; subjects are users or organizations, never e-mail addresses."""
    return DomainEvent(
        type=f"tenancy.{kind}",
        tenant_id=tenant,
        aggregate_id=str(subject),
        data=dict(data),
        actor=None if actor is None else actor.subject,
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


def _own(principal: Principal, organization_id: uuid.UUID) -> TenantId:
    """A token is valid for exactly one organization; any other id, existing or not, is 401."""
    if organization_id != principal.tenant_id:
        raise Unauthorized("The token is not valid for this organization")
    return principal.tenant_id


@dataclass
class CreateOrganization:
    """Any signed-in user may found an organization; they become its first admin."""

    uow: TenancyUnitOfWorkFactory

    async def __call__(self, principal: Principal, name: str) -> Organization:
        user_id = _user_id(principal)
        organization = Organization(TenantId(uuid7()), _name(name), SystemClock().now())
        async with self.uow(organization.id) as uow:
            await uow.organizations.add(organization)
            await uow.members.add(user_id, frozenset({"admin"}))
            uow.record(
                tenancy_event(
                    "organization.created",
                    organization.id,
                    organization.id,
                    principal,
                    name=organization.name,
                )
            )
            uow.record(
                tenancy_event("member.added", organization.id, user_id, principal, roles=["admin"])
            )
            await uow.commit()
        return organization


@dataclass
class GetOrganization:
    uow: TenancyUnitOfWorkFactory

    async def __call__(self, principal: Principal, organization_id: uuid.UUID) -> Organization:
        authorize(principal, READ)
        async with self.uow(_own(principal, organization_id)) as uow:
            organization = await uow.organizations.get()
        if organization is None:
            raise NotFound("Organization not found")
        return organization


@dataclass
class UpdateOrganization:
    uow: TenancyUnitOfWorkFactory

    async def __call__(
        self, principal: Principal, organization_id: uuid.UUID, name: str
    ) -> Organization:
        authorize(principal, ADMIN)
        tenant = _own(principal, organization_id)
        new_name = _name(name)
        async with self.uow(tenant) as uow:
            await uow.organizations.rename(new_name)
            uow.record(
                tenancy_event("organization.updated", tenant, tenant, principal, name=new_name)
            )
            organization = await uow.organizations.get()
            await uow.commit()
        assert organization is not None
        return organization


@dataclass
class ListMembers:
    uow: TenancyUnitOfWorkFactory

    async def __call__(self, principal: Principal, organization_id: uuid.UUID) -> list[Member]:
        authorize(principal, READ)
        async with self.uow(_own(principal, organization_id)) as uow:
            return await uow.members.list()


@dataclass
class InviteMember:
    """Add a member by e-mail. An unknown address gets an account without a password and a
    one-time invitation token (returned once, for the admin to pass on)."""

    uow: TenancyUnitOfWorkFactory
    clock: Clock = field(default_factory=SystemClock)

    async def __call__(
        self,
        principal: Principal,
        organization_id: uuid.UUID,
        email: str,
        roles: list[str],
        display_name: str = "",
    ) -> Member | Invitation:
        authorize(principal, ADMIN)
        tenant = _own(principal, organization_id)
        granted = _roles(roles)
        email = email.strip()
        if "@" not in email or len(email) > 320:
            raise ValidationFailed(
                "Invalid e-mail address", [FieldError("email", "an e-mail address")]
            )
        async with self.uow(tenant) as uow:
            user = await uow.accounts.find_by_email(email)
            invitation = None
            if user is None:
                # An empty hash never verifies: no login before the invitation is accepted.
                user = UserRecord(
                    uuid7(), email, display_name.strip() or email.split("@")[0], password_hash=""
                )
                await uow.accounts.add(user)
                token = new_tenant_bound_secret(tenant)
                expires = self.clock.now() + INVITATION_TTL
                await uow.accounts.add_invitation(
                    hash_secret(token), user.id, principal.subject, expires
                )
                uow.record(
                    tenancy_event("user.registered", tenant, user.id, principal, via="invitation")
                )
                invitation = (token, expires)
            elif await uow.members.get(user.id) is not None:
                raise Conflict("Already a member of this organization")
            await uow.members.add(user.id, granted)
            uow.record(
                tenancy_event("member.added", tenant, user.id, principal, roles=sorted(granted))
            )
            member = await uow.members.get(user.id)
            await uow.commit()
        assert member is not None
        return member if invitation is None else Invitation(invitation[0], member, invitation[1])


async def _other_admins(uow: TenancyUnitOfWork, user_id: uuid.UUID) -> int:
    return sum(1 for m in await uow.members.list() if m.user_id != user_id and "admin" in m.roles)


@dataclass
class ChangeMemberRoles:
    uow: TenancyUnitOfWorkFactory

    async def __call__(
        self, principal: Principal, organization_id: uuid.UUID, user_id: uuid.UUID, roles: list[str]
    ) -> Member:
        authorize(principal, ADMIN)
        tenant = _own(principal, organization_id)
        granted = _roles(roles)
        async with self.uow(tenant) as uow:
            current = await uow.members.get(user_id)
            if current is None:
                raise NotFound("Member not found")
            if (
                "admin" in current.roles
                and "admin" not in granted
                and not await _other_admins(uow, user_id)
            ):
                raise Conflict("An organization must keep at least one admin")
            await uow.members.set_roles(user_id, granted)
            uow.record(
                tenancy_event(
                    "member.role_changed",
                    tenant,
                    user_id,
                    principal,
                    roles=sorted(granted),
                    previous_roles=sorted(current.roles),
                )
            )
            member = await uow.members.get(user_id)
            await uow.commit()
        assert member is not None
        return member


@dataclass
class RemoveMember:
    """Removing a member also ends their refresh-token families in this organization."""

    uow: TenancyUnitOfWorkFactory

    async def __call__(
        self, principal: Principal, organization_id: uuid.UUID, user_id: uuid.UUID
    ) -> None:
        authorize(principal, ADMIN)
        tenant = _own(principal, organization_id)
        async with self.uow(tenant) as uow:
            current = await uow.members.get(user_id)
            if current is None:
                raise NotFound("Member not found")
            if "admin" in current.roles and not await _other_admins(uow, user_id):
                raise Conflict("An organization must keep at least one admin")
            await uow.members.remove(user_id)
            uow.record(tenancy_event("member.removed", tenant, user_id, principal))
            await uow.commit()


@dataclass
class AcceptInvitation:
    """The invitee proves the one-time token and chooses a password (and a display name)."""

    uow: TenancyUnitOfWorkFactory
    hash_password: Callable[[str], str]
    clock: Clock = field(default_factory=SystemClock)

    async def __call__(self, token: str, password: str, display_name: str) -> uuid.UUID:
        if len(password) < MIN_PASSWORD or len(password) > 1024:
            raise ValidationFailed(
                "Password too short",
                [FieldError("password", f"at least {MIN_PASSWORD} characters")],
            )
        tenant = tenant_of(token)
        if tenant is None:
            raise Unauthorized("Invitation is invalid, expired or already used")
        async with self.uow(tenant) as uow:
            user_id = await uow.accounts.accept_invitation(hash_secret(token), self.clock.now())
            if user_id is None:
                raise Unauthorized("Invitation is invalid, expired or already used")
            member = await uow.members.get(user_id)
            name = " ".join(display_name.split())[:MAX_NAME] or (
                member.display_name if member else ""
            )
            await uow.accounts.set_password(user_id, self.hash_password(password), name)
            uow.record(tenancy_event("invitation.accepted", tenant, user_id, None))
            await uow.commit()
        return user_id


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
