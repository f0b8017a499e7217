"""Standing storage caps per organization (ADR 0343) against the real database: what an
organization stores is read from its rows at each heavy write, so an import at the cap is
refused before its file is read, an import that crosses the cap is rolled back whole at its
commit, deleting frees room for the next write, another organization is not counted (row-level
security and the tenant's key), and two racing writes cannot both cross the cap."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import numpy as np
import psycopg
import pytest
from bijmantra.adapters.postgres import unit_of_work_factory
from bijmantra.adapters.postgres.storage import STANDING
from bijmantra.adapters.postgres.uow import set_tenant
from bijmantra.application.genotyping import ImportGenotypes, ImportSpec
from bijmantra.application.ports import GenotypeBlock
from bijmantra.domain.genotyping import CallSet, VariantSet
from bijmantra.domain.tenancy.storage import StorageCaps, StoredResource
from bijmantra.genomics.formats import VcfParser
from bijmantra.kernel import Principal, StorageFull, TenantId
from bijmantra.testkit.provision import ProvisionedDatabase
from bijmantra.testkit.vcf import random_vcf
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration
CALLS = StoredResource.GENOTYPE_CALLS
UPLOADS = StoredResource.UPLOAD_BYTES
PNG = b"\x89PNG\r\n\x1a\n"
AT = datetime(2026, 12, 7, tzinfo=UTC)
# The totals without their own tenant filter: what row-level security alone lets through.
UNFILTERED = {
    CALLS: "SELECT coalesce(sum(n_samples::bigint * n_variants), 0) FROM domain.variant_sets",
    UPLOADS: "SELECT coalesce(sum(octet_length(content)), 0) FROM domain.resource_contents",
    StoredResource.ANALYSIS_RESULT_BYTES: (
        "SELECT coalesce(sum(octet_length(data)), 0) FROM domain.analysis_results"
    ),
}


def _scalar(database: ProvisionedDatabase, query: str, *args: object) -> int:
    with psycopg.connect(database.owner_url) as conn:
        row = conn.execute(query, args).fetchone()
    assert row is not None
    return int(row[0] or 0)


def _sets(database: ProvisionedDatabase, tenant: TenantId) -> int:
    return _scalar(
        database, "SELECT count(*) FROM domain.variant_sets WHERE tenant_id = %s", tenant
    )


def _chunks(database: ProvisionedDatabase, tenant: TenantId) -> int:
    return _scalar(
        database, "SELECT count(*) FROM domain.genotype_chunks WHERE tenant_id = %s", tenant
    )


async def _import(
    engine: AsyncEngine, tenant: TenantId, cap: int, samples: int = 4, variants: int = 10
) -> None:
    """A variant set of ``variants`` x ``samples`` calls imported as the import use case does
    (create, stream, seal, commit) under a standing cap of ``cap`` calls."""
    written = random_vcf(np.random.default_rng(samples), variants, samples)
    parser = VcfParser(block_lines=4)
    blocks = parser.feed(written.text().encode()) + parser.finish()
    call_sets = [CallSet(f"cs-{uuid.uuid4()}", f"s{j}", "g", j) for j in range(samples)]
    variant_set = VariantSet(tenant, f"vs-{uuid.uuid4()}", "calls", "vcf", call_sets)
    factory = unit_of_work_factory(engine, source="t", caps=StorageCaps({CALLS: cap}))
    async with factory(tenant) as uow:
        writer = await uow.genotypes.create(variant_set)
        for block in blocks:
            await writer.append(block)
        variant_set.imported(await writer.close(), {}, actor="t", at=AT)
        await uow.genotypes.seal(variant_set)
        await uow.commit()


class UnreadUpload:
    """A genotype file that must not be read."""

    skipped: dict[str, int] = {}
    contig_lengths: dict[str, int | None] = {}

    async def sample_names(self) -> list[str]:
        raise AssertionError("the file was read before the cap was checked")

    async def blocks(self) -> AsyncIterator[GenotypeBlock]:
        raise AssertionError("the file was read before the cap was checked")
        yield  # pragma: no cover


async def test_an_organization_at_its_cap_is_refused_before_its_import_is_read(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    tenant, other = TenantId(uuid.uuid4()), TenantId(uuid.uuid4())
    await _import(engine, tenant, 40)  # 40 calls: exactly the cap
    factory = unit_of_work_factory(engine, source="t", caps=StorageCaps({CALLS: 40}))
    importer = ImportGenotypes(factory)
    member = Principal("m", tenant, frozenset({"data-manager"}))
    spec = ImportSpec("s", "vcf", "Cassava")
    with pytest.raises(StorageFull, match=r"genotype calls \(40\) would pass its cap \(40\)") as no:
        await importer(member, spec, UnreadUpload())
    details = {d.location: d.message for d in no.value.details}
    assert details == {"resource": "stored_genotype_calls", "used": "40", "cap": "40"}
    with pytest.raises(StorageFull):
        await importer.admits(member)  # what the gateway asks before it reads a form
    assert _sets(database, tenant) == 1  # the refused import left no set, chunk or call set
    await _import(engine, other, 40)  # another organization's cap is its own
    assert _sets(database, other) == 1


async def test_an_import_that_crosses_the_cap_is_rolled_back_whole_at_its_commit(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    """Below the cap when it starts, so it streams; its calls are known at the end, and the
    commit refuses it: no set, no chunk."""
    tenant = TenantId(uuid.uuid4())
    await _import(engine, tenant, 60)  # 40 of 60
    chunks = _chunks(database, tenant)
    with pytest.raises(StorageFull, match=r"genotype calls \(80\) would pass its cap \(60\)"):
        await _import(engine, tenant, 60)  # 40 more: 80
    assert (_sets(database, tenant), _chunks(database, tenant)) == (1, chunks)
    await _import(engine, tenant, 60, samples=2)  # 20 more fit exactly
    assert _sets(database, tenant) == 2


async def test_rows_removed_free_room_for_the_next_import(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    """No counter to decrement: a set removed by any path (here the owner, as an erasure or a
    restore would) is not counted by the next write."""
    tenant = TenantId(uuid.uuid4())
    await _import(engine, tenant, 40)
    with pytest.raises(StorageFull):
        await _import(engine, tenant, 40)
    with psycopg.connect(database.owner_url) as conn:
        conn.execute("DELETE FROM domain.variant_sets WHERE tenant_id = %s", (tenant,))
    await _import(engine, tenant, 40)
    assert _sets(database, tenant) == 1


async def test_an_operators_own_cap_replaces_the_deployments_for_that_organization(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    larger, tenant = TenantId(uuid.uuid4()), TenantId(uuid.uuid4())
    with psycopg.connect(database.owner_url) as conn:
        conn.execute(
            "INSERT INTO domain.organization_quotas (tenant_id, resource, daily_limit) "
            "VALUES (%s, 'stored_genotype_calls', 80)",
            (larger,),
        )
    for _ in range(2):
        await _import(engine, larger, 40)  # the deployment's 40 is not its cap
    with pytest.raises(StorageFull, match=r"cap \(80\)"):
        await _import(engine, larger, 40)
    await _import(engine, tenant, 40)
    with pytest.raises(StorageFull):
        await _import(engine, tenant, 40)


async def _standing(engine: AsyncEngine, tenant: TenantId, resource: StoredResource) -> int:
    async with engine.connect() as conn:
        await conn.begin()
        await set_tenant(conn, tenant)
        sql = STANDING[resource].replace("%(resource)s", ":resource")
        row = (await conn.execute(text(sql), {"resource": resource.value})).one()
        await conn.rollback()
    return int(row[0])


async def test_the_total_counts_only_the_organizations_own_rows(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    """Another organization's sets, uploads and results are not in its total, even with the
    statement's own tenant filter gone: row-level security keeps them out."""
    tenant, other = TenantId(uuid.uuid4()), TenantId(uuid.uuid4())
    await _import(engine, other, 10**6, samples=8, variants=50)
    await _import(engine, tenant, 10**6)
    assert await _standing(engine, tenant, CALLS) == 40
    assert await _standing(engine, other, CALLS) == 400
    async with engine.connect() as conn:
        await conn.begin()
        await set_tenant(conn, tenant)
        for resource, sql in UNFILTERED.items():
            total = (await conn.execute(text(sql))).scalar_one()
            assert total == (40 if resource is CALLS else 0), resource
        await conn.rollback()


