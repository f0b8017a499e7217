"""A device's enrolment as a state machine: register -> claim code -> claimed -> commissioned.

Each step is its own call, a move in ``ENROLMENT_LIFECYCLE``. A step taken out of order or a
claim code used twice is a conflict (409); an expired code or a missed commissioning window is
gone (410). Only hashes of the claim code and of the device credential are ever held.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from bijmantra.domain.sensors.presence import PresenceChange, device_status
from bijmantra.kernel import Conflict, Gone, TenantId, Unauthorized
from bijmantra.kernel.lifecycle import StateMachine

CLAIM_CODE_TTL = timedelta(hours=24)
# A claimed device must send its first valid reading within this window to be commissioned.
COMMISSION_WINDOW = timedelta(days=7)


class EnrolmentState(StrEnum):
    REGISTERED = "registered"
    CLAIM_ISSUED = "claim_issued"
    CLAIMED = "claimed"
    COMMISSIONED = "commissioned"
    REVOKED = "revoked"


class EnrolmentAction(StrEnum):
    ISSUE_CLAIM = "issued a claim code"
    CLAIM = "claimed"
    COMMISSION = "commissioned"
    REVOKE = "revoked"


ENROLMENT_LIFECYCLE: StateMachine[EnrolmentState, EnrolmentAction] = StateMachine.by_action(
    "device",
    {
        # Re-issuing before the claim replaces the previous code.
        EnrolmentAction.ISSUE_CLAIM: (
            (EnrolmentState.REGISTERED, EnrolmentState.CLAIM_ISSUED),
            EnrolmentState.CLAIM_ISSUED,
        ),
        EnrolmentAction.CLAIM: ((EnrolmentState.CLAIM_ISSUED,), EnrolmentState.CLAIMED),
        EnrolmentAction.COMMISSION: ((EnrolmentState.CLAIMED,), EnrolmentState.COMMISSIONED),
        # Any device not yet revoked can be.
        EnrolmentAction.REVOKE: (
            [state for state in EnrolmentState if state is not EnrolmentState.REVOKED],
            EnrolmentState.REVOKED,
        ),
    },
)

# The states in which a device holds a credential it may sign in with (HTTPS and MQTT): a
# registered device has none yet, a revoked one none any more (it is retired for good).
CONNECTABLE = frozenset({EnrolmentState.CLAIMED, EnrolmentState.COMMISSIONED})


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a device stands: a location, optionally in a study or a seed store."""

    location_db_id: str
    study_db_id: str | None = None
    seed_store: str | None = None


@dataclass(frozen=True, slots=True)
class Device:
    tenant_id: TenantId
    device_id: str
    name: str
    profile_id: str
    placement: Placement
    state: EnrolmentState
    created_at: datetime
    claim_hash: str | None = None
    claim_expires_at: datetime | None = None
    claimed_at: datetime | None = None
    credential_hash: str | None = None
    commissioned_at: datetime | None = None
    revoked_at: datetime | None = None
    last_seen_at: datetime | None = None
    # The last presence change the analytics-worker reported (ADR 0306), None before any.
    reported: PresenceChange | None = None

    def issue_claim(self, code_hash: str, now: datetime) -> Device:
        """A new one-time code; re-issuing before the claim replaces the previous code."""
        return replace(
            self,
            state=ENROLMENT_LIFECYCLE.next(self.state, EnrolmentAction.ISSUE_CLAIM),
            claim_hash=code_hash,
            claim_expires_at=now + CLAIM_CODE_TTL,
        )

    def claim(self, code_hash: str, credential_hash: str, now: datetime) -> Device:
        """The device presents its code and receives a credential (its hash is kept)."""
        if self.claim_hash != code_hash:  # no code held: never issued, or used already
            raise Conflict("Claim code already used or not issued for this device")
        claimed = ENROLMENT_LIFECYCLE.next(self.state, EnrolmentAction.CLAIM)
        assert self.claim_expires_at is not None
        if now >= self.claim_expires_at:
            raise Gone("Claim code expired; ask for a new one")
        return replace(
            self,
            state=claimed,
            claim_hash=None,
            claim_expires_at=None,
            claimed_at=now,
            credential_hash=credential_hash,
        )

    def accepts_readings(self, credential_hash: str, now: datetime) -> Device:
        """The device as it stands after a reading: commissioned by its first one."""
        if self.credential_hash is None or self.credential_hash != credential_hash:
            raise Unauthorized("Device credential not valid")
        if self.state is EnrolmentState.COMMISSIONED:
            return self
        commissioned = ENROLMENT_LIFECYCLE.next(self.state, EnrolmentAction.COMMISSION)
        assert self.claimed_at is not None
        if now >= self.claimed_at + COMMISSION_WINDOW:
            # No new claim code for a claimed device (ADR 0365): a live MQTT connection opened
            # with the superseded credential would go on being accepted (the bridge knows the
            # device its topic names, not the credential it signed in with).
            raise Gone("Commissioning window passed; revoke the device and register it again")
        return replace(self, state=commissioned, commissioned_at=now)

    def revoke(self, now: datetime) -> Device:
        return replace(
            self,
            state=ENROLMENT_LIFECYCLE.next(self.state, EnrolmentAction.REVOKE),
            revoked_at=now,
            credential_hash=None,
            claim_hash=None,
            claim_expires_at=None,
        )

    def seen(self, now: datetime) -> Device:
        return replace(self, last_seen_at=now)

    @property
    def status(self) -> PresenceChange:
        return device_status(self.last_seen_at, self.reported)
