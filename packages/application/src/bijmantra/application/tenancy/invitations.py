"""Invitations: a pending offer of roles in one organization, delivered to the invited address.

The inviting admin never sees the token and learns nothing about whether the address has an
account (issue 17, defect 1: account pre-claiming). Inviting writes the offer and its event in
one transaction; ``DeliverInvitations`` then mails each offer: it generates the token, commits
only its hash, and sends the mail, so a token exists in plain text only in that mail.
Accepting requires the token (control of the mailbox): a new address chooses a password; an
existing account must also give its own password, so an account is never attached to an
organization without its owner.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from bijmantra.application.email import EmailSender, OutgoingEmail
from bijmantra.application.tenancy.login import TOO_MANY_ATTEMPTS, UserRecord
from bijmantra.application.tenancy.organizations import (
    ADMIN,
    MAX_NAME,
    MIN_PASSWORD,
    TenancyUnitOfWork,
    _own,
    _roles,
    tenancy_event,
)
from bijmantra.application.tenancy.throttle import LoginAttemptLimiter
from bijmantra.application.tenancy.tokens import hash_secret, new_tenant_bound_secret, tenant_of
from bijmantra.application.use_case import ClockedUseCase
from bijmantra.domain.tenancy.invitations import (
    INVITATION_WINDOW,
    MAX_INVITATIONS_PER_WINDOW,
    invitation_wait,
)
from bijmantra.kernel import (
    Clock,
    Conflict,
    FieldError,
    NotFound,
    Principal,
    RateLimited,
    SystemClock,
    TenantId,
    Unauthorized,
    ValidationFailed,
    uuid7,
)

INVITATION_TTL = timedelta(days=7)
MAX_EMAIL = 320
MAX_SEND_ATTEMPTS = 8
SEND_LEASE = timedelta(minutes=2)  # a mailer that died mid-send is replaced after this
INVALID = "Invitation is invalid, expired or already used"


@dataclass(frozen=True, slots=True)
class PendingInvitation:
    """What an admin sees of an offer: never the token, never whether the address has an account."""

    id: uuid.UUID
    email: str
    roles: frozenset[str]
    display_name: str
    invited_by: str
    created_at: datetime
    expires_at: datetime


class InvitationRepository(Protocol):
    """The unit of work's organization's invitations (row-level security)."""

    async def add(self, invitation: PendingInvitation) -> None:
        """Store an offer, replacing (revoking) an open offer to the same address
        (case-insensitive)."""
        ...

    async def lock(self) -> None:
        """Held until the transaction ends: the organization's invitations are made in turn."""
        ...

    async def created_since(self, since: datetime) -> list[datetime]:
        """When the organization's invitations made after ``since`` were made, oldest first
        (replaced and revoked ones included)."""
        ...

    async def open(self) -> list[PendingInvitation]:
        """Offers neither accepted, revoked nor expired... as of the database's clock."""
        ...

    async def revoke(self, invitation_id: uuid.UUID, now: datetime) -> bool: ...

    async def claim_unsent(
        self, invitation_id: uuid.UUID, now: datetime
    ) -> PendingInvitation | None:
        """Lock an offer due for delivery (``SKIP LOCKED``: another replica may be sending it)."""
        ...

    async def issue_token(
        self, invitation_id: uuid.UUID, token_hash: bytes, lease_until: datetime
    ) -> None:
        """Store the hash of a new token (replacing an earlier one) and hold the offer until
        ``lease_until`` while its mail is sent."""
        ...

    async def mark_sent(self, invitation_id: uuid.UUID, now: datetime) -> None: ...

    async def delivery_failed(self, invitation_id: uuid.UUID) -> int:
        """Count a failed send; return how many sends of this offer have failed."""
        ...

    async def retry_at(self, invitation_id: uuid.UUID, when: datetime) -> None: ...

    async def take(self, token_hash: bytes, now: datetime) -> PendingInvitation | None:
        """Lock the live offer with this token (not accepted, revoked or expired)."""
        ...

    async def mark_accepted(
        self, invitation_id: uuid.UUID, user_id: uuid.UUID, now: datetime
    ) -> None: ...


class InvitationsUnitOfWork(TenancyUnitOfWork, Protocol):
    @property
    def invitations(self) -> InvitationRepository: ...


class DueInvitations(Protocol):
    async def due(
        self, now: datetime, limit: int, max_attempts: int
    ) -> list[tuple[TenantId, uuid.UUID]]:
        """Offers of every organization that wait for (another) delivery attempt."""
        ...


def normalised_email(value: str) -> str:
    email = value.strip()
    local, at, domain = email.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain
        or len(email) > MAX_EMAIL
        or any(c.isspace() or ord(c) < 32 or c in '<>,;"' for c in email)
    ):
        raise ValidationFailed("Invalid e-mail address", [FieldError("email", "an e-mail address")])
    return email