async def test_the_total_is_read_from_the_tenants_key_not_from_the_calls(
    engine: AsyncEngine,
) -> None:
    """Each total is served by an index led by the tenant and reads no chunk of calls."""
    tenant = TenantId(uuid.uuid4())
    await _import(engine, tenant, 10**6)
    async with engine.connect() as conn:
        await conn.begin()
        await set_tenant(conn, tenant)
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        for resource, sql in STANDING.items():
            plan = "\n".join(
                (
                    await conn.execute(
                        text("EXPLAIN " + sql.replace("%(resource)s", ":r")), {"r": resource.value}
                    )
                ).scalars()
            )
            indexes = {
                CALLS: ["variant_sets_pkey"],
                UPLOADS: ["resource_contents_pkey"],
                StoredResource.ANALYSIS_RESULT_BYTES: ["analysis_results_pkey"],
                # Every index of the devices is led by the tenant: the planner picks any.
                StoredResource.ENROLLED_DEVICES: [
                    "sensor_devices_pkey",
                    "sensor_devices_location_idx",
                    "sensor_devices_study_idx",
                ],
            }[resource]
            assert any(
                f"Index Scan on {index}" in plan or f"using {index}" in plan for index in indexes
            ), plan
            assert "organization_quotas_pkey" in plan, plan
            assert "genotype_chunks" not in plan, plan
            assert "Seq Scan" not in plan, plan
        await conn.rollback()


