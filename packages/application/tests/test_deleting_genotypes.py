"""An organization deletes its own variant sets and analyses (ADR 0345), against the fakes:
the room comes back at once, a set is refused while analyses of it remain (a running one
included), a finished analysis goes with its results, each delete writes its event, and a
viewer, a breeder (for a set), another organization and a replayed delete change nothing."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from bijmantra.application.analysis import (
    AnalysisRequest,
    Artifact,
    CancelAnalysis,
    ClaimAnalysis,
    CompleteAnalysis,
    DeleteAnalysis,
    GetAnalysis,
    RequestAnalysis,
)
from bijmantra.application.analysis.dto import DeletedAnalysis
from bijmantra.application.genotyping import (
    DeleteVariantSet,
    GetVariantSet,
    ImportGenotypes,
    ImportSpec,
)
from bijmantra.application.genotyping.dto import DeletedVariantSet
from bijmantra.domain.tenancy.storage import StoredResource
from bijmantra.kernel import (
    Conflict,
    Forbidden,
    NotFound,
    Principal,
    StorageFull,
    TenantId,
    ValidationFailed,
)
from bijmantra.testkit.documents import answers_as
from bijmantra.testkit.fakes import InMemoryDatabase, fake_unit_of_work_factory
from bijmantra.testkit.genotype_fakes import DosageUpload

from .test_analysis_use_cases import WORKER

TENANT, OTHER = TenantId(uuid.UUID(int=1)), TenantId(uuid.UUID(int=31))
MANAGER = Principal("manager", TENANT, frozenset({"data-manager"}))
BREEDER = Principal("breeder", TENANT, frozenset({"breeder"}))
VIEWER = Principal("viewer", TENANT, frozenset({"viewer"}))
OUTSIDER = Principal("outsider", OTHER, frozenset({"admin"}))
SPEC = ImportSpec("set", "vcf", "Cassava")
MATRIX = np.zeros((4, 3), np.int8)  # 12 calls


@pytest.fixture
def db() -> InMemoryDatabase:
    return InMemoryDatabase()


async def imported(db: InMemoryDatabase, who: Principal = MANAGER) -> str:
    importer = ImportGenotypes(fake_unit_of_work_factory(db))
    summary = await importer(
        who, SPEC, DosageUpload(["a", "b", "c"], MATRIX, skipped={"not_snp": 2})
    )
    return str(summary["variantSetDbId"])


async def completed(db: InMemoryDatabase, set_id: str, result: bytes) -> str:
    """A QC job of ``set_id`` completed with results of ``len(result) + 2`` bytes."""
    uow = fake_unit_of_work_factory(db)
    request = AnalysisRequest(type="qc", variant_set_db_id=set_id)
    job_id = str((await RequestAnalysis(uow)(BREEDER, request))["analysisDbId"])
    claim = await ClaimAnalysis(uow)(WORKER, job_id, "w")
    await CompleteAnalysis(uow)(
        WORKER,
        job_id,
        claim.attempt,
        summary={},
        tables={"t": b"[]"},
        artifacts=[Artifact("a.png", "image/png", result)],
        timings={},
    )
    return job_id


async def test_deleting_a_set_frees_its_calls_for_the_import_that_was_refused(
    db: InMemoryDatabase,
) -> None:
    db.storage.caps[StoredResource.GENOTYPE_CALLS] = 12
    set_id = await imported(db)
    importer = ImportGenotypes(fake_unit_of_work_factory(db))
    with pytest.raises(StorageFull):
        await importer(MANAGER, SPEC, DosageUpload(["a", "b", "c"], MATRIX, skipped={"not_snp": 2}))
    deleted = await DeleteVariantSet(fake_unit_of_work_factory(db))(MANAGER, set_id)
    answer = answers_as(deleted, DeletedVariantSet)  # as the contract publishes it
    assert (answer.variant_count, answer.call_set_count, answer.genotype_calls) == (4, 3, 12)
    assert db.variant_sets == {}
    event = db.outbox[-1]
    assert (event.type, event.subject, event.actor) == (
        "genotyping.variant_set_deleted",
        set_id,
        "manager",
    )
    assert event.data == {
        "variant_set_db_id": set_id,
        "name": "set",
        "n_variants": 4,
        "n_samples": 3,
    }
    await importer(
        MANAGER, SPEC, DosageUpload(["a", "b", "c"], MATRIX, skipped={"not_snp": 2})
    )  # the room is back
    with pytest.raises(NotFound):
        await GetVariantSet(fake_unit_of_work_factory(db))(MANAGER, set_id)


async def test_a_viewer_a_breeder_another_organization_and_a_replay_delete_nothing(
    db: InMemoryDatabase,
) -> None:
    set_id = await imported(db)
    delete = DeleteVariantSet(fake_unit_of_work_factory(db))
    for who in (VIEWER, BREEDER):  # removing an import for good is the data managers'
        with pytest.raises(Forbidden):
            await delete(who, set_id)
    with pytest.raises(NotFound):
        await delete(OUTSIDER, set_id)  # another organization's id reads as unknown
    events = len(db.outbox)
    assert len(db.variant_sets) == 1
    await delete(MANAGER, set_id)
    with pytest.raises(NotFound):
        await delete(MANAGER, set_id)  # a replay: the set is gone, nothing more happens
    assert len(db.outbox) == events + 1


async def test_a_set_with_analyses_is_refused_naming_them_until_they_are_deleted(
    db: InMemoryDatabase,
) -> None:
    db.storage.caps[StoredResource.ANALYSIS_RESULT_BYTES] = 1_000
    set_id = await imported(db)
    uow = fake_unit_of_work_factory(db)
    request = AnalysisRequest("qc", set_id)
    running = str((await RequestAnalysis(uow)(BREEDER, request))["analysisDbId"])
    await ClaimAnalysis(uow)(WORKER, running, "w")
    done = await completed(db, set_id, bytes(998))  # 1,000 bytes of results: the cap
    with pytest.raises(StorageFull):
        await RequestAnalysis(uow)(BREEDER, request)
    delete_set, delete_job = DeleteVariantSet(uow), DeleteAnalysis(uow)
    events = len(db.outbox)
    with pytest.raises(Conflict, match="has 2 analyses computed from it") as refused:
        await delete_set(MANAGER, set_id)
    named = {d.location: d.message for d in refused.value.details}
    assert named == {f"analyses.{running}": "running", f"analyses.{done}": "completed"}
    with pytest.raises(Conflict, match="is running: cancel it first"):
        await delete_job(BREEDER, running)  # a worker is computing it
    with pytest.raises(Forbidden):
        await delete_job(VIEWER, done)
    with pytest.raises(NotFound):
        await delete_job(OUTSIDER, done)
    assert len(db.outbox) == events
    answer = answers_as(await delete_job(BREEDER, done), DeletedAnalysis)
    assert (answer.status, answer.result_bytes) == ("completed", 1_000)
    assert (TENANT, done) not in db.results
    event = db.outbox[-1]
    assert (event.type, event.subject, event.actor, event.data["variant_set_db_id"]) == (
        "analysis.deleted",
        done,
        "breeder",
        set_id,
    )
    again = str((await RequestAnalysis(uow)(BREEDER, request))["analysisDbId"])  # room again
    with pytest.raises(NotFound):
        await GetAnalysis(uow)(BREEDER, done)
    with pytest.raises(NotFound):
        await delete_job(BREEDER, done)  # a replay
    with pytest.raises(Conflict, match="has 2 analyses"):
        await delete_set(MANAGER, set_id)
    for job_id in (running, again):
        await CancelAnalysis(uow)(BREEDER, job_id)
        await delete_job(BREEDER, job_id)
    await delete_set(MANAGER, set_id)
    assert (db.variant_sets, db.analyses) == ({}, {})
    with pytest.raises(ValidationFailed, match="not found"):
        await RequestAnalysis(uow)(BREEDER, request)
