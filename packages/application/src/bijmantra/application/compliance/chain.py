"""The audit trail's hash chain: how an entry's hash is made and how a chain is checked.

Each tenant has its own chain. Entry ``n`` stores ``hash_n = SHA-256(hash_{n-1} ‖ n ‖
recorded_at ‖ envelope)`` (``hash_0`` = 32 zero bytes), where ``envelope`` is the event
exactly as stored. Changing any stored byte, removing an entry or reordering entries
breaks a link; the chain head kept beside the log also exposes a removed tail.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import msgspec
from bijmantra.application.events.envelope import EventEnvelope

GENESIS_HASH = bytes(32)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_raw_envelope = msgspec.json.Decoder(EventEnvelope)
MAX_REPORTED_PROBLEMS = 100


def microseconds(moment: datetime) -> int:
    """Exact integer microseconds since the epoch (PostgreSQL's timestamp precision)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def chain_hash(prev_hash: bytes, position: int, recorded_at: datetime, envelope: bytes) -> bytes:
    digest = hashlib.sha256(prev_hash)
    digest.update(position.to_bytes(8, "big"))
    digest.update(microseconds(recorded_at).to_bytes(8, "big", signed=True))
    digest.update(envelope)
    return digest.digest()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One stored entry. ``event_id`` … ``occurred_at`` are query columns copied from
    ``envelope``; verification checks that they still agree with it."""

    tenant_id: str
    position: int
    event_id: str
    event_type: str
    subject: str
    actor: str | None
    occurred_at: datetime
    recorded_at: datetime
    envelope: bytes
    prev_hash: bytes
    hash: bytes


@dataclass(frozen=True, slots=True)
class ChainHead:
    position: int
    hash: bytes


def next_entry(
    head: ChainHead | None, event: EventEnvelope, envelope: bytes, recorded_at: datetime
) -> AuditEntry:
    """The entry that appends ``event`` (stored as ``envelope`` bytes) after ``head``."""
    prev_hash = head.hash if head else GENESIS_HASH
    position = (head.position if head else 0) + 1
    return AuditEntry(
        tenant_id=event.tenant_id,
        position=position,
        event_id=event.id,
        event_type=event.type,
        subject=event.subject,
        actor=event.actor,
        occurred_at=event.time,
        recorded_at=recorded_at,
        envelope=envelope,
        prev_hash=prev_hash,
        hash=chain_hash(prev_hash, position, recorded_at, envelope),
    )


@dataclass(frozen=True, slots=True)
class ChainProblem:
    position: int
    problem: str


@dataclass
class ChainVerdict:
    entries_checked: int = 0
    head_position: int = 0
    problems: list[ChainProblem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems

    def report(self, position: int, problem: str) -> None:
        if len(self.problems) < MAX_REPORTED_PROBLEMS:
            self.problems.append(ChainProblem(position, problem))


def _content_problem(entry: AuditEntry, tenant_id: str) -> str | None:
    try:
        event = _raw_envelope.decode(entry.envelope)
    except (msgspec.DecodeError, ValueError):  # ValueError: bytes that are not UTF-8
        return "stored event is not a valid envelope"
    copies = (
        (event.tenant_id, tenant_id, "tenant"),
        (event.id, entry.event_id, "event id"),
        (event.type, entry.event_type, "event type"),
        (event.subject, entry.subject, "subject"),
        (event.actor, entry.actor, "actor"),
        (microseconds(event.time), microseconds(entry.occurred_at), "time"),
    )
    for in_event, in_row, name in copies:
        if in_event != in_row:
            return f"{name} column differs from the stored event"
    return None


async def verify_chain(
    tenant_id: str, entries: AsyncIterable[AuditEntry], head: ChainHead | None
) -> ChainVerdict:
    """Walk a tenant's entries (up to ``head``) in position order and report every broken link."""
    verdict = ChainVerdict(head_position=head.position if head else 0)
    expected_position, prev_hash = 1, GENESIS_HASH
    async for entry in entries:
        verdict.entries_checked += 1
        if entry.position != expected_position:
            verdict.report(
                expected_position, f"entries {expected_position}..{entry.position - 1} are missing"
            )
        if entry.prev_hash != prev_hash:
            verdict.report(entry.position, "does not link to the previous entry's hash")
        if entry.hash != chain_hash(
            entry.prev_hash, entry.position, entry.recorded_at, entry.envelope
        ):
            verdict.report(entry.position, "content does not match its hash")
        if (problem := _content_problem(entry, tenant_id)) is not None:
            verdict.report(entry.position, problem)
        expected_position, prev_hash = entry.position + 1, entry.hash
    last_position = expected_position - 1
    if head is not None and (head.position, head.hash) != (last_position, prev_hash):
        verdict.report(
            head.position, f"chain head is at {head.position} but the log ends at {last_position}"
        )
    return verdict
