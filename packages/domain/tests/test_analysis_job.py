"""AnalysisJob: request validation and the attempt protocol that makes completion exactly-once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bijmantra.domain.analysis import MAX_ATTEMPTS, AnalysisJob, AnalysisType, JobStatus
from bijmantra.kernel import Conflict, TenantId, ValidationFailed

T0 = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
TENANT = TenantId(uuid.UUID(int=7))


def requested(kind: AnalysisType = AnalysisType.GRM, **overrides: Any) -> AnalysisJob:
    fields: dict[str, Any] = {
        "tenant_id": TENANT,
        "analysis_db_id": "job-1",
        "type": kind,
        "variant_set_db_id": "vs-1",
        "call_set_db_ids": (),
        "parameters": {},
        "phenotypes": {},
        "created_at": T0,
    }
    return AnalysisJob.request(actor="breeder", **(fields | overrides))


def test_request_records_one_event_and_queues() -> None:
    job = requested()
    assert job.status is JobStatus.QUEUED
    [event] = job.pull_events()
    assert (event.type, event.aggregate_id, event.data["type"]) == (
        "analysis.requested",
        "job-1",
        "grm",
    )


@pytest.mark.parametrize(
    ("kind", "overrides", "location"),
    [
        (AnalysisType.GRM, {"parameters": {"method": "vanraden9"}}, "parameters.method"),
        (AnalysisType.GRM, {"parameters": {"window": 3}}, "parameters.window"),
        (AnalysisType.PCA, {"parameters": {"k": 2.5}}, "parameters.k"),
        (AnalysisType.PCA, {"parameters": {"k": True}}, "parameters.k"),
        (AnalysisType.GWAS, {"phenotypes": {"a": 1.0}}, "phenotypes"),
        (AnalysisType.GWAS, {"phenotypes": {"a": 5.0, "b": 5.0, "c": 5.0}}, "phenotypes"),
        (AnalysisType.GBLUP, {"phenotypes": {"a": 0.0, "b": -0.0, "c": 0.0}}, "phenotypes"),
        (AnalysisType.GWAS, {"phenotypes": {"a": 1e300, "b": -1e300, "c": 0.0}}, "phenotypes"),
        (AnalysisType.GBLUP, {"phenotypes": {"a": 1.0, "b": 2.0, "c": 1.01e100}}, "phenotypes"),
        (AnalysisType.GWAS, {"phenotypes": {"a": 1.0, "b": 2.0, "c": float("inf")}}, "phenotypes"),
        (AnalysisType.GBLUP, {"phenotypes": {"a": 1.0, "b": 2.0, "c": float("nan")}}, "phenotypes"),
        (AnalysisType.QC, {"phenotypes": {"a": 1.0, "b": 2.0, "c": 3.0}}, "phenotypes"),
        (AnalysisType.LD, {"call_set_db_ids": ("x", "x")}, "callSetDbIds"),
    ],
)
def test_invalid_requests_name_the_field(
    kind: AnalysisType, overrides: dict[str, Any], location: str
) -> None:
    with pytest.raises(ValidationFailed) as raised:
        requested(kind, **overrides)
    assert location in [d.location for d in raised.value.details]


def test_a_superseded_attempt_can_neither_report_nor_complete() -> None:
    job = requested()
    assert job.start("worker-a", T0)
    assert job.start(
        "worker-b", T0 + timedelta(seconds=5)
    )  # a redelivery after worker-a went silent
    assert job.attempt == 2
    assert not job.report(1, 0.5, "reading", T0 + timedelta(seconds=5))
    assert not job.complete(1, {"from": "a"}, {}, T0 + timedelta(seconds=6))
    assert job.report(2, 0.5, "reading", T0 + timedelta(seconds=7))
    assert job.complete(2, {"from": "b"}, {"computeSeconds": 1.0}, T0 + timedelta(seconds=9))
    assert (job.status, job.summary, job.timings["totalSeconds"]) == (
        JobStatus.COMPLETED,
        {"from": "b"},
        9.0,
    )
    assert not job.complete(2, {"again": True}, {}, T0 + timedelta(seconds=10))
    assert not job.start("worker-c", T0 + timedelta(seconds=11))
    types = [e.type for e in job.pull_events()]
    assert types == [
        "analysis.requested",
        "analysis.started",
        "analysis.started",
        "analysis.progress",
        "analysis.completed",
    ]


def test_a_job_that_ended_every_attempt_fails_at_the_next_claim_naming_why() -> None:
    """ADR 0336: each attempt's worker died without a word; the claim after the last one
    fails the job (it stayed running once the redeliveries ran out)."""
    job = requested()
    for n in range(MAX_ATTEMPTS):
        assert job.start(f"worker-{n}", T0 + timedelta(seconds=n))
    assert not job.start("worker-last", T0 + timedelta(minutes=5))
    assert (job.status, job.attempt, job.worker) == (JobStatus.FAILED, MAX_ATTEMPTS, "worker-2")
    assert job.error is not None
    assert f"{MAX_ATTEMPTS} attempts" in job.error
    assert not job.complete(MAX_ATTEMPTS, {"late": True}, {}, T0 + timedelta(minutes=6))
    assert not job.start("worker-later", T0 + timedelta(minutes=7))
    types = [e.type for e in job.pull_events()]
    assert types == ["analysis.requested", *["analysis.started"] * MAX_ATTEMPTS, "analysis.failed"]


def test_cancel_stops_the_running_attempt_and_a_finished_job_cannot_be_cancelled() -> None:
    job = requested()
    job.start("worker-a", T0)
    job.cancel(T0, actor="breeder")
    assert not job.report(1, 0.9, "computing", T0)
    assert not job.fail(1, "boom", T0)
    assert job.status is JobStatus.CANCELLED
    with pytest.raises(Conflict):
        job.cancel(T0, actor="breeder")


def test_every_event_carries_the_time_the_use_case_gave_it() -> None:
    """Events read time from the caller's clock, never the OS: each is stamped with the
    ``now`` its transition received (``requested`` with the job's creation time)."""
    job = requested()
    job.start("worker-a", T0 + timedelta(seconds=1))
    job.report(1, 0.5, "reading", T0 + timedelta(seconds=2))
    job.fail(1, "boom", T0 + timedelta(seconds=3))
    stamps = [(e.type, e.occurred_at) for e in job.pull_events()]
    assert stamps == [
        ("analysis.requested", job.created_at),
        ("analysis.started", T0 + timedelta(seconds=1)),
        ("analysis.progress", T0 + timedelta(seconds=2)),
        ("analysis.failed", T0 + timedelta(seconds=3)),
    ]


def test_pca_components_beyond_the_samples_are_refused_at_the_request() -> None:
    with pytest.raises(ValidationFailed) as raised:
        requested(AnalysisType.PCA, parameters={"k": 31}, n_samples=30)
    assert [d.location for d in raised.value.details] == ["parameters.k"]
    assert requested(AnalysisType.PCA, parameters={"k": 30}, n_samples=30).parameters["k"] == 30
    assert requested(AnalysisType.PCA, parameters={"k": 31}).parameters["k"] == 31  # unknown n


@pytest.mark.parametrize("kind", [AnalysisType.GWAS, AnalysisType.GBLUP])
def test_phenotypes_up_to_the_bound_are_accepted(kind: AnalysisType) -> None:
    job = requested(kind, phenotypes={"a": -1e100, "b": 0.0, "c": 1e100})
    assert job.status is JobStatus.QUEUED


def test_a_phenotype_beyond_the_bound_is_named() -> None:
    with pytest.raises(ValidationFailed) as raised:
        requested(AnalysisType.GWAS, phenotypes={"a": 1.0, "b": 2.0, "c": -1e300})
    [detail] = raised.value.details
    assert detail.location == "phenotypes"
    assert "'c'" in detail.message
    assert "1e+100" in detail.message