async def _upload(engine: AsyncEngine, tenant: TenantId, cap: int, size: int) -> str:
    """An image document and its content of ``size`` bytes, under a cap of ``cap`` bytes."""
    db_id = f"img-{uuid.uuid4()}"
    factory = unit_of_work_factory(engine, source="t", caps=StorageCaps({UPLOADS: cap}))
    async with factory(tenant) as uow:
        await uow.resources.insert("image", [(db_id, {"imageDbId": db_id, "imageName": "x"})])
        await uow.resources.put_content("image", db_id, "image/png", PNG + bytes(size - len(PNG)))
        await uow.commit()
    return db_id


async def _delete(engine: AsyncEngine, tenant: TenantId, db_id: str) -> None:
    async with unit_of_work_factory(engine, source="t")(tenant) as uow:
        await uow.resources.soft_delete("image", [db_id])
        await uow.commit()


def _contents(database: ProvisionedDatabase, tenant: TenantId) -> int:
    return _scalar(
        database, "SELECT count(*) FROM domain.resource_contents WHERE tenant_id = %s", tenant
    )


async def test_deleting_an_image_frees_its_bytes_for_the_next_upload(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    tenant, other = TenantId(uuid.uuid4()), TenantId(uuid.uuid4())
    first = await _upload(engine, tenant, 1000, 600)
    with pytest.raises(StorageFull, match=r"uploaded files \(1,200\) would pass its cap \(1,000\)"):
        await _upload(engine, tenant, 1000, 600)
    assert _contents(database, tenant) == 1  # the refused upload kept no content
    await _upload(engine, other, 1000, 600)  # another organization is not counted
    await _delete(engine, tenant, first)
    assert _contents(database, tenant) == 0  # a deleted image's content goes with it
    await _upload(engine, tenant, 1000, 600)
    assert _contents(database, tenant) == 1


async def test_two_racing_imports_cannot_both_cross_the_cap(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    """Both start below the cap; their commits check in turn, so the second sees the
    first's committed calls and is refused."""
    tenant = TenantId(uuid.uuid4())
    results = await asyncio.gather(
        *(_import(engine, tenant, 60) for _ in range(3)), return_exceptions=True
    )
    assert sorted(type(r).__name__ for r in results) == ["NoneType", "StorageFull", "StorageFull"]
    assert _sets(database, tenant) == 1
