"""A variant set's analyses through the platform API and on its console page (ADR 0374): an
analysis older than the organization's latest hundred is still listed and linked, a page at a
time, newest first; a viewer without analysis rights sees no list and the API refuses them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from bijmantra.application.genotyping import ImportGenotypes, ImportSpec
from bijmantra.domain.analysis import AnalysisJob, AnalysisType, JobStatus
from bijmantra.kernel import Principal, TenantId
from bijmantra.testkit.fakes import fake_unit_of_work_factory
from bijmantra.testkit.genotype_fakes import DosageUpload

TENANT = TenantId(uuid.uuid4())
BREEDER = Principal("u1", TENANT, frozenset({"breeder"}))
LATER = 105  # analyses of another set requested after the old one


def _job(set_id: str, minutes: int, kind: AnalysisType = AnalysisType.QC) -> AnalysisJob:
    job = AnalysisJob.request(
        tenant_id=TENANT,
        analysis_db_id=f"job-{uuid.uuid4()}",
        type=kind,
        variant_set_db_id=set_id,
        call_set_db_ids=(),
        parameters={},
        phenotypes={},
        created_at=datetime(2026, 12, 1, tzinfo=UTC) + timedelta(minutes=minutes),
    )
    job.status = JobStatus.COMPLETED
    return job


async def test_an_old_analysis_is_listed_on_its_sets_page_and_by_the_api(
    gateway_on_fakes: Any,
) -> None:
    async with gateway_on_fakes({"breeder-token": BREEDER}) as on:
        uow = fake_unit_of_work_factory(on.fakes.database)
        sets = []
        for name in ("old panel", "busy panel"):
            summary = await ImportGenotypes(uow)(
                BREEDER,
                ImportSpec(name, "vcf", "Cassava"),
                DosageUpload(["S0", "S1", "S2"], np.zeros((4, 3), dtype=np.int8)),
            )
            sets.append(str(summary["variantSetDbId"]))
        old_set, busy_set = sets
        old = _job(old_set, 0, AnalysisType.PCA)
        jobs = [old, _job(old_set, 1), *(_job(busy_set, 10 + i) for i in range(LATER))]
        for job in jobs:
            on.fakes.database.analyses[(TENANT, job.analysis_db_id)] = job

        auth = {"Authorization": "Bearer breeder-token"}
        path = f"/api/v1/variantsets/{old_set}/analyses"
        listed = await on.client.get(path, params={"page_size": 1, "page": 1}, headers=auth)
        assert listed.status_code == 200, listed.text
        body = listed.json()
        assert [d["analysisDbId"] for d in body["data"]] == [old.analysis_db_id]
        assert (body["meta"]["total_count"], body["meta"]["total_pages"]) == (2, 2)
        too_many = await on.client.get(path, params={"page_size": 101}, headers=auth)
        assert too_many.status_code == 422, too_many.text
        assert too_many.json()["error"]["details"][0]["location"] == "page_size"

        cookies = on.signed_in(BREEDER, "breeder-token")
        page = await on.client.get(f"/app/variantsets/{old_set}", cookies=cookies)
        assert page.status_code == 200, page.text
        assert f'href="/app/analyses/{old.analysis_db_id}"' in page.text
        assert "Principal components (PCA)" in page.text
        assert "2 in all" in page.text
