"""Standing storage caps, checked early (ADR 0343): a heavy write of an organization that
stores its cap already — or would pass it with an amount known up front — gets ``storage_full``
before it does its work: an import before its file is read, an analysis before it is queued,
an image's content before its body is read. What it stores is summed from the fakes' own
sets, contents and results; the organizations with room are not touched."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from bijmantra.application.analysis import AnalysisRequest, RequestAnalysis
from bijmantra.application.brapi.commands import ResourceCommands
from bijmantra.application.brapi.modules import catalog
from bijmantra.application.genotyping import ImportGenotypes, ImportSpec
from bijmantra.domain.tenancy.storage import StoredResource
from bijmantra.kernel import Principal, StorageFull, TenantId
from bijmantra.testkit.fakes import InMemoryDatabase, fake_unit_of_work_factory
from bijmantra.testkit.genotype_fakes import DosageUpload, UnreadUpload

FULL, ROOM = TenantId(uuid.UUID(int=21)), TenantId(uuid.UUID(int=22))
ROLES = frozenset({"breeder", "data-manager"})
SPEC = ImportSpec("set", "vcf", "Cassava")
MATRIX = np.zeros((4, 3), np.int8)  # 12 calls


def member(tenant: TenantId) -> Principal:
    return Principal("someone", tenant, ROLES)


@pytest.fixture
def db() -> InMemoryDatabase:
    db = InMemoryDatabase()
    db.storage.caps.update(
        {
            StoredResource.GENOTYPE_CALLS: 12,
            StoredResource.ANALYSIS_RESULT_BYTES: 1_000,
            StoredResource.UPLOAD_BYTES: 1_000,
        }
    )
    return db


async def test_an_import_at_the_cap_is_refused_before_its_file_is_read(
    db: InMemoryDatabase,
) -> None:
    importer = ImportGenotypes(fake_unit_of_work_factory(db))
    await importer(
        member(FULL), SPEC, DosageUpload(["a", "b", "c"], MATRIX, skipped={"not_snp": 2})
    )  # its 12 calls
    with pytest.raises(StorageFull, match=r"genotype calls \(12\) would pass its cap") as no:
        await importer(member(FULL), SPEC, UnreadUpload())
    details = {d.location: d.message for d in no.value.details}
    assert details == {"resource": "stored_genotype_calls", "used": "12", "cap": "12"}
    with pytest.raises(StorageFull):
        await importer.admits(member(FULL))
    assert len(db.variant_sets) == 1
    await importer.admits(member(ROOM))
    await importer(
        member(ROOM), SPEC, DosageUpload(["a", "b", "c"], MATRIX, skipped={"not_snp": 2})
    )
    db.storage.own[(FULL, StoredResource.GENOTYPE_CALLS)] = 24  # an operator's own cap
    await importer(
        member(FULL), SPEC, DosageUpload(["a", "b", "c"], MATRIX, skipped={"not_snp": 2})
    )
    assert len(db.variant_sets) == 3


async def test_an_analysis_of_an_organization_at_its_cap_of_results_is_not_queued(
    db: InMemoryDatabase,
) -> None:
    uow = fake_unit_of_work_factory(db)
    db.storage.caps.pop(StoredResource.GENOTYPE_CALLS)
    for tenant in (FULL, ROOM):
        summary = await ImportGenotypes(uow)(
            member(tenant), SPEC, DosageUpload(["a", "b", "c"], MATRIX, skipped={"not_snp": 2})
        )
        request = AnalysisRequest(type="qc", variant_set_db_id=str(summary["variantSetDbId"]))
        if tenant == FULL:
            db.results[(FULL, "earlier")] = ({"table": bytes(1_000)}, [])  # its cap, kept
            before = len(db.outbox)
            with pytest.raises(StorageFull, match="bytes of analysis results"):
                await RequestAnalysis(uow)(member(tenant), request)
            assert db.analyses == {}  # nothing queued, nothing for a worker to compute
            assert len(db.outbox) == before
        else:
            await RequestAnalysis(uow)(member(tenant), request)
            assert len(db.analyses) == 1


async def test_an_images_declared_size_past_the_cap_is_refused_before_its_body(
    db: InMemoryDatabase,
) -> None:
    commands = ResourceCommands(catalog(), fake_unit_of_work_factory(db))
    png = b"\x89PNG\r\n\x1a\n" + bytes(592)  # 600 bytes
    await commands.create(member(FULL), "image", [{"imageName": "leaf"}], db_ids=["kept"])
    await commands.put_content(member(FULL), "image", "kept", "image/png", png)
    with pytest.raises(StorageFull, match=r"uploaded files \(600\) would pass its cap \(1,000\)"):
        await commands.admits_content(member(FULL), "image", 401)
    await commands.admits_content(member(FULL), "image", 400)  # what is left fits
    await commands.admits_content(member(FULL), "image", 0)  # no length declared: 1 byte
    await commands.admits_content(member(ROOM), "image", 1_000)
    await commands.put_content(member(FULL), "image", "kept", "image/png", png + bytes(400))
    with pytest.raises(StorageFull):  # at the cap: nothing more, whatever the length
        await commands.admits_content(member(FULL), "image", 0)
