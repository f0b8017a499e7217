"""In-memory fakes of the organization-export ports: the jobs and their archives' pieces of
each organization, and a unit of work whose adds reach the tables only on commit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bijmantra.domain import DomainEvent
from bijmantra.domain.tenancy.exports import PENDING, ExportJob
from bijmantra.kernel import TenantId
from bijmantra.testkit.transaction import FakeTransaction


@dataclass
class ExportTables:
    jobs: dict[tuple[TenantId, str], ExportJob] = field(default_factory=dict)
    pieces: dict[tuple[TenantId, str, int], bytes] = field(default_factory=dict)
    events: list[DomainEvent] = field(default_factory=list)


class FakeExportStore:
    """``ExportStore`` of one organization; ``add`` is staged until its unit commits."""

    def __init__(self, tables: ExportTables, tenant: TenantId) -> None:
        self._t, self._tenant = tables, tenant
        self.staged: dict[tuple[TenantId, str], ExportJob] = {}

    async def add(self, job: ExportJob) -> None:
        self.staged[(self._tenant, job.id)] = job

    async def get(self, export_id: str) -> ExportJob | None:
        key = (self._tenant, export_id)
        return self.staged.get(key) or self._t.jobs.get(key)

    async def pending(self) -> int:
        jobs = {**self._t.jobs, **self.staged}
        return sum(1 for (t, _), j in jobs.items() if t == self._tenant and j.status in PENDING)

    async def piece(self, export_id: str, seq: int) -> bytes | None:
        return self._t.pieces.get((self._tenant, export_id, seq))


class FakeExportsUnitOfWork(FakeTransaction[ExportTables]):
    exports: FakeExportStore

    def _open(self) -> None:
        self.exports = FakeExportStore(self._tables, self.tenant_id)

    async def commit(self) -> None:
        self._tables.jobs.update(self.exports.staged)
        self.exports.staged = {}
        self._tables.events.extend(self._take_events())


def fake_exports_unit_of_work_factory(
    tables: ExportTables,
) -> Callable[[TenantId], FakeExportsUnitOfWork]:
    return lambda tenant: FakeExportsUnitOfWork(tables, tenant)
