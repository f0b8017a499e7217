"""Writing the audit trail: the audit consumer appends every event exactly once."""

from __future__ import annotations

from dataclasses import dataclass

from bijmantra.application.compliance.ports import AuditStore
from bijmantra.application.events import EventEnvelope, encode_envelope

AUDIT_CONSUMER = "compliance-audit"


@dataclass
class RecordAuditEntry:
    """Handler of every domain event; the store makes a redelivery a no-op."""

    store: AuditStore
    consumer: str = AUDIT_CONSUMER

    async def __call__(self, event: EventEnvelope) -> None:
        # The consumer hands events over un-upcast, so this re-encoding is the published form.
        await self.store.append(self.consumer, event, encode_envelope(event))

    async def batch(self, events: list[EventEnvelope]) -> None:
        """A fetched batch in one transaction (the consumer retries one by one on failure)."""
        await self.store.append_many(self.consumer, [(e, encode_envelope(e)) for e in events])
