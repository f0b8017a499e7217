"""The console dashboard in one call: counts, analyses and recent activity (ADR 0312).

Why one use case: the page showed four reads, each a gRPC call and a tenant transaction of
its own, and with many users a page's cost is its calls. Each part is still authorized as its
own read would be, and a part the member may not read is simply not in the answer.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from bijmantra.application.analysis.dto import job_document
from bijmantra.application.compliance.ports import AuditStore
from bijmantra.application.compliance.queries import AUDIT
from bijmantra.application.ports import UnitOfWorkFactory
from bijmantra.application.ports.documents import ResourceStore
from bijmantra.application.security import Action, Permission, permissions_for
from bijmantra.kernel import FieldError, PageRequest, Principal, TenantId, ValidationFailed

# (entity, the permission that reads it): what "In this organization" counts.
COUNTED = (
    ("germplasm", Permission("germplasm", Action.READ)),
    ("study", Permission("core", Action.READ)),
)
ANALYSES = Permission("analysis", Action.READ)
MAX_RECENT = 100
MAX_KEPT_COUNTS = 10_000  # (organization, entity) pairs; ~100 bytes each


class EntityCount(msgspec.Struct, kw_only=True):
    entity: str
    count: int


class ActivitySummary(msgspec.Struct, kw_only=True):
    """What the dashboard shows of an audit entry: not its envelope or hashes."""

    event_type: str
    subject: str
    actor: str | None
    occurred_at: datetime


class DashboardDocument(msgspec.Struct, kw_only=True):
    counts: list[EntityCount]
    analyses: list[dict[str, Any]] | None
    activity: list[ActivitySummary] | None


@dataclass
class VersionedCounts:
    """Exact counts kept with the data version they were read at (ADR 0040 versions).

    A write gives its entity a new version in its own transaction, so a kept count is used
    only while the version read now is the one it was counted at: never a stale count, and
    a count of a large table (``count(*)`` under RLS) is paid once per write, not per page.
    Version 0 (never written through the engine) is never kept."""

    limit: int = MAX_KEPT_COUNTS
    _kept: OrderedDict[tuple[TenantId, str], tuple[int, int]] = field(
        default_factory=OrderedDict, repr=False
    )

    async def counts(
        self, store: ResourceStore, tenant: TenantId, entities: Sequence[str]
    ) -> list[EntityCount]:
        """The entities' versions in one statement; a count read only for a changed one."""
        versions = await store.versions(entities) if entities else {}
        return [
            EntityCount(entity=e, count=await self._count(store, tenant, e, versions[e]))
            for e in entities
        ]

    async def _count(self, store: ResourceStore, tenant: TenantId, entity: str, now: int) -> int:
        key = (tenant, entity)
        kept = self._kept.get(key)
        if kept is not None and now and kept[0] == now:
            self._kept.move_to_end(key)
            return kept[1]
        # One statement: the count and the version it belongs to, read in one snapshot.
        page = await store.page(entity, (), PageRequest(0, 1))
        if page.version:
            self._kept[key] = (page.version, page.total_count)
            self._kept.move_to_end(key)
            while len(self._kept) > self.limit:
                self._kept.popitem(last=False)
        return page.total_count


def _bounded(name: str, value: int) -> int:
    if not 0 <= value <= MAX_RECENT:
        raise ValidationFailed(
            f"Bad {name}", [FieldError(name, f"must be between 0 and {MAX_RECENT}")]
        )
    return value


@dataclass
class ReadDashboard:
    uow: UnitOfWorkFactory
    audit: AuditStore
    counts: VersionedCounts = field(default_factory=VersionedCounts)

    async def __call__(self, principal: Principal, *, analyses: int, activity: int) -> bytes:
        """The counts and analyses in one tenant transaction; the audit trail, which lives in
        its own store, in a second one at the same time, for its administrators only."""
        granted = permissions_for(principal.roles)
        wanted_analyses = _bounded("analyses", analyses) and ANALYSES in granted
        wanted_activity = _bounded("activity", activity) and AUDIT in granted
        counted = [entity for entity, needed in COUNTED if needed in granted]
        (counts, jobs), entries = await asyncio.gather(
            self._organization(principal.tenant_id, counted, analyses if wanted_analyses else 0),
            self._activity(principal.tenant_id, activity if wanted_activity else 0),
        )
        return msgspec.json.encode(
            DashboardDocument(counts=counts, analyses=jobs, activity=entries)
        )

    async def _organization(
        self, tenant: TenantId, counted: Sequence[str], analyses: int
    ) -> tuple[list[EntityCount], list[dict[str, Any]] | None]:
        async with self.uow(tenant) as uow:
            counts = await self.counts.counts(uow.resources, tenant, counted)
            jobs = await uow.analyses.recent(analyses, active_only=False) if analyses else None
        return counts, None if jobs is None else [job_document(j) for j in jobs]

    async def _activity(self, tenant: TenantId, activity: int) -> list[ActivitySummary] | None:
        if not activity:
            return None
        newest = await self.audit.newest(tenant, PageRequest(0, activity))
        return [
            ActivitySummary(
                event_type=e.event_type, subject=e.subject, actor=e.actor, occurred_at=e.occurred_at
            )
            for e in newest.items
        ]
