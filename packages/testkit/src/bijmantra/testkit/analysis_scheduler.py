"""The analysis scheduler over the in-memory database: ``fair_order`` on its jobs."""

from __future__ import annotations

from bijmantra.domain.analysis import JobStatus
from bijmantra.domain.analysis.scheduling import Reservation, WaitingJob, fair_order
from bijmantra.kernel import TenantId
from bijmantra.testkit.fakes import InMemoryDatabase


class FakeAnalysisScheduler:
    def __init__(self, db: InMemoryDatabase) -> None:
        self._db = db
        self.reserved: dict[str, Reservation] = {}  # delivery -> the job it reserved

    async def reserve(self, delivery: str) -> Reservation | None:
        if delivery in self.reserved:
            return self.reserved[delivery]
        held = {(r.tenant_id, r.analysis_db_id) for r in self.reserved.values()}
        taken: dict[TenantId, int] = {}
        waiting = []
        for (tenant, analysis_db_id), job in self._db.analyses.items():
            if job.status is JobStatus.RUNNING or (
                job.status is JobStatus.QUEUED and (tenant, analysis_db_id) in held
            ):
                taken[tenant] = taken.get(tenant, 0) + 1
            elif job.status is JobStatus.QUEUED:
                waiting.append(WaitingJob(tenant, analysis_db_id, job.created_at))
        served = list(dict.fromkeys(r.tenant_id for r in reversed(self.reserved.values())))
        ordered = fair_order(waiting, taken, served[::-1])
        if not ordered:
            return None
        reservation = Reservation(ordered[0].tenant_id, ordered[0].analysis_db_id)
        self.reserved[delivery] = reservation
        return reservation
