"""The in-memory ``AnalysisRepository``: jobs and their results, copied in and out as rows."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import replace

import msgspec
from bijmantra.application.analysis import Artifact, ResultIndex
from bijmantra.application.ports.analysis import JobReference
from bijmantra.domain import DomainEvent
from bijmantra.domain.analysis import AnalysisJob, Withheld
from bijmantra.kernel import Page, PageRequest, TenantId

# (tenant, analysis) -> (tables by name, artifacts): the fake database's results table.
Jobs = Mapping[tuple[TenantId, str], AnalysisJob]
Results = dict[tuple[TenantId, str], tuple[dict[str, bytes], list[Artifact]]]


class FakeAnalysisRepository:
    """Jobs are copied in and out, as a database row would be."""

    def __init__(
        self,
        analyses: Mapping[tuple[TenantId, str], AnalysisJob],
        results: Results,
        tenant: TenantId,
    ) -> None:
        self.staged = dict(analyses)
        self.results = dict(results)
        self.deleted: set[tuple[TenantId, str]] = set()  # removed from the tables at commit
        self._tenant = tenant
        self._touched: list[AnalysisJob] = []

    def add(self, job: AnalysisJob) -> None:
        self.save(job)

    def save(self, job: AnalysisJob) -> None:
        assert job.tenant_id == self._tenant, "row-level security would reject this"
        self._touched.append(job)

    async def get(self, analysis_db_id: str, *, for_update: bool = False) -> AnalysisJob | None:
        found = self.staged.get((self._tenant, analysis_db_id))
        return None if found is None else copy.deepcopy(found)

    async def active_count(self) -> int:
        return len(await self.recent(len(self.staged), active_only=True))

    async def recent(self, limit: int, *, active_only: bool) -> list[AnalysisJob]:
        jobs = [j for (tenant, _), j in self.staged.items() if tenant == self._tenant]
        if active_only:
            jobs = [j for j in jobs if not j.status.finished]
        jobs.sort(key=lambda j: j.created_at, reverse=True)
        jobs.sort(key=lambda j: j.status.finished)  # stable: active first, each newest first
        return copy.deepcopy(jobs[:limit])

    async def of_variant_set(
        self, variant_set_db_id: str, page: PageRequest
    ) -> tuple[list[AnalysisJob], int]:
        jobs = [
            j
            for (tenant, _), j in self.staged.items()
            if tenant == self._tenant and j.variant_set_db_id == variant_set_db_id
        ]
        jobs.sort(key=lambda j: (j.created_at, j.analysis_db_id), reverse=True)
        return copy.deepcopy(jobs[page.offset : page.offset + page.page_size]), len(jobs)

    async def store_results(
        self, analysis_db_id: str, tables: Mapping[str, bytes], artifacts: Sequence[Artifact]
    ) -> None:
        self.results[(self._tenant, analysis_db_id)] = (dict(tables), list(artifacts))

    async def result_index(self, analysis_db_id: str) -> ResultIndex:
        tables, artifacts = self.results.get((self._tenant, analysis_db_id), ({}, []))
        return ResultIndex(
            {name: len(_rows(data)) for name, data in tables.items()},
            {a.name: (a.media_type, None if a.data is None else len(a.data)) for a in artifacts},
            {a.name: a.withheld for a in artifacts if a.withheld is not None},
        )

    async def attach(self, analysis_db_id: str, figures: Sequence[Artifact]) -> int:
        tables, artifacts = self.results.get((self._tenant, analysis_db_id), ({}, []))
        given = {f.name: f for f in figures}
        pending = [
            a.name for a in artifacts if a.data is None and a.withheld is None and a.name in given
        ]
        self.results[(self._tenant, analysis_db_id)] = (
            tables,
            [given[a.name] if a.name in pending else a for a in artifacts],
        )
        return len(pending)

    async def withhold(self, analysis_db_id: str, names: Sequence[str], reason: Withheld) -> int:
        tables, artifacts = self.results.get((self._tenant, analysis_db_id), ({}, []))
        pending = {
            a.name for a in artifacts if a.data is None and a.withheld is None and a.name in names
        }
        self.results[(self._tenant, analysis_db_id)] = (
            tables,
            [replace(a, withheld=reason) if a.name in pending else a for a in artifacts],
        )
        return len(pending)

    async def result_page(
        self, analysis_db_id: str, table: str, page: PageRequest
    ) -> Page[bytes] | None:
        tables, _ = self.results.get((self._tenant, analysis_db_id), ({}, []))
        if table not in tables:
            return None
        rows = _rows(tables[table])
        items = [bytes(r) for r in rows[page.offset : page.offset + page.page_size]]
        return Page(items, page, len(rows))

    async def artifact(self, analysis_db_id: str, name: str) -> Artifact | None:
        _, artifacts = self.results.get((self._tenant, analysis_db_id), ({}, []))
        return next((a for a in artifacts if a.name == name), None)

    async def computed_from(
        self, variant_set_db_id: str, limit: int
    ) -> tuple[list[JobReference], int]:
        jobs = sorted(
            (
                j
                for (tenant, _), j in self.staged.items()
                if tenant == self._tenant and j.variant_set_db_id == variant_set_db_id
            ),
            key=lambda j: j.created_at,
        )
        return [JobReference(j.analysis_db_id, j.status) for j in jobs[:limit]], len(jobs)

    async def delete(self, analysis_db_id: str) -> int:
        key = (self._tenant, analysis_db_id)
        assert key in self.staged, "the use case deletes only a job it found"
        del self.staged[key]
        tables, artifacts = self.results.pop(key, ({}, []))
        self.deleted.add(key)
        return sum(map(len, tables.values())) + sum(len(a.data or b"") for a in artifacts)

    async def flush(self) -> list[DomainEvent]:
        touched, self._touched = self._touched, []
        for job in touched:
            self.staged[(self._tenant, job.analysis_db_id)] = job
        return [event for job in touched for event in job.pull_events()]


_rows = msgspec.json.Decoder(list[msgspec.Raw]).decode
