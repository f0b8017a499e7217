"""An in-memory ``InvitationsUnitOfWork`` (organizations, members, accounts, invitations)
over ``IdentityTables``: work happens on a copy that ``commit`` swaps in with its events,
and each repository sees only the unit's organization, as row-level security would."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from bijmantra.application.tenancy import Member, Organization, UserRecord
from bijmantra.application.tenancy.invitations import PendingInvitation
from bijmantra.kernel import Conflict, TenantId
from bijmantra.testkit.identity_fakes import IdentityTables, StoredInvitation
from bijmantra.testkit.transaction import FakeTransaction


class FakeOrganizations:
    def __init__(self, tables: IdentityTables, tenant: TenantId) -> None:
        self._t, self._tenant = tables, tenant

    def _name_is_free(self, name: str) -> None:
        if any(o.name == name for o, _ in self._t.organizations.values()):
            raise Conflict("An organization with that name exists")

    async def get(self) -> Organization | None:
        found = self._t.organizations.get(self._tenant)
        return None if found is None else found[0]

    async def add(self, organization: Organization, founder: uuid.UUID) -> None:
        self._name_is_free(organization.name)
        self._t.organizations[organization.id] = (organization, founder)

    async def count_founded_by(self, founder: uuid.UUID) -> int:
        return sum(1 for _, by in self._t.organizations.values() if by == founder)

    async def rename(self, name: str) -> None:
        organization, founder = self._t.organizations[self._tenant]
        if organization.name != name:
            self._name_is_free(name)
        self._t.organizations[self._tenant] = (
            Organization(organization.id, name, organization.created_at),
            founder,
        )


class FakeMembers:
    def __init__(self, tables: IdentityTables, tenant: TenantId) -> None:
        self._t, self._tenant = tables, tenant

    def _all(self) -> list[Member]:
        return [
            Member(user, self._t.users[user].email, self._t.users[user].display_name, roles, at)
            for (tenant, user), (roles, at) in self._t.memberships.items()
            if tenant == self._tenant
        ]

    async def list(self) -> list[Member]:
        return sorted(self._all(), key=lambda m: m.email.lower())

    async def get(self, user_id: uuid.UUID) -> Member | None:
        return next((m for m in self._all() if m.user_id == user_id), None)

    async def find_by_email(self, email: str) -> Member | None:
        return next((m for m in self._all() if m.email.lower() == email.lower()), None)

    async def add(self, user_id: uuid.UUID, roles: frozenset[str]) -> None:
        if (self._tenant, user_id) in self._t.memberships:
            raise Conflict("Already a member")
        self._t.memberships[(self._tenant, user_id)] = (roles, datetime.now(UTC))

    async def set_roles(self, user_id: uuid.UUID, roles: frozenset[str]) -> None:
        if (found := self._t.memberships.get((self._tenant, user_id))) is not None:
            self._t.memberships[(self._tenant, user_id)] = (roles, found[1])

    async def lock_admins(self) -> None:
        """One event loop, no interleaving inside a use case: nothing to take turns with."""

    async def remove(self, user_id: uuid.UUID) -> None:
        self._t.memberships.pop((self._tenant, user_id), None)
        self._t.revoke_families_of(user_id, "membership_removed")


class FakeAccounts:
    def __init__(self, tables: IdentityTables, tenant: TenantId) -> None:
        self._t = tables

    async def find_by_email(self, email: str) -> UserRecord | None:
        return next((u for u in self._t.users.values() if u.email.lower() == email.lower()), None)

    async def add(self, user: UserRecord) -> None:
        if user.id in self._t.users or await self.find_by_email(user.email) is not None:
            raise Conflict("An account with that email exists")
        self._t.users[user.id] = user

    async def set_password(self, user_id: uuid.UUID, password_hash: str, display_name: str) -> None:
        user = self._t.users[user_id]
        self._t.users[user_id] = UserRecord(user.id, user.email, display_name, password_hash)


class FakeInvitations:
    def __init__(self, tables: IdentityTables, tenant: TenantId) -> None:
        self._t, self._tenant = tables, tenant

    def _own(self, invitation_id: uuid.UUID) -> StoredInvitation | None:
        stored = self._t.invitations.get(invitation_id)
        return stored if stored is not None and stored.tenant_id == self._tenant else None

    async def add(self, invitation: PendingInvitation) -> None:
        email = invitation.email.lower()
        for stored in self._t.invitations.values():
            if (
                stored.invitation.email.lower() == email
                and stored.accepted_at is None
                and stored.revoked_at is None
            ):
                stored.revoked_at = invitation.created_at  # the open offer is replaced
        self._t.invitations[invitation.id] = StoredInvitation(
            self._tenant, invitation, invitation.created_at
        )

    async def lock(self) -> None:
        """One process, one event loop: use cases already take turns here."""

    async def created_since(self, since: datetime) -> list[datetime]:
        return sorted(
            s.invitation.created_at
            for s in self._t.invitations.values()
            if s.tenant_id == self._tenant and s.invitation.created_at > since
        )

    async def open(self) -> list[PendingInvitation]:
        now = datetime.now(UTC)
        found = [
            s.invitation
            for s in self._t.invitations.values()
            if s.tenant_id == self._tenant and s.is_open(now)
        ]
        return sorted(found, key=lambda i: i.created_at)

    async def revoke(self, invitation_id: uuid.UUID, now: datetime) -> bool:
        stored = self._own(invitation_id)
        if stored is None or stored.accepted_at is not None or stored.revoked_at is not None:
            return False
        stored.revoked_at = now
        return True

    async def claim_unsent(
        self, invitation_id: uuid.UUID, now: datetime
    ) -> PendingInvitation | None:
        stored = self._own(invitation_id)
        if stored is None or stored.sent_at is not None or stored.next_attempt_at > now:
            return None
        return stored.invitation if stored.is_open(now) else None

    async def issue_token(
        self, invitation_id: uuid.UUID, token_hash: bytes, lease_until: datetime
    ) -> None:
        if (stored := self._own(invitation_id)) is not None:
            stored.token_hash, stored.next_attempt_at = token_hash, lease_until

    async def mark_sent(self, invitation_id: uuid.UUID, now: datetime) -> None:
        if (stored := self._own(invitation_id)) is not None:
            stored.sent_at = now

    async def delivery_failed(self, invitation_id: uuid.UUID) -> int:
        if (stored := self._own(invitation_id)) is None:
            return 0
        stored.send_attempts += 1
        return stored.send_attempts

    async def retry_at(self, invitation_id: uuid.UUID, when: datetime) -> None:
        if (stored := self._own(invitation_id)) is not None:
            stored.next_attempt_at = when

    async def take(self, token_hash: bytes, now: datetime) -> PendingInvitation | None:
        for stored in self._t.invitations.values():
            if (
                stored.tenant_id == self._tenant
                and stored.token_hash == token_hash
                and stored.is_open(now)
            ):
                return stored.invitation
        return None

    async def mark_accepted(
        self, invitation_id: uuid.UUID, user_id: uuid.UUID, now: datetime
    ) -> None:
        if (stored := self._own(invitation_id)) is not None:
            stored.accepted_at = now


class FakeTenancyUnitOfWork(FakeTransaction[IdentityTables]):
    """Implements ``InvitationsUnitOfWork`` (and so ``TenancyUnitOfWork``)."""

    organizations: FakeOrganizations
    members: FakeMembers
    accounts: FakeAccounts
    invitations: FakeInvitations

    def _open(self) -> None:
        self._work = copy.deepcopy(self._tables)
        self.organizations = FakeOrganizations(self._work, self.tenant_id)
        self.members = FakeMembers(self._work, self.tenant_id)
        self.accounts = FakeAccounts(self._work, self.tenant_id)
        self.invitations = FakeInvitations(self._work, self.tenant_id)

    async def commit(self) -> None:
        self._work.events.extend(self._take_events())
        for name in vars(self._tables):
            setattr(self._tables, name, getattr(self._work, name))
        self._work = copy.deepcopy(self._tables)  # the unit may go on after a commit
        for repository in (self.organizations, self.members, self.accounts, self.invitations):
            repository._t = self._work


def fake_tenancy_unit_of_work_factory(
    tables: IdentityTables,
) -> Callable[[TenantId], FakeTenancyUnitOfWork]:
    return lambda tenant: FakeTenancyUnitOfWork(tables, tenant)
