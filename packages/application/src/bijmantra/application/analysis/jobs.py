"""Analysis jobs as seen by users: request, read, cancel, page results, fetch artifacts."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bijmantra.application.analysis.dto import AnalysisRequest, job_document
from bijmantra.application.genotyping.queries import columns_for, stored_variant_set
from bijmantra.application.json_input import decode_bounded
from bijmantra.application.ports import UnitOfWork, UnitOfWorkFactory
from bijmantra.application.ports.analysis import Artifact, ResultIndex
from bijmantra.application.ports.documents import ResourceStore
from bijmantra.application.security import Action, Permission, authorize, permissions
from bijmantra.application.use_case import (
    ClockedUseCase,
    ContextEvents,
    existing,
    organization_unit,
    refuse_full,
    refuse_used_up,
)
from bijmantra.domain.analysis import (
    DEFAULT_JOB_MEMORY,
    AnalysisJob,
    AnalysisType,
    JobShape,
    JobStatus,
    memory_refusal,
)
from bijmantra.domain.tenancy.quotas import Resource
from bijmantra.domain.tenancy.storage import StoredResource
from bijmantra.kernel import (
    Clock,
    Conflict,
    FieldError,
    NotFound,
    Page,
    PageRequest,
    Principal,
    SystemClock,
    Unavailable,
    ValidationFailed,
    new_id,
)

READ, WRITE = permissions("analysis", Action.READ, Action.WRITE)
record = ContextEvents("analysis").record  # ``analysis.<name>`` in the write's outbox
READ_GENOTYPES = Permission("genotyping", Action.READ)
READ_PHENOTYPES = Permission("phenotyping", Action.READ)
MAX_OBSERVATIONS = 500_000
# Workers are shared by every organization and hand jobs out fairly between them (ADR 0329);
# the bound keeps one organization's queue, and the cost of scheduling it, finite.
MAX_ACTIVE_PER_ORGANIZATION = 50
# A job completes before its figures are rendered (ADR 0070); a request for a figure still
# being rendered waits this long for it, re-reading every FIGURE_POLL seconds.
FIGURE_PATIENCE = 30.0
FIGURE_POLL = 0.1


def _phenotype_reference(request: AnalysisRequest) -> tuple[str, str] | None:
    """(observationVariableDbId, studyDbId) when phenotypes come from stored observations."""
    variable, study = request.observation_variable_db_id, request.study_db_id
    if variable is None and study is None:
        return None
    problems = []
    if not variable or not study:
        problems.append(
            FieldError("observationVariableDbId", "give both observationVariableDbId and studyDbId")
        )
    if request.phenotypes:
        problems.append(FieldError("phenotypes", "give values inline or by reference, not both"))
    if problems or not variable or not study:
        raise ValidationFailed("Ambiguous phenotype source", problems)
    return variable, study


async def observed_phenotypes(
    store: ResourceStore, variable: str, study: str, call_set_by_key: dict[str, str]
) -> dict[str, float]:
    """Mean numeric value of ``variable`` in ``study`` per call set (matched by germplasm).

    Replicate plots of one germplasm average into one value; observations of germplasm not
    genotyped in this analysis are ignored; a non-numeric value is refused, naming it.
    """
    criteria = (({"observationVariableDbId": variable, "studyDbId": study},),)
    values: dict[str, list[float]] = {}
    problems = []
    for document in await store.matching("observation", criteria, limit=MAX_OBSERVATIONS):
        call_set = call_set_by_key.get(document.get("germplasmDbId") or "")
        raw = document.get("value")
        if call_set is None or raw in (None, ""):
            continue
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value):
            problems.append(FieldError(f"observations.{document['observationDbId']}", f"{raw!r}"))
            continue
        values.setdefault(call_set, []).append(value)
    if problems:
        raise ValidationFailed(
            f"{len(problems)} observation(s) of {variable} are not numbers", problems[:20]
        )
    return {call_set: sum(v) / len(v) for call_set, v in values.items()}


def decode_request(body: bytes) -> AnalysisRequest:
    request: AnalysisRequest = decode_bounded(body, "an analysis request", shape=AnalysisRequest)
    return request


async def job_or_404(
    uow: UnitOfWork, analysis_db_id: str, *, for_update: bool = False
) -> AnalysisJob:
    job = await uow.analyses.get(analysis_db_id, for_update=for_update)
    return existing(job, f"Analysis {analysis_db_id}")


@dataclass
class RequestAnalysis(ClockedUseCase[UnitOfWork]):
    # Bytes one job may hold in a worker (ADR 0338): a larger one is refused, nothing queued.
    memory_budget: int = DEFAULT_JOB_MEMORY

    async def __call__(self, principal: Principal, request: AnalysisRequest) -> dict[str, Any]:
        """Record the job and its ``analysis.requested`` event in one transaction."""
        authorize(principal, WRITE)
        authorize(principal, READ_GENOTYPES)
        try:
            kind = AnalysisType(request.type)
        except ValueError:
            raise ValidationFailed(
                "Unknown analysis type",
                [FieldError("type", f"must be one of {[t.value for t in AnalysisType]}")],
            ) from None
        by_reference = _phenotype_reference(request)
        if by_reference:
            authorize(principal, READ_PHENOTYPES)
        async with self.uow(principal.tenant_id) as uow:
            # The shared worker never computes a job whose results the day has no room for
            # (ADR 0340); their size is unknown until computed.
            await refuse_used_up(uow, Resource.ANALYSIS_RESULT_BYTES, self.clock.now())
            # Nor one of an organization that stores its cap of results (ADR 0343).
            await refuse_full(uow, StoredResource.ANALYSIS_RESULT_BYTES)
            try:
                variant_set = await stored_variant_set(uow.genotypes, request.variant_set_db_id)
            except NotFound as exc:
                raise ValidationFailed(
                    exc.message, [FieldError("variantSetDbId", "unknown")]
                ) from None
            columns_for(variant_set, request.call_set_db_ids)
            chosen = set(request.call_set_db_ids) or {
                c.call_set_db_id for c in variant_set.call_sets
            }
            keys: dict[str, str] = {}
            for call_set in variant_set.call_sets:
                if call_set.call_set_db_id in chosen:
                    keys.setdefault(call_set.sample_name, call_set.call_set_db_id)
                    keys.setdefault(call_set.germplasm_db_id, call_set.call_set_db_id)
            unknown = [k for k in request.phenotypes if k not in keys]
            if unknown:
                raise ValidationFailed(
                    f"{len(unknown)} phenotype key(s) match no sample of the analysis",
                    [
                        FieldError(f"phenotypes.{k}", "not a germplasmDbId or sample name here")
                        for k in unknown[:20]
                    ],
                )
            phenotypes = {keys[k]: float(v) for k, v in request.phenotypes.items()}
            if by_reference:
                phenotypes = await observed_phenotypes(uow.resources, *by_reference, keys)
            job = AnalysisJob.request(
                actor=principal.subject,
                n_variants=variant_set.n_variants,
                n_samples=len(chosen),
                tenant_id=principal.tenant_id,
                analysis_db_id=new_id(),
                type=kind,
                variant_set_db_id=variant_set.variant_set_db_id,
                call_set_db_ids=tuple(request.call_set_db_ids),
                parameters=dict(request.parameters),
                phenotypes=phenotypes,
                created_at=self.clock.now(),
            )
            tested = len(phenotypes) if kind.needs_phenotypes else None
            shape = JobShape(len(chosen), variant_set.n_variants, tested)
            refusal = memory_refusal(kind, job.parameters, shape, self.memory_budget)
            if refusal is not None:
                raise refusal
            if await uow.analyses.active_count() >= MAX_ACTIVE_PER_ORGANIZATION:
                raise Conflict(
                    f"The organization has {MAX_ACTIVE_PER_ORGANIZATION} analyses queued or "
                    "running; request more when some have finished"
                )
            uow.analyses.add(job)
            await uow.commit()
        return job_document(job)


@dataclass
class GetAnalysis:
    uow: UnitOfWorkFactory

    async def __call__(self, principal: Principal, analysis_db_id: str) -> dict[str, Any]:
        async with organization_unit(self.uow, principal, READ) as uow:
            job = await job_or_404(uow, analysis_db_id)
            # results are stored with the completion; clients poll running jobs often
            completed = job.status is JobStatus.COMPLETED
            results = await uow.analyses.result_index(analysis_db_id) if completed else None
            return job_document(job, results or ResultIndex())


MAX_LISTED = 100


@dataclass
class ListAnalyses:
    """The organization's running and recent jobs: what a dashboard shows on first render
    (the live feed only reports jobs that change while it is open)."""

    uow: UnitOfWorkFactory

    async def __call__(
        self, principal: Principal, *, limit: int, active_only: bool
    ) -> list[dict[str, Any]]:
        authorize(principal, READ)
        if not 1 <= limit <= MAX_LISTED:
            raise ValidationFailed(
                "Bad limit", [FieldError("limit", f"must be between 1 and {MAX_LISTED}")]
            )
        async with self.uow(principal.tenant_id) as uow:
            jobs = await uow.analyses.recent(limit, active_only=active_only)
        return [job_document(job) for job in jobs]


@dataclass
class ListVariantSetAnalyses:
    """Every job computed from one variant set, a page at a time, newest first: what the
    set's page lists however many jobs the organization ran since (ADR 0374)."""

    uow: UnitOfWorkFactory

    async def __call__(
        self, principal: Principal, variant_set_db_id: str, page: PageRequest
    ) -> Page[dict[str, Any]]:
        authorize(principal, READ)
        if not 1 <= page.page_size <= MAX_LISTED:
            raise ValidationFailed(
                "Bad page size", [FieldError("page_size", f"must be between 1 and {MAX_LISTED}")]
            )
        async with self.uow(principal.tenant_id) as uow:
            jobs, total = await uow.analyses.of_variant_set(variant_set_db_id, page)
        return Page([job_document(job) for job in jobs], page, total)


