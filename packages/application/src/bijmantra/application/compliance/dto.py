"""Edge documents of the audit trail (snake_case, as the rest of ``/api/v1``)."""

from __future__ import annotations

from datetime import datetime

import msgspec
from bijmantra.application.compliance.chain import AuditEntry
from bijmantra.application.compliance.queries import Activity

_encode = msgspec.json.encode


class AuditEntryDocument(msgspec.Struct, kw_only=True):
    position: int
    event_id: str
    event_type: str
    subject: str
    actor: str | None
    occurred_at: datetime
    recorded_at: datetime
    event: msgspec.Raw  # the envelope exactly as stored and hashed
    prev_hash: str
    hash: str


class ActivityDocument(msgspec.Struct, kw_only=True):
    event_id: str
    occurred_at: datetime
    actor: str | None
    action: str
    resource: str


class ChainProblemDocument(msgspec.Struct, kw_only=True):
    position: int
    problem: str


class ChainVerdictDocument(msgspec.Struct, kw_only=True):
    """``GET /api/v1/audit/verify``: whether the hash chain is intact, and where it is not."""

    valid: bool
    entries_checked: int
    head_position: int
    problems: list[ChainProblemDocument]


def entry_document(entry: AuditEntry) -> bytes:
    return _encode(
        AuditEntryDocument(
            position=entry.position,
            event_id=entry.event_id,
            event_type=entry.event_type,
            subject=entry.subject,
            actor=entry.actor,
            occurred_at=entry.occurred_at,
            recorded_at=entry.recorded_at,
            event=msgspec.Raw(entry.envelope),
            prev_hash=entry.prev_hash.hex(),
            hash=entry.hash.hex(),
        )
    )


def activity_document(activity: Activity) -> bytes:
    """``Activity`` has exactly ``ActivityDocument``'s fields, in its order."""
    return _encode(activity)
