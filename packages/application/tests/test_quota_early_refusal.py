"""The early refusal (ADR 0340): a heavy write of an organization whose day of the resource it
would charge is used up gets the quota's 429 before it does its work — an import before its
file is read, an analysis before it is queued, an upload before its content is stored — and
the organizations with room are not touched. Against the in-memory fakes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import numpy as np
import pytest
from bijmantra.application.analysis import AnalysisRequest, RequestAnalysis
from bijmantra.application.brapi.commands import ResourceCommands
from bijmantra.application.brapi.modules import catalog
from bijmantra.application.genotyping import ImportGenotypes, ImportSpec
from bijmantra.domain.tenancy.quotas import Resource, period_of
from bijmantra.kernel import FixedClock, Principal, RateLimited, TenantId
from bijmantra.testkit.fakes import InMemoryDatabase, fake_unit_of_work_factory
from bijmantra.testkit.genotype_fakes import DosageUpload, UnreadUpload

NOW = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)
DAY = period_of(NOW)
FULL, ROOM = TenantId(uuid.UUID(int=11)), TenantId(uuid.UUID(int=12))
ROLES = frozenset({"breeder", "data-manager"})


def member(tenant: TenantId) -> Principal:
    return Principal("someone", tenant, ROLES)


@pytest.fixture
def db() -> InMemoryDatabase:
    db = InMemoryDatabase()
    db.usage.limits.update(
        {
            Resource.GENOTYPE_CALLS: 100,
            Resource.ANALYSIS_RESULT_BYTES: 1_000,
            Resource.UPLOAD_BYTES: 1_000,
        }
    )
    for resource, limit in db.usage.limits.items():
        db.usage.used[(FULL, resource, DAY)] = limit  # the day, used up
    return db


async def test_an_import_is_refused_before_its_file_is_read(db: InMemoryDatabase) -> None:
    importer = ImportGenotypes(fake_unit_of_work_factory(db), clock=FixedClock(NOW))
    spec = ImportSpec("set", "vcf", "Cassava")
    with pytest.raises(RateLimited, match="daily quota of genotype calls") as refused:
        await importer(member(FULL), spec, UnreadUpload())
    details = {d.location: d.message for d in refused.value.details}
    assert details == {"retryAfter": "3600", "quota": "genotype_calls"}  # to 00:00 UTC
    assert db.variant_sets == {}
    assert db.outbox == []
    matrix = np.zeros((4, 3), np.int8)
    summary = await importer(
        member(ROOM), spec, DosageUpload(["a", "b", "c"], matrix, skipped={"not_snp": 2})
    )
    assert summary["variantsImported"] == 4


async def test_an_analysis_is_refused_before_it_is_queued(db: InMemoryDatabase) -> None:
    uow = fake_unit_of_work_factory(db)
    matrix = np.zeros((4, 3), np.int8)
    spec = ImportSpec("set", "vcf", "Cassava")
    for tenant in (FULL, ROOM):
        db.usage.used.pop((tenant, Resource.GENOTYPE_CALLS, DAY), None)
        summary = await ImportGenotypes(uow, clock=FixedClock(NOW))(
            member(tenant), spec, DosageUpload(["a", "b", "c"], matrix, skipped={"not_snp": 2})
        )
        request = AnalysisRequest(type="qc", variant_set_db_id=str(summary["variantSetDbId"]))
        before = len(db.outbox)
        if tenant == FULL:
            with pytest.raises(RateLimited, match="bytes of analysis results"):
                await RequestAnalysis(uow, clock=FixedClock(NOW))(member(tenant), request)
            assert db.analyses == {}  # nothing queued
            assert len(db.outbox) == before
        else:
            await RequestAnalysis(uow, clock=FixedClock(NOW))(member(tenant), request)
            assert len(db.analyses) == 1
            assert db.outbox[-1].type == "analysis.requested"


async def test_an_upload_is_refused_when_its_size_would_pass_the_day(
    db: InMemoryDatabase,
) -> None:
    commands = ResourceCommands(catalog(), fake_unit_of_work_factory(db), clock=FixedClock(NOW))
    png = b"\x89PNG\r\n\x1a\n" + bytes(592)  # 600 bytes
    db.usage.used[(FULL, Resource.UPLOAD_BYTES, DAY)] = 500  # 400 bytes left
    ids = {FULL: "image-full", ROOM: "image-room"}
    for tenant, db_id in ids.items():
        await commands.create(member(tenant), "image", [{"imageName": "leaf"}], db_ids=[db_id])
    with pytest.raises(RateLimited, match="bytes of uploaded files"):
        await commands.put_content(member(FULL), "image", ids[FULL], "image/png", png)
    assert db.contents == {}  # the size was known: nothing stored
    await commands.put_content(member(FULL), "image", ids[FULL], "image/png", png[:400])
    await commands.put_content(member(ROOM), "image", ids[ROOM], "image/png", png)
    assert len(db.contents) == 2


async def test_an_unbounded_resource_reads_nothing(db: InMemoryDatabase) -> None:
    db.usage.limits.pop(Resource.GENOTYPE_CALLS)
    importer = ImportGenotypes(fake_unit_of_work_factory(db), clock=FixedClock(NOW))
    matrix = np.zeros((4, 3), np.int8)
    spec = ImportSpec("set", "vcf", "Cassava")
    await importer(
        member(FULL), spec, DosageUpload(["a", "b", "c"], matrix, skipped={"not_snp": 2})
    )
    assert db.usage.reads == 0