class CancelAnalysis(ClockedUseCase[UnitOfWork]):
    async def __call__(self, principal: Principal, analysis_db_id: str) -> dict[str, Any]:
        async with organization_unit(self.uow, principal, WRITE) as uow:
            job = await job_or_404(uow, analysis_db_id, for_update=True)
            job.cancel(self.clock.now(), actor=principal.subject)
            uow.analyses.save(job)
            await uow.commit()
        return job_document(job)


class DeleteAnalysis(ClockedUseCase[UnitOfWork]):
    async def __call__(self, principal: Principal, analysis_db_id: str) -> dict[str, Any]:
        """Remove a finished job with its results and artifacts (ADR 0345); a queued or
        running one is a 409 (cancel it first). ``analysis.deleted`` goes out with the commit."""
        async with organization_unit(self.uow, principal, WRITE) as uow:
            job = await job_or_404(uow, analysis_db_id, for_update=True)
            job.refuse_deletion()
            freed = await uow.analyses.delete(analysis_db_id)
            document = {
                "analysisDbId": analysis_db_id,
                "type": job.type.value,
                "status": job.status.value,
                "variantSetDbId": job.variant_set_db_id,
                "resultBytes": freed,
            }
            data = {
                "analysis_db_id": analysis_db_id,
                "type": job.type.value,
                "status": job.status.value,
                "variant_set_db_id": job.variant_set_db_id,
            }
            record(uow, principal, "deleted", analysis_db_id, data, self.clock.now())
            await uow.commit()
        return document