@dataclass
class InviteMember(ClockedUseCase[InvitationsUnitOfWork]):
    """Offer roles to an address. The answer is the same whether or not the address has an
    account; only an existing *member* of this organization (whom the admin can list) is 409."""

    wake: Callable[[], None] = lambda: None  # nudges the mailer after the commit
    limit: int = MAX_INVITATIONS_PER_WINDOW

    async def __call__(
        self,
        principal: Principal,
        organization_id: uuid.UUID,
        email: str,
        roles: list[str],
        display_name: str = "",
    ) -> PendingInvitation:
        tenant = _own(principal, organization_id, ADMIN)
        granted = _roles(roles)
        address = normalised_email(email)
        now = self.clock.now()
        invitation = PendingInvitation(
            uuid7(), address, granted, " ".join(display_name.split())[:MAX_NAME],
            principal.subject, now, now + INVITATION_TTL,
        )  # fmt: skip
        async with self.uow(tenant) as uow:
            if await uow.members.find_by_email(address) is not None:
                raise Conflict("Already a member of this organization")
            await uow.invitations.lock()
            made = await uow.invitations.created_since(now - INVITATION_WINDOW)
            if (wait := invitation_wait(made, now, self.limit)) is not None:
                raise RateLimited(
                    f"An organization sends at most {self.limit} invitations a day",
                    [FieldError("retryAfter", str(max(1, math.ceil(wait.total_seconds()))))],
                )
            await uow.invitations.add(invitation)
            uow.record(
                tenancy_event(
                    "invitation.created",
                    tenant,
                    invitation.id,
                    principal,
                    at=now,
                    roles=sorted(granted),
                )
            )
            await uow.commit()
        self.wake()
        return invitation


@dataclass
class ListInvitations:
    uow: Callable[[TenantId], InvitationsUnitOfWork]

    async def __call__(
        self, principal: Principal, organization_id: uuid.UUID
    ) -> list[PendingInvitation]:
        async with self.uow(_own(principal, organization_id, ADMIN)) as uow:
            return await uow.invitations.open()


class RevokeInvitation(ClockedUseCase[InvitationsUnitOfWork]):
    async def __call__(
        self, principal: Principal, organization_id: uuid.UUID, invitation_id: uuid.UUID
    ) -> None:
        tenant = _own(principal, organization_id, ADMIN)
        async with self.uow(tenant) as uow:
            now = self.clock.now()
            if not await uow.invitations.revoke(invitation_id, now):
                raise NotFound("Invitation not found")
            uow.record(
                tenancy_event("invitation.revoked", tenant, invitation_id, principal, at=now)
            )
            await uow.commit()


def invitation_email(invitation: PendingInvitation, organization: str, link: str) -> OutgoingEmail:
    roles = ", ".join(sorted(invitation.roles))
    expires = invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    return OutgoingEmail(
        to=invitation.email,
        subject=f"Invitation to {organization} on Bijmantra"[:200],
        text=(
            f"You are invited to join {organization} on Bijmantra as {roles}.\n\n"
            f"Open this link to accept (it works once, until {expires}):\n{link}\n\n"
            "If you did not expect this, ignore this message: nothing changes unless you accept."
        ),
        message_id=f"<invitation-{invitation.id}@bijmantra>",
    )


@dataclass
class DeliverInvitations:
    """Mail every offer that waits for it, at least once (see module doc).

    A failed send schedules another attempt with a new token (exponential back-off); after
    ``MAX_SEND_ATTEMPTS`` the offer stays unsent until it expires or is re-issued."""

    uow: Callable[[TenantId], InvitationsUnitOfWork]
    due: DueInvitations
    sender: EmailSender
    accept_url: str  # the link: accept_url?token=<token>
    clock: Clock = field(default_factory=SystemClock)

    async def run_once(self, limit: int = 50) -> tuple[int, int]:
        """Send what is due; return (sent, failed)."""
        sent = failed = 0
        now = self.clock.now()
        for tenant, invitation_id in await self.due.due(now, limit, MAX_SEND_ATTEMPTS):
            try:
                sent += await self._deliver(tenant, invitation_id)
            except Exception:  # the SMTP server refused or was away: retry later
                failed += 1
                await self._retry_later(tenant, invitation_id, now)
        return sent, failed

    async def _deliver(self, tenant: TenantId, invitation_id: uuid.UUID) -> int:
        """Send one invitation's mail. Its writes (the token's hash, sent, a retry's time) are
        delivery bookkeeping and record no event (ADR 0388): ``tenancy.invitation.created``
        already put the invitation in the trail, and a token must never reach an event."""
        # The token's hash is committed before the mail leaves, so a link opened at once works;
        # the lease keeps other replicas off while this one sends.
        now = self.clock.now()
        async with self.uow(tenant) as uow:
            invitation = await uow.invitations.claim_unsent(invitation_id, now)
            organization = await uow.organizations.get()
            if invitation is None or organization is None:
                return 0
            token = new_tenant_bound_secret(tenant)
            await uow.invitations.issue_token(invitation_id, hash_secret(token), now + SEND_LEASE)
            await uow.commit()
        separator = "&" if "?" in self.accept_url else "?"
        link = f"{self.accept_url}{separator}token={token}"
        await self.sender.send(invitation_email(invitation, organization.name, link))
        async with self.uow(tenant) as uow:
            await uow.invitations.mark_sent(invitation_id, self.clock.now())
            await uow.commit()
        return 1

    async def _retry_later(self, tenant: TenantId, invitation_id: uuid.UUID, now: datetime) -> None:
        async with self.uow(tenant) as uow:
            attempts = await uow.invitations.delivery_failed(invitation_id)
            await uow.invitations.retry_at(invitation_id, now + retry_delay(attempts))
            await uow.commit()


