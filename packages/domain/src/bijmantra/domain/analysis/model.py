"""The AnalysisJob aggregate: a requested genomic analysis and its attempts.

A job is run by whichever worker replica takes its message; a worker that dies leaves the
job RUNNING and the message is redelivered, so a later ``start`` opens a new *attempt*.
Progress, completion and failure name their attempt: reports from a superseded attempt
(a worker presumed dead that was only slow) are refused, so a job completes exactly once.
A job gets ``MAX_ATTEMPTS``: one that ended the worker in each of them fails, naming why,
rather than stay running (ADR 0336).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from bijmantra.domain.analysis.results import ld_size_problems
from bijmantra.domain.events import DomainEvent, EventSource
from bijmantra.kernel import Conflict, FieldError, TenantId, ValidationFailed

# The largest phenotype magnitude GWAS and GBLUP accept (ADR 0360). Squares stay below 1e200,
# so sums over millions of samples and REML's division by small eigenvalue terms keep over
# 1e100 of headroom before float64 overflows (1.8e308); no measured trait comes near it.
MAX_PHENOTYPE = 1e100


class AnalysisType(StrEnum):
    QC = "qc"
    GRM = "grm"
    PCA = "pca"
    LD = "ld"
    GBLUP = "gblup"
    GWAS = "gwas"

    @property
    def needs_phenotypes(self) -> bool:
        return self in (AnalysisType.GBLUP, AnalysisType.GWAS)


# Attempts a job gets. A worker killed mid-job (out of memory, a node lost) leaves the job to a
# new attempt when its message is redelivered; a job that ended every attempt that way is
# failed by the next claim. Before, the job-request consumer's redeliveries (5) ran out and
# the job stayed running forever, counted among the organization's active analyses. Below 5,
# so a delivery after the last attempt comes even if one delivery failed on its own.
MAX_ATTEMPTS = 3


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


def _choice(*allowed: str) -> Any:
    def check(value: Any) -> str | None:
        return None if value in allowed else f"must be one of {list(allowed)}"

    return check


def _number(low: float, high: float, *, integer: bool = False) -> Any:
    def check(value: Any) -> str | None:
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
            kind = "an integer" if integer else "a number"
            return f"must be {kind} in [{low}, {high}]"
        return None

    return check


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _text(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "must be a non-blank string"


# Accepted parameters per analysis type (camelCase, as clients send them).
ANALYSIS_PARAMETERS: dict[AnalysisType, dict[str, Any]] = {
    AnalysisType.QC: {"hwe": _boolean},
    AnalysisType.GRM: {"method": _choice("vanraden1", "vanraden2"), "minMaf": _number(0.0, 0.5)},
    AnalysisType.PCA: {
        "k": _number(1, 50, integer=True),
        "colorBy": _text,
        "minMaf": _number(0.0, 0.5),
    },
    AnalysisType.LD: {"window": _number(1, 1000, integer=True)},
    AnalysisType.GBLUP: {
        "h2": _number(0.0001, 0.9999),
        "method": _choice("vanraden1", "vanraden2"),
    },
    AnalysisType.GWAS: {"kinship": _boolean},
}


def parameter_problems(kind: AnalysisType, parameters: Mapping[str, Any]) -> list[FieldError]:
    allowed = ANALYSIS_PARAMETERS[kind]
    problems = []
    for name, value in parameters.items():
        check = allowed.get(name)
        if check is None:
            problems.append(
                FieldError(f"parameters.{name}", f"unknown for {kind.value}; use {sorted(allowed)}")
            )
        elif (message := check(value)) is not None:
            problems.append(FieldError(f"parameters.{name}", message))
    return problems


@dataclass(eq=False)
class AnalysisJob(EventSource):
    tenant_id: TenantId
    analysis_db_id: str
    type: AnalysisType
    variant_set_db_id: str
    call_set_db_ids: tuple[str, ...]
    parameters: dict[str, Any]
    phenotypes: dict[str, float]
    created_at: datetime
    status: JobStatus = JobStatus.QUEUED
    progress: float = 0.0
    stage: str = ""
    attempt: int = 0
    worker: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        EventSource.__init__(self)

    @classmethod
    def request(
        cls,
        *,
        actor: str | None = None,
        n_variants: int = 0,
        n_samples: int | None = None,
        **fields: Any,
    ) -> AnalysisJob:
        """Validate a new job (``n_variants``: its set's, which bounds what it computes;
        ``n_samples``: the samples it analyses, when known) and record ``analysis.requested``."""
        job = cls(**fields)
        problems = parameter_problems(job.type, job.parameters)
        k = job.parameters.get("k")
        if (
            job.type is AnalysisType.PCA
            and n_samples is not None
            and isinstance(k, int)
            and k > n_samples  # was queued, held the matrix, then failed in the worker
        ):
            problems.append(
                FieldError("parameters.k", f"{k} exceeds the {n_samples} samples analysed")
            )
        if job.type is AnalysisType.LD:
            problems += ld_size_problems(job.parameters, n_variants)
        if job.type.needs_phenotypes and len(job.phenotypes) < 3:
            problems.append(
                FieldError(
                    "phenotypes", f"{job.type.value} needs phenotype values for at least 3 samples"
                )
            )
        elif job.type.needs_phenotypes and (
            huge := [k for k, y in job.phenotypes.items() if not abs(y) <= MAX_PHENOTYPE]
        ):
            # The kernels sum squares of phenotypes (and REML divides them by eigenvalues):
            # 1e300 overflowed to inf and failed in the worker as "no variation" (ADR 0360).
            problems.append(
                FieldError(
                    "phenotypes",
                    f"{len(huge)} value(s) (e.g. call set {sorted(huge)[0]!r}'s) are not finite or "
                    f"exceed {MAX_PHENOTYPE:g} in magnitude; rescale the trait",
                )
            )
        elif job.type.needs_phenotypes and len(set(job.phenotypes.values())) < 2:
            # One value for every sample: nothing to associate or predict. GWAS fitted the
            # rounding noise of the centred values and reported p-values from it (ADR 0358).
            problems.append(
                FieldError(
                    "phenotypes",
                    f"all {len(job.phenotypes)} values are equal: {job.type.value} needs "
                    "phenotypes that vary",
                )
            )
        if not job.type.needs_phenotypes and job.phenotypes:
            problems.append(FieldError("phenotypes", f"not used by {job.type.value}"))
        if len(set(job.call_set_db_ids)) != len(job.call_set_db_ids):
            problems.append(FieldError("callSetDbIds", "must not repeat a call set"))
        if problems:
            raise ValidationFailed("Invalid analysis request", problems)
        job._emit(
            "requested",
            {"type": job.type.value, "variant_set_db_id": job.variant_set_db_id},
            job.created_at,
            actor,
        )
        return job

    def start(self, worker: str, now: datetime) -> bool:
        """Open a new attempt; False when there is nothing left to run. A running job whose
        attempts are spent fails here (each one ended without a word from its worker)."""
        if self.status.finished:
            return False
        if self.attempt >= MAX_ATTEMPTS:
            self.fail(
                self.attempt,
                f"The analysis stopped unfinished in each of its {MAX_ATTEMPTS} attempts: the "
                "worker running it ended (killed, or out of memory) every time",
                now,
            )
            return False
        self.status = JobStatus.RUNNING
        self.attempt += 1
        self.worker = worker
        self.started_at = now
        self.progress, self.stage = 0.0, "starting"
        self._emit("started", {"attempt": self.attempt, "worker": worker}, now)
        return True

    def is_current(self, attempt: int) -> bool:
        return self.status is JobStatus.RUNNING and attempt == self.attempt

    def report(self, attempt: int, fraction: float, stage: str, now: datetime) -> bool:
        """Record progress of the current attempt; False tells the worker to stop."""
        if not self.is_current(attempt):
            return False
        self.progress = min(max(float(fraction), 0.0), 1.0)
        self.stage = stage[:200]
        self._emit(
            "progress", {"attempt": attempt, "progress": self.progress, "stage": self.stage}, now
        )
        return True

    def complete(
        self, attempt: int, summary: dict[str, Any], timings: Mapping[str, float], now: datetime
    ) -> bool:
        if not self.is_current(attempt):
            return False
        self.status, self.progress, self.stage = JobStatus.COMPLETED, 1.0, "done"
        self.summary, self.finished_at = summary, now
        self.timings = {**dict(timings), "totalSeconds": (now - self.created_at).total_seconds()}
        self._emit("completed", {"attempt": attempt, "timings": self.timings}, now)
        return True

    def fail(self, attempt: int, message: str, now: datetime) -> bool:
        if not self.is_current(attempt):
            return False
        self.status, self.error, self.finished_at = JobStatus.FAILED, message[:2000], now
        self._emit("failed", {"attempt": attempt, "error": self.error}, now)
        return True

    def cancel(self, now: datetime, *, actor: str | None) -> None:
        if self.status.finished:
            raise Conflict(f"Analysis {self.analysis_db_id} is already {self.status.value}")
        self.status, self.finished_at = JobStatus.CANCELLED, now
        self._emit("cancelled", {}, now, actor)

    def refuse_deletion(self) -> None:
        """Only a finished job is deleted (ADR 0345): a queued or running one is cancelled
        first, so no worker computes for a job that is gone and the cancel is on record."""
        if not self.status.finished:
            raise Conflict(
                f"Analysis {self.analysis_db_id} is {self.status.value}: cancel it first",
                [FieldError("status", self.status.value)],
            )

    def _emit(
        self, what: str, data: dict[str, Any], at: datetime, actor: str | None = None
    ) -> None:
        self.record(
            DomainEvent(
                type=f"analysis.{what}",
                tenant_id=self.tenant_id,
                aggregate_id=self.analysis_db_id,
                data={"analysis_db_id": self.analysis_db_id, "status": self.status.value, **data},
                actor=actor,
                occurred_at=at,
            )
        )