@dataclass
class GetResultPage:
    uow: UnitOfWorkFactory

    async def __call__(
        self, principal: Principal, analysis_db_id: str, table: str, page: PageRequest
    ) -> Page[bytes]:
        async with organization_unit(self.uow, principal, READ) as uow:
            await job_or_404(uow, analysis_db_id)
            found = await uow.analyses.result_page(analysis_db_id, table, page)
        if found is None:
            raise NotFound(f"Analysis {analysis_db_id} has no result table {table!r}")
        return found


@dataclass
class GetArtifact:
    uow: UnitOfWorkFactory
    patience: float = FIGURE_PATIENCE
    clock: Clock = field(default_factory=SystemClock)

    async def __call__(self, principal: Principal, analysis_db_id: str, name: str) -> Artifact:
        """The file; a figure still being rendered is waited for (``patience`` seconds), but
        only within ``patience`` of its job's completion: figures are attached seconds after
        it. One pending later was not drawn (a redelivery may draw it, or nothing will: the
        worker leaves out a figure it cannot draw), so the answer comes at once. Polling for
        it cost ~300 transactions per request, which any reader could repeat (ADR 0365)."""
        authorize(principal, READ)
        deadline = time.monotonic() + self.patience
        while True:
            async with self.uow(principal.tenant_id) as uow:
                job = await job_or_404(uow, analysis_db_id)
                found = await uow.analyses.artifact(analysis_db_id, name)
            if found is None:
                raise NotFound(f"Analysis {analysis_db_id} has no artifact {name!r}")
            if found.data is not None:
                return found
            if found.withheld is not None:  # never coming: said at once (ADR 0369)
                raise Conflict(
                    f"Figure {name!r} of analysis {analysis_db_id} was not attached "
                    f"({found.withheld.value}): {found.withheld.message}"
                )
            if time.monotonic() >= deadline or not self._may_come(job):
                raise Unavailable(
                    f"Figure {name!r} of analysis {analysis_db_id} is still being rendered"
                )
            await asyncio.sleep(FIGURE_POLL)

    def _may_come(self, job: AnalysisJob) -> bool:
        """Whether the job completed recently enough for its figure to be on its way."""
        finished = job.finished_at
        return finished is not None and (
            self.clock.now() - finished < timedelta(seconds=self.patience)
        )