def retry_delay(attempts: int) -> timedelta:
    """After the n-th failed send: 2^n seconds, at most ten minutes."""
    return timedelta(seconds=min(2 ** max(attempts, 0), 600))


@dataclass
class AcceptInvitation:
    """The holder of the link accepts: a new address chooses its password; an existing account
    proves it is its own with its password. Wrong proof leaves the offer open."""

    uow: Callable[[TenantId], InvitationsUnitOfWork]
    hash_password: Callable[[str], str]
    verify_password: Callable[[str, str], bool]
    clock: Clock = field(default_factory=SystemClock)
    # The login's limiter: the account's password is guessed no faster here (ADR 0331).
    limiter: LoginAttemptLimiter | None = None

    async def __call__(
        self,
        token: str,
        password: str,
        display_name: str = "",
        *,
        client_address: str | None = None,
    ) -> uuid.UUID:
        if len(password) > 1024:
            raise ValidationFailed("Password too long", [FieldError("password", "at most 1024")])
        tenant = tenant_of(token)
        if tenant is None:
            raise Unauthorized(INVALID)
        now = self.clock.now()
        async with self.uow(tenant) as uow:
            invitation = await uow.invitations.take(hash_secret(token), now)
            if invitation is None:
                raise Unauthorized(INVALID)
            user = await self._account(
                uow, invitation, tenant, password, display_name, client_address
            )
            if await uow.members.get(user.id) is None:
                await uow.members.add(user.id, invitation.roles)
                uow.record(
                    tenancy_event(
                        "member.added",
                        tenant,
                        user.id,
                        None,
                        at=now,
                        roles=sorted(invitation.roles),
                    )
                )
            await uow.invitations.mark_accepted(invitation.id, user.id, now)
            uow.record(tenancy_event("invitation.accepted", tenant, user.id, None, at=now))
            await uow.commit()
        return user.id

    async def _proven(self, user: UserRecord, password: str, address: str | None) -> None:
        """The account's own password, checked under the login's lock and back-off."""
        if self.limiter is not None:
            wait = await self.limiter.attempt(user.email, address)
            if wait > 0:
                raise RateLimited(
                    TOO_MANY_ATTEMPTS, [FieldError("retryAfter", str(max(1, round(wait))))]
                )
        if not self.verify_password(user.password_hash, password):
            raise Unauthorized("The password of the account with this address is required")
        if self.limiter is not None:
            await self.limiter.succeeded(user.email, address)

    async def _account(
        self,
        uow: InvitationsUnitOfWork,
        invitation: PendingInvitation,
        tenant: TenantId,
        password: str,
        display_name: str,
        client_address: str | None = None,
    ) -> UserRecord:
        user = await uow.accounts.find_by_email(invitation.email)
        if user is not None and user.password_hash:
            await self._proven(user, password, client_address)
            return user
        if len(password) < MIN_PASSWORD:
            raise ValidationFailed(
                "Password too short",
                [FieldError("password", f"at least {MIN_PASSWORD} characters")],
            )
        name = (
            " ".join(display_name.split())[:MAX_NAME]
            or invitation.display_name
            or invitation.email.split("@")[0]
        )
        if user is None:  # a new account, its address proven by the link
            user = UserRecord(uuid7(), invitation.email, name, self.hash_password(password))
            await uow.accounts.add(user)
            uow.record(
                tenancy_event(
                    "user.registered", tenant, user.id, None, at=self.clock.now(), via="invitation"
                )
            )
        else:  # an account made by an earlier invitation scheme, never given a password
            await uow.accounts.set_password(user.id, self.hash_password(password), name)
        return user
