"""Analysis jobs as seen by worker replicas: claim an attempt, read data, report, finish.

Every call names its attempt; the aggregate refuses a superseded one, so whichever replica
ends up running a job, its outcome is recorded once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bijmantra.application.analysis.jobs import job_or_404
from bijmantra.application.genotyping import GenotypeChunk, columns_for, stored_variant_set
from bijmantra.application.ports import UnitOfWork, UnitOfWorkFactory
from bijmantra.application.ports.analysis import AnalysisScheduler, Artifact
from bijmantra.application.ports.genotypes import ChunkRead
from bijmantra.application.security import Action, Permission, authorize
from bijmantra.application.use_case import ClockedUseCase, organization_unit
from bijmantra.domain.analysis import AnalysisJob, JobStatus, Withheld
from bijmantra.domain.analysis.scheduling import Reservation
from bijmantra.kernel import Conflict, Principal
from bijmantra.kernel.pagination import MAX_PAGE_SIZE

RUN = Permission("analysis", Action.ADMIN)


@dataclass(frozen=True, slots=True)
class Claim:
    """``figures_only``: the job is completed but its figures were never attached (the
    replica that completed it died): compute again and attach them, nothing else."""

    proceed: bool
    attempt: int
    job: dict[str, Any]
    figures_only: bool = False


async def _labels(uow: UnitOfWork, attribute: str, germplasm_ids: Sequence[str]) -> dict[str, Any]:
    """germplasmDbId -> value of a top-level germplasm document field (for plot colours)."""
    labels: dict[str, Any] = {}
    unique = sorted(set(germplasm_ids))
    for start in range(0, len(unique), MAX_PAGE_SIZE):
        found = await uow.resources.documents("germplasm", unique[start : start + MAX_PAGE_SIZE])
        labels.update((db_id, document.get(attribute)) for db_id, document in found.items())
    return labels


async def _job_spec(uow: UnitOfWork, job: AnalysisJob) -> dict[str, Any]:
    """What a worker needs to run the job: its parameters and its samples, in column order."""
    variant_set = await stored_variant_set(uow.genotypes, job.variant_set_db_id)
    columns = columns_for(variant_set, job.call_set_db_ids)
    call_sets = (
        variant_set.call_sets if columns is None else [variant_set.call_sets[c] for c in columns]
    )
    color_by = job.parameters.get("colorBy")
    labels = (
        await _labels(uow, color_by, [c.germplasm_db_id for c in call_sets]) if color_by else {}
    )
    samples = [
        {
            "callSetDbId": c.call_set_db_id,
            "sampleName": c.sample_name,
            "germplasmDbId": c.germplasm_db_id,
            "label": c.sample_name if color_by == "sampleName" else labels.get(c.germplasm_db_id),
        }
        for c in call_sets
    ]
    return {
        "analysisDbId": job.analysis_db_id,
        "type": job.type.value,
        "variantSetDbId": job.variant_set_db_id,
        "nVariants": variant_set.n_variants,
        "parameters": job.parameters,
        "phenotypes": job.phenotypes,
        "samples": samples,
    }


@dataclass
class ReserveAnalysis:
    """The job a delivery of a job-request message runs: the next one by fairness between
    organizations, whichever job the message names (ADR 0329); None when none is waiting.

    A worker serves every organization, so its token for the message's organization may
    learn the id of another organization's job, which it then claims with that one's token."""

    scheduler: AnalysisScheduler

    async def __call__(self, principal: Principal, delivery: str) -> Reservation | None:
        authorize(principal, RUN)
        return await self.scheduler.reserve(delivery)


class ClaimAnalysis(ClockedUseCase[UnitOfWork]):
    async def __call__(self, principal: Principal, analysis_db_id: str, worker: str) -> Claim:
        async with organization_unit(self.uow, principal, RUN) as uow:
            job = await job_or_404(uow, analysis_db_id, for_update=True)
            was = job.status
            if job.start(worker, self.clock.now()):
                uow.analyses.save(job)
                spec = await _job_spec(uow, job)
                await uow.commit()
                return Claim(True, job.attempt, spec)
            if job.status is not was:  # its attempts were spent: it failed just now
                uow.analyses.save(job)
                await uow.commit()
            if (
                job.status is JobStatus.COMPLETED
                and (await uow.analyses.result_index(analysis_db_id)).pending
            ):
                return Claim(True, job.attempt, await _job_spec(uow, job), figures_only=True)
            return Claim(False, job.attempt, {"status": job.status.value})


@dataclass
class StreamJobGenotypes:
    uow: UnitOfWorkFactory

    async def __call__(
        self, principal: Principal, analysis_db_id: str, attempt: int, *, variants: bool = True
    ) -> AsyncIterator[GenotypeChunk]:
        """``variants=False``: dosages only, for analyses that report nothing per variant."""
        async with organization_unit(self.uow, principal, RUN) as uow:
            job = await job_or_404(uow, analysis_db_id)
            if not (job.is_current(attempt) or _completed_by(job, attempt)):
                raise Conflict(
                    f"Attempt {attempt} of analysis {analysis_db_id} is no longer current"
                )
            variant_set = await stored_variant_set(uow.genotypes, job.variant_set_db_id)
            columns = columns_for(variant_set, job.call_set_db_ids)
            chunks = uow.genotypes.read(
                ChunkRead(job.variant_set_db_id, columns, packed=True, variants=variants)
            )
            async for chunk in chunks:
                yield chunk


def _completed_by(job: AnalysisJob, attempt: int) -> bool:
    """The attempt that completed the job may still read its data to render its figures."""
    return job.status is JobStatus.COMPLETED and attempt == job.attempt


class _AttemptStep(ClockedUseCase[UnitOfWork]):
    """A worker's step on its attempt: applied to the locked job and saved with ``keep``'s
    writes in one transaction, or ``False`` when the attempt was superseded or cancelled."""

    async def _step(
        self,
        principal: Principal,
        analysis_db_id: str,
        step: Callable[[AnalysisJob, datetime], bool],
        keep: Callable[[UnitOfWork], Awaitable[None]] | None = None,
    ) -> bool:
        async with organization_unit(self.uow, principal, RUN) as uow:
            job = await job_or_404(uow, analysis_db_id, for_update=True)
            if not step(job, self.clock.now()):
                return False
            if keep is not None:
                await keep(uow)
            uow.analyses.save(job)
            await uow.commit()
        return True


class ReportProgress(_AttemptStep):
    async def __call__(
        self, principal: Principal, analysis_db_id: str, attempt: int, fraction: float, stage: str
    ) -> bool:
        return await self._step(
            principal, analysis_db_id, lambda job, now: job.report(attempt, fraction, stage, now)
        )


class CompleteAnalysis(_AttemptStep):
    async def __call__(
        self,
        principal: Principal,
        analysis_db_id: str,
        attempt: int,
        *,
        summary: dict[str, Any],
        tables: Mapping[str, bytes],
        artifacts: Sequence[Artifact],
        timings: Mapping[str, float],
    ) -> bool:
        """Keep the results with the job, unless this attempt was superseded or cancelled."""

        async def store_results(uow: UnitOfWork) -> None:
            await uow.analyses.store_results(analysis_db_id, tables, artifacts)

        return await self._step(
            principal,
            analysis_db_id,
            lambda job, now: job.complete(attempt, summary, timings, now),
            store_results,
        )


@dataclass
class AttachFigures:
    uow: UnitOfWorkFactory

    async def __call__(
        self,
        principal: Principal,
        analysis_db_id: str,
        figures: Sequence[Artifact],
        withheld: Mapping[str, Withheld] | None = None,
    ) -> int:
        """Fill the completed job's pending figures, and mark the ``withheld`` ones as never to
        come, with why (ADR 0369), in one transaction; returns how many were attached. Either
        touches only figures still pending: a late twin changes nothing, and an attached
        figure is never withheld. Withholding stores no bytes, so no cap refuses it."""
        async with organization_unit(self.uow, principal, RUN) as uow:
            job = await job_or_404(uow, analysis_db_id)
            if job.status is not JobStatus.COMPLETED:
                raise Conflict(f"Analysis {analysis_db_id} is {job.status.value}, not completed")
            attached = await uow.analyses.attach(analysis_db_id, figures)
            by_reason: dict[Withheld, list[str]] = {}
            for name, reason in (withheld or {}).items():
                by_reason.setdefault(reason, []).append(name)
            for reason, names in sorted(by_reason.items()):
                await uow.analyses.withhold(analysis_db_id, names, reason)
            await uow.commit()
        return attached


class FailAnalysis(_AttemptStep):
    async def __call__(
        self, principal: Principal, analysis_db_id: str, attempt: int, message: str
    ) -> bool:
        return await self._step(
            principal, analysis_db_id, lambda job, now: job.fail(attempt, message, now)
        )
