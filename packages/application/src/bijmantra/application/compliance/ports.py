"""The audit trail's port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from bijmantra.application.compliance.chain import AuditEntry, ChainHead
from bijmantra.application.events.envelope import EventEnvelope
from bijmantra.kernel import Page, PageRequest, TenantId


class AuditStore(Protocol):
    """The append-only audit trail of one service's schema (tenant-scoped reads)."""

    async def append(self, consumer: str, event: EventEnvelope, envelope: bytes) -> bool:
        """Append once per event (False when ``consumer`` already recorded it)."""
        ...

    async def append_many(
        self, consumer: str, events: Sequence[tuple[EventEnvelope, bytes]]
    ) -> int:
        """Append a batch atomically, skipping recorded events; return how many were new."""
        ...

    async def page(
        self, tenant_id: TenantId, page: PageRequest, *, resource: str | None = None
    ) -> Page[AuditEntry]:
        """Entries in position order; with ``resource``, those about it (as their subject or
        as an item of a bulk event)."""
        ...

    async def newest(self, tenant_id: TenantId, page: PageRequest) -> Page[AuditEntry]:
        """Entries newest first, page 0 the end of the chain (recent activity)."""
        ...

    def entries(self, tenant_id: TenantId, up_to: int) -> AsyncIterator[AuditEntry]:
        """The tenant's entries with position <= ``up_to``, in position order, streamed."""
        ...

    async def head(self, tenant_id: TenantId) -> ChainHead | None: ...
