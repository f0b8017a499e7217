"""What crosses the analysis boundary: the request body, stored results, the job document."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from bijmantra.application.ports.analysis import ResultIndex
from bijmantra.domain.analysis import AnalysisJob, AnalysisType, JobStatus, Withheld


class AnalysisRequest(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """``POST /api/v1/analyses``. Phenotypes are keyed by germplasmDbId or sample name."""

    type: str
    variant_set_db_id: str
    call_set_db_ids: list[str] = []
    parameters: dict[str, Any] = {}
    phenotypes: dict[str, float] = {}
    observation_variable_db_id: str | None = None
    study_db_id: str | None = None


class _Out(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    pass


class ResultTable(_Out):
    name: str
    row_count: int


class ResultArtifact(_Out):
    """A file of the result; ``size`` is null (and ``pending`` true) while a figure is drawn.
    A figure the worker will never attach is not pending: ``withheld`` says why (``not_drawn``,
    ``storage_full``, ``quota``) and ``withheldMessage`` what a user can do (ADR 0369)."""

    name: str
    media_type: str
    size: int | None
    pending: bool
    withheld: Withheld | None
    withheld_message: str | None


class AnalysisResults(_Out):
    tables: list[ResultTable]
    artifacts: list[ResultArtifact]


class AnalysisDocument(_Out):
    """What ``job_document`` answers (ADR 0250); ``results`` once the job has stored some."""

    analysis_db_id: str
    type: AnalysisType
    status: JobStatus
    progress: float
    stage: str
    attempt: int
    worker: str | None
    variant_set_db_id: str
    call_set_db_ids: list[str]
    parameters: dict[str, Any]
    phenotype_count: int
    created: datetime
    started: datetime | None
    finished: datetime | None
    timings: dict[str, float]
    error: str | None
    summary: dict[str, Any]
    results: AnalysisResults | msgspec.UnsetType = msgspec.UNSET


def _time(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def job_document(job: AnalysisJob, results: ResultIndex | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "analysisDbId": job.analysis_db_id,
        "type": job.type.value,
        "status": job.status.value,
        "progress": job.progress,
        "stage": job.stage,
        "attempt": job.attempt,
        "worker": job.worker,
        "variantSetDbId": job.variant_set_db_id,
        "callSetDbIds": list(job.call_set_db_ids),
        "parameters": job.parameters,
        "phenotypeCount": len(job.phenotypes),
        "created": _time(job.created_at),
        "started": _time(job.started_at),
        "finished": _time(job.finished_at),
        "timings": job.timings,
        "error": job.error,
        "summary": job.summary,
    }
    if results is not None:
        document["results"] = {
            "tables": [{"name": n, "rowCount": c} for n, c in sorted(results.tables.items())],
            "artifacts": [
                _artifact(n, t, s, results.withheld.get(n))
                for n, (t, s) in sorted(results.artifacts.items())
            ],
        }
    return document


def _artifact(name: str, media_type: str, size: int | None, withheld: Withheld | None) -> Any:
    return {
        "name": name,
        "mediaType": media_type,
        "size": size,
        "pending": size is None and withheld is None,
        "withheld": None if withheld is None else withheld.value,
        "withheldMessage": None if withheld is None else withheld.message,
    }


class DeletedAnalysis(_Out):
    """What ``POST /api/v1/analyses/{id}/delete`` answers (ADR 0345): the job removed with its
    results; ``status`` as it ended, ``result_bytes`` the room its organization got back."""

    analysis_db_id: str
    type: AnalysisType
    status: JobStatus
    variant_set_db_id: str
    result_bytes: int
