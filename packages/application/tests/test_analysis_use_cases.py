"""Genotype import and the analysis-job protocol, against the in-memory fakes."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import numpy as np
import pytest
from bijmantra.application.analysis import (
    MAX_ACTIVE_PER_ORGANIZATION,
    AnalysisRequest,
    Artifact,
    AttachFigures,
    CancelAnalysis,
    ClaimAnalysis,
    CompleteAnalysis,
    GetAnalysis,
    GetArtifact,
    GetResultPage,
    ListAnalyses,
    RequestAnalysis,
    ReserveAnalysis,
    StreamJobGenotypes,
)
from bijmantra.application.analysis.dto import AnalysisDocument
from bijmantra.application.genotyping import (
    GetVariantSet,
    ImportGenotypes,
    ImportSpec,
    StreamGenotypes,
)
from bijmantra.application.genotyping.dto import ImportSummary, VariantSetDocument
from bijmantra.domain.analysis import AnalysisType, JobShape, working_memory
from bijmantra.domain.analysis.scheduling import Reservation
from bijmantra.kernel import (
    Conflict,
    FixedClock,
    Forbidden,
    NotFound,
    PageRequest,
    Principal,
    TenantId,
    Unavailable,
    Unprocessable,
    ValidationFailed,
)
from bijmantra.testkit.analysis_scheduler import FakeAnalysisScheduler
from bijmantra.testkit.documents import answers_as
from bijmantra.testkit.fakes import InMemoryDatabase, fake_unit_of_work_factory
from bijmantra.testkit.genotype_fakes import DosageUpload

TENANT = TenantId(uuid.UUID(int=1))
BREEDER = Principal("breeder", TENANT, frozenset({"breeder"}))
WORKER = Principal("service:analytics-worker", TENANT, frozenset({"analysis-worker"}))
OUTSIDER = Principal("other", TenantId(uuid.UUID(int=2)), frozenset({"breeder"}))
NOT_WITHHELD = {"withheld": None, "withheldMessage": None}


@pytest.fixture
def db() -> InMemoryDatabase:
    return InMemoryDatabase()


async def imported(db: InMemoryDatabase, matrix: np.ndarray) -> dict[str, object]:
    uow = fake_unit_of_work_factory(db)
    names = [f"S{i}" for i in range(matrix.shape[1])]
    spec = ImportSpec("set", "vcf", "Cassava")
    return await ImportGenotypes(uow)(
        BREEDER, spec, DosageUpload(names, matrix, skipped={"not_snp": 2})
    )


async def test_import_stores_the_matrix_and_creates_germplasm_for_new_samples(
    db: InMemoryDatabase,
) -> None:
    matrix = np.random.default_rng(1).integers(-1, 3, size=(10, 5)).astype(np.int8)
    summary = await imported(db, matrix)
    assert answers_as(summary, ImportSummary).variants_imported == 10  # as published
    stored = await GetVariantSet(fake_unit_of_work_factory(db))(BREEDER, summary["variantSetDbId"])
    assert answers_as(stored.document(), VariantSetDocument).call_set_count == 5
    assert summary["germplasmCreated"] == 5
    assert summary["variantsSkipped"] == {"not_snp": 2}
    chunks = StreamGenotypes(fake_unit_of_work_factory(db))(BREEDER, str(summary["variantSetDbId"]))
    rows = [
        np.frombuffer(c.dosages, np.int8).reshape(c.n_variants, c.n_samples) async for c in chunks
    ]
    np.testing.assert_array_equal(np.vstack(rows), matrix)
    created, *references, imported_event = db.outbox
    assert [e.type for e in references] == ["referenceset.created", "reference.created"]
    assert created.type == "germplasm.created.bulk"
    assert len(created.data["items"]) == 5
    assert [g["germplasmName"] for g in created.data["items"]] == [f"S{i}" for i in range(5)]
    assert imported_event.type == "genotyping.variant_set_imported"


async def test_only_the_current_attempt_completes_and_results_page(db: InMemoryDatabase) -> None:
    matrix = np.random.default_rng(2).integers(0, 3, size=(8, 6)).astype(np.int8)
    summary = await imported(db, matrix)
    uow = fake_unit_of_work_factory(db)
    request = AnalysisRequest(
        type="gwas",
        variant_set_db_id=str(summary["variantSetDbId"]),
        phenotypes={"S0": 1.0, "S1": 2.5, "S3": 0.5},
    )
    job = await RequestAnalysis(uow)(BREEDER, request)
    job_id = answers_as(job, AnalysisDocument).analysis_db_id  # as the contract publishes it
    first = await ClaimAnalysis(uow)(WORKER, job_id, "worker-a")
    second = await ClaimAnalysis(uow)(WORKER, job_id, "worker-b")
    assert (first.attempt, second.attempt) == (1, 2)
    assert sorted(second.job["phenotypes"].values()) == [0.5, 1.0, 2.5]
    with pytest.raises(Conflict):
        [c async for c in StreamJobGenotypes(uow)(WORKER, job_id, 1)]
    rows = msgspec.json.encode([{"i": i} for i in range(25)])
    complete = CompleteAnalysis(uow)
    results = {"summary": {"n": 1}, "tables": {"t": rows}, "timings": {"computeSeconds": 0.1}}
    stale = await complete(WORKER, job_id, 1, artifacts=[], **results)
    current = await complete(
        WORKER, job_id, 2, artifacts=[Artifact("a.png", "image/png", b"png")], **results
    )
    assert (stale, current) == (False, True)
    document = await GetAnalysis(uow)(BREEDER, job_id)
    assert (document["status"], document["attempt"], document["worker"]) == (
        "completed",
        2,
        "worker-b",
    )
    assert document["results"]["tables"] == [{"name": "t", "rowCount": 25}]
    page = await GetResultPage(uow)(BREEDER, job_id, "t", PageRequest(2, 10))
    assert [msgspec.json.decode(r)["i"] for r in page.items] == [20, 21, 22, 23, 24]
    assert (await GetArtifact(uow)(BREEDER, job_id, "a.png")).data == b"png"
    assert [e.type for e in db.outbox if e.subject == job_id] == [
        "analysis.requested",
        "analysis.started",
        "analysis.started",
        "analysis.completed",
    ]
    with pytest.raises(NotFound):
        await GetAnalysis(uow)(OUTSIDER, job_id)


async def test_a_job_completes_before_its_figures_and_a_lost_figure_is_redrawn(
    db: InMemoryDatabase,
) -> None:
    summary = await imported(db, np.zeros((4, 3), dtype=np.int8))
    uow = fake_unit_of_work_factory(db)
    request = AnalysisRequest(type="grm", variant_set_db_id=str(summary["variantSetDbId"]))
    job_id = (await RequestAnalysis(uow)(BREEDER, request))["analysisDbId"]
    claim = await ClaimAnalysis(uow)(WORKER, job_id, "worker-a")
    numbers = Artifact("grm.npy", "application/x-npy", b"npy")
    pending = Artifact("grm.png", "image/png", None)
    await CompleteAnalysis(uow)(
        WORKER,
        job_id,
        claim.attempt,
        summary={},
        tables={},
        artifacts=[numbers, pending],
        timings={},
    )
    document = await GetAnalysis(uow)(BREEDER, job_id)
    assert document["status"] == "completed"
    assert answers_as(document, AnalysisDocument).results
    assert document["results"]["artifacts"] == [
        {"name": "grm.npy", "mediaType": "application/x-npy", "size": 3, "pending": False}
        | NOT_WITHHELD,
        {"name": "grm.png", "mediaType": "image/png", "size": None, "pending": True} | NOT_WITHHELD,
    ]
    with pytest.raises(Unavailable, match="still being rendered"):
        await GetArtifact(uow, patience=0)(BREEDER, job_id, "grm.png")
    # the completing replica died before attaching: the redelivery redraws, reading the data
    again = await ClaimAnalysis(uow)(WORKER, job_id, "worker-b")
    assert (again.proceed, again.figures_only, again.attempt) == (True, True, claim.attempt)
    assert len([c async for c in StreamJobGenotypes(uow)(WORKER, job_id, again.attempt)]) == 1
    figure = Artifact("grm.png", "image/png", b"png")
    assert await AttachFigures(uow)(WORKER, job_id, [figure]) == 1
    assert await AttachFigures(uow)(WORKER, job_id, [figure]) == 0  # a late twin changes nothing
    assert (await GetArtifact(uow, patience=0)(BREEDER, job_id, "grm.png")).data == b"png"
    assert (await ClaimAnalysis(uow)(WORKER, job_id, "worker-c")).proceed is False
    assert [e.type for e in db.outbox if e.subject == job_id].count("analysis.completed") == 1


async def test_a_figure_pending_long_after_its_job_is_answered_at_once(
    db: InMemoryDatabase,
) -> None:
    """Figures are attached seconds after their job; one still pending later was not drawn
    (the worker leaves out a figure it cannot draw). Each request for it polled the database
    every 0.1 s for the whole patience, ~300 transactions, which any reader could repeat."""
    summary = await imported(db, np.zeros((4, 3), dtype=np.int8))
    uow = fake_unit_of_work_factory(db)
    request = AnalysisRequest(type="grm", variant_set_db_id=str(summary["variantSetDbId"]))
    job_id = (await RequestAnalysis(uow)(BREEDER, request))["analysisDbId"]
    claim = await ClaimAnalysis(uow)(WORKER, job_id, "worker-a")
    pending = Artifact("grm.png", "image/png", None)
    await CompleteAnalysis(uow)(
        WORKER, job_id, claim.attempt, summary={}, tables={}, artifacts=[pending], timings={}
    )
    later = FixedClock(datetime.now(UTC) + timedelta(seconds=3))
    started = time.monotonic()
    with pytest.raises(Unavailable, match="still being rendered"):
        await GetArtifact(uow, patience=2, clock=later)(BREEDER, job_id, "grm.png")
    assert time.monotonic() - started < 0.5


async def test_figures_are_attached_only_to_completed_jobs(db: InMemoryDatabase) -> None:
    summary = await imported(db, np.zeros((4, 3), dtype=np.int8))
    uow = fake_unit_of_work_factory(db)
    request = AnalysisRequest(type="qc", variant_set_db_id=str(summary["variantSetDbId"]))
    job_id = (await RequestAnalysis(uow)(BREEDER, request))["analysisDbId"]
    await ClaimAnalysis(uow)(WORKER, job_id, "worker-a")
    with pytest.raises(Conflict, match="running"):
        await AttachFigures(uow)(WORKER, job_id, [Artifact("maf.png", "image/png", b"png")])


async def test_requests_naming_unknown_samples_or_sets_store_nothing(db: InMemoryDatabase) -> None:
    summary = await imported(db, np.zeros((4, 3), dtype=np.int8))
    uow = fake_unit_of_work_factory(db)
    before = len(db.outbox)
    set_id = str(summary["variantSetDbId"])
    for request in (
        AnalysisRequest(type="gblup", variant_set_db_id=set_id, phenotypes={"S0": 1.0, "x": 3.0}),
        AnalysisRequest(type="grm", variant_set_db_id="missing"),
        AnalysisRequest(type="grm", variant_set_db_id=set_id, call_set_db_ids=["x"]),
    ):
        with pytest.raises(ValidationFailed):
            await RequestAnalysis(uow)(BREEDER, request)
    assert len(db.outbox) == before
    assert db.analyses == {}


async def test_an_organization_may_have_a_bounded_number_of_jobs_waiting(
    db: InMemoryDatabase,
) -> None:
    """One organization's queue is bounded (ADR 0326), even though workers serve
    organizations fairly (ADR 0329)."""
    set_id = str((await imported(db, np.zeros((4, 3), dtype=np.int8)))["variantSetDbId"])
    uow = fake_unit_of_work_factory(db)
    request = AnalysisRequest(type="qc", variant_set_db_id=set_id)
    jobs = [
        (await RequestAnalysis(uow)(BREEDER, request))["analysisDbId"]
        for _ in range(MAX_ACTIVE_PER_ORGANIZATION)
    ]
    events = len(db.outbox)
    with pytest.raises(Conflict, match="queued or running"):
        await RequestAnalysis(uow)(BREEDER, request)
    assert (len(db.outbox), len(db.analyses)) == (events, MAX_ACTIVE_PER_ORGANIZATION)
    await CancelAnalysis(uow)(BREEDER, jobs[0])  # a finished job frees its place
    await RequestAnalysis(uow)(BREEDER, request)


async def test_the_list_puts_running_jobs_first_and_stays_in_the_organization(
    db: InMemoryDatabase,
) -> None:
    matrix = np.random.default_rng(3).integers(0, 3, size=(8, 6)).astype(np.int8)
    set_id = str((await imported(db, matrix))["variantSetDbId"])
    uow = fake_unit_of_work_factory(db)
    jobs = [
        (await RequestAnalysis(uow)(BREEDER, AnalysisRequest(type="qc", variant_set_db_id=set_id)))[
            "analysisDbId"
        ]
        for _ in range(3)
    ]
    await CancelAnalysis(uow)(BREEDER, jobs[2])  # the newest, but finished
    await ClaimAnalysis(uow)(WORKER, jobs[0], "worker-a")  # the oldest, running
    listed = await ListAnalyses(uow)(BREEDER, limit=10, active_only=False)
    # running and queued first (newest first among them), then the finished one
    assert [d["analysisDbId"] for d in listed] == [jobs[1], jobs[0], jobs[2]]
    assert [d["status"] for d in listed] == ["queued", "running", "cancelled"]
    active = await ListAnalyses(uow)(BREEDER, limit=10, active_only=True)
    assert {d["analysisDbId"] for d in active} == {jobs[0], jobs[1]}
    assert len(await ListAnalyses(uow)(BREEDER, limit=1, active_only=False)) == 1
    assert await ListAnalyses(uow)(OUTSIDER, limit=10, active_only=False) == []
    for limit in (0, 101):
        with pytest.raises(ValidationFailed, match="limit"):
            await ListAnalyses(uow)(BREEDER, limit=limit, active_only=False)


async def test_a_delivery_reserves_the_next_job_fairly_and_only_a_worker_may_ask(
    db: InMemoryDatabase,
) -> None:
    """The reservation is the worker's alone; the fake scheduler follows ``fair_order``."""
    set_id = str((await imported(db, np.zeros((4, 3), dtype=np.int8)))["variantSetDbId"])
    uow = fake_unit_of_work_factory(db)
    request = AnalysisRequest(type="qc", variant_set_db_id=set_id)
    first, second = [(await RequestAnalysis(uow)(BREEDER, request))["analysisDbId"] for _ in "ab"]
    reserve = ReserveAnalysis(FakeAnalysisScheduler(db))
    with pytest.raises(Forbidden):
        await reserve(BREEDER, second)
    assert await reserve(WORKER, second) == Reservation(TENANT, first)  # not the one it names
    assert await reserve(WORKER, second) == Reservation(TENANT, first)  # a redelivery
    assert await reserve(WORKER, first) == Reservation(TENANT, second)
    assert await reserve(WORKER, "a-third-delivery") is None


async def test_a_job_over_the_memory_budget_is_refused_and_nothing_is_queued(
    db: InMemoryDatabase,
) -> None:
    """ADR 0338: the budget counts the samples the request chooses, not the whole set."""
    set_id = str((await imported(db, np.zeros((6, 40), dtype=np.int8)))["variantSetDbId"])
    uow = fake_unit_of_work_factory(db)
    whole = AnalysisRequest(type="grm", variant_set_db_id=set_id)
    budget = working_memory(AnalysisType.GRM, {}, JobShape(39, 6))
    before = len(db.outbox)
    with pytest.raises(Unprocessable, match=r"needs about .* at most") as refused:
        await RequestAnalysis(uow, memory_budget=budget)(BREEDER, whole)
    assert refused.value.details[0].message == "at most 39 samples fit with 6 variants"
    assert (len(db.outbox), db.analyses) == (before, {})
    document = await GetVariantSet(uow)(BREEDER, set_id)
    chosen = [c["callSetDbId"] for c in document.document()["callSets"][:39]]
    fewer = AnalysisRequest(type="grm", variant_set_db_id=set_id, call_set_db_ids=chosen)
    await RequestAnalysis(uow, memory_budget=budget)(BREEDER, fewer)
    assert len(db.analyses) == 1
