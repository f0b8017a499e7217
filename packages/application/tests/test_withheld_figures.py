"""A figure the worker will never attach is withheld, with why (ADR 0369): listed as not
pending with its reason, answered at once with a 409 naming it, in one transaction with the
attach, and only while still pending: a late twin changes nothing, an attached figure is never
withheld, and a withheld one is never filled by a late attach."""

from __future__ import annotations

import time
import uuid

import numpy as np
import pytest
from bijmantra.application.analysis import (
    AnalysisRequest,
    Artifact,
    AttachFigures,
    ClaimAnalysis,
    CompleteAnalysis,
    GetAnalysis,
    GetArtifact,
    RequestAnalysis,
)
from bijmantra.application.analysis.dto import AnalysisDocument
from bijmantra.application.genotyping import ImportGenotypes, ImportSpec
from bijmantra.domain.analysis import Withheld
from bijmantra.kernel import Conflict, NotFound, Principal, TenantId
from bijmantra.testkit.documents import answers_as
from bijmantra.testkit.fakes import InMemoryDatabase, fake_unit_of_work_factory
from bijmantra.testkit.genotype_fakes import DosageUpload

TENANT = TenantId(uuid.UUID(int=1))
BREEDER = Principal("breeder", TENANT, frozenset({"breeder"}))
WORKER = Principal("service:analytics-worker", TENANT, frozenset({"analysis-worker"}))
OUTSIDER = Principal("other", TenantId(uuid.UUID(int=2)), frozenset({"breeder"}))
PNG, SVG = ("grm.png", "image/png"), ("grm.svg", "image/svg+xml")


async def _completed(db: InMemoryDatabase) -> str:
    uow = fake_unit_of_work_factory(db)
    names = ["S0", "S1", "S2"]
    upload = DosageUpload(names, np.zeros((4, 3), dtype=np.int8))
    summary = await ImportGenotypes(uow)(BREEDER, ImportSpec("set", "vcf", "Cassava"), upload)
    request = AnalysisRequest(type="grm", variant_set_db_id=str(summary["variantSetDbId"]))
    job_id = str((await RequestAnalysis(uow)(BREEDER, request))["analysisDbId"])
    claim = await ClaimAnalysis(uow)(WORKER, job_id, "worker-a")
    await CompleteAnalysis(uow)(
        WORKER,
        job_id,
        claim.attempt,
        summary={},
        tables={},
        artifacts=[Artifact(*PNG, None), Artifact(*SVG, None)],
        timings={},
    )
    return job_id


async def test_a_withheld_figure_is_listed_with_its_reason_and_refused_at_once() -> None:
    db = InMemoryDatabase()
    uow = fake_unit_of_work_factory(db)
    job_id = await _completed(db)
    attached = await AttachFigures(uow)(
        WORKER, job_id, [Artifact(*SVG, b"<svg/>")], {"grm.png": Withheld.NOT_DRAWN}
    )
    assert attached == 1
    document = await GetAnalysis(uow)(BREEDER, job_id)
    assert answers_as(document, AnalysisDocument).results
    png, svg = document["results"]["artifacts"]
    assert png == {
        "name": "grm.png",
        "mediaType": "image/png",
        "size": None,
        "pending": False,
        "withheld": "not_drawn",
        "withheldMessage": Withheld.NOT_DRAWN.message,
    }
    assert (svg["pending"], svg["withheld"], svg["size"]) == (False, None, 6)
    started = time.monotonic()
    with pytest.raises(Conflict, match="not_drawn"):
        await GetArtifact(uow, patience=30)(BREEDER, job_id, "grm.png")
    assert time.monotonic() - started < 1  # never waited for
    # a late twin of the attach changes nothing; the withheld figure stays withheld
    assert await AttachFigures(uow)(WORKER, job_id, [Artifact(*PNG, b"png")]) == 0
    with pytest.raises(Conflict, match="not_drawn"):
        await GetArtifact(uow, patience=0)(BREEDER, job_id, "grm.png")
    # an attached figure is never turned into withheld; a withheld one keeps its first reason
    await AttachFigures(uow)(
        WORKER, job_id, [], {"grm.svg": Withheld.QUOTA, "grm.png": Withheld.STORAGE_FULL}
    )
    png, svg = (await GetAnalysis(uow)(BREEDER, job_id))["results"]["artifacts"]
    assert (png["withheld"], svg["withheld"], svg["size"]) == ("not_drawn", None, 6)
    # the redelivery of the job's message does not redraw: nothing of it is pending
    again = await ClaimAnalysis(uow)(WORKER, job_id, "worker-b")
    assert again.proceed is False


async def test_storage_full_tells_the_user_to_free_room_and_request_again() -> None:
    db = InMemoryDatabase()
    uow = fake_unit_of_work_factory(db)
    job_id = await _completed(db)
    withheld = dict.fromkeys(["grm.png", "grm.svg"], Withheld.STORAGE_FULL)
    assert await AttachFigures(uow)(WORKER, job_id, [], withheld) == 0
    artifacts = (await GetAnalysis(uow)(BREEDER, job_id))["results"]["artifacts"]
    assert {a["withheld"] for a in artifacts} == {"storage_full"}
    assert all(not a["pending"] for a in artifacts)
    assert "request the analysis again" in artifacts[0]["withheldMessage"]
    with pytest.raises(Conflict, match="storage cap"):
        await GetArtifact(uow, patience=30)(BREEDER, job_id, "grm.svg")


async def test_another_organization_cannot_withhold_or_read_the_figure() -> None:
    db = InMemoryDatabase()
    uow = fake_unit_of_work_factory(db)
    job_id = await _completed(db)
    other_worker = Principal(
        "service:analytics-worker", TenantId(uuid.UUID(int=2)), frozenset({"analysis-worker"})
    )
    with pytest.raises(NotFound):
        await AttachFigures(uow)(other_worker, job_id, [], {"grm.png": Withheld.QUOTA})
    with pytest.raises(NotFound):
        await GetArtifact(uow, patience=0)(OUTSIDER, job_id, "grm.png")
    artifacts = (await GetAnalysis(uow)(BREEDER, job_id))["results"]["artifacts"]
    assert all(a["pending"] and a["withheld"] is None for a in artifacts)
