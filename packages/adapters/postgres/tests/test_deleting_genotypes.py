"""Deleting variant sets and analyses against the real database (ADR 0345): everything the store
keeps of a set goes in one transaction of bounded statements, and the room with it (the next
write refused ``storage_full`` then passes); another organization's id finds nothing, even by
a statement that forgets its tenant; a set with analyses is refused; an analysis requested
while its set is being deleted waits for the delete and is refused as an unknown set."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import psycopg
import pytest
from bijmantra.adapters.postgres import genotype_deletes, genotypes, unit_of_work_factory
from bijmantra.adapters.postgres.uow import set_tenant
from bijmantra.application.analysis import (
    AnalysisRequest,
    Artifact,
    DeleteAnalysis,
    RequestAnalysis,
)
from bijmantra.application.genotyping import DeleteVariantSet, GenotypeChunk, StreamGenotypes
from bijmantra.domain.analysis import AnalysisJob, AnalysisType, JobStatus
from bijmantra.domain.tenancy.storage import StorageCaps, StoredResource
from bijmantra.kernel import Conflict, NotFound, Principal, StorageFull, TenantId, ValidationFailed
from bijmantra.testkit.provision import ProvisionedDatabase
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from .test_storage_caps import CALLS, _import, _scalar, _sets

pytestmark = pytest.mark.integration
RESULTS = StoredResource.ANALYSIS_RESULT_BYTES
AT = datetime(2026, 12, 7, tzinfo=UTC)
PARTS = ("genotype_chunks", "variants", "call_sets", "variant_sets")
FORGETFUL = (
    "DELETE FROM domain.genotype_chunks WHERE variant_set_db_id = :s",
    "DELETE FROM domain.variants WHERE variant_set_db_id = :s",
    "DELETE FROM domain.call_sets WHERE variant_set_db_id = :s",
    "DELETE FROM domain.variant_sets WHERE variant_set_db_id = :s",
)


def manager(tenant: TenantId) -> Principal:
    return Principal("manager", tenant, frozenset({"data-manager"}))


def _rows(database: ProvisionedDatabase, tenant: TenantId) -> dict[str, int]:
    """The organization's rows of each table of the genotype store."""
    with psycopg.connect(database.owner_url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM domain.genotype_chunks WHERE tenant_id = %(t)s), "
            "(SELECT count(*) FROM domain.variants WHERE tenant_id = %(t)s), "
            "(SELECT count(*) FROM domain.call_sets WHERE tenant_id = %(t)s), "
            "(SELECT count(*) FROM domain.variant_sets WHERE tenant_id = %(t)s)",
            {"t": tenant},
        ).fetchone()
    assert row is not None
    return dict(zip(PARTS, map(int, row), strict=True))


def _set_id(database: ProvisionedDatabase, tenant: TenantId) -> str:
    with psycopg.connect(database.owner_url) as conn:
        row = conn.execute(
            "SELECT variant_set_db_id FROM domain.variant_sets WHERE tenant_id = %s "
            "ORDER BY created_at DESC LIMIT 1",
            (tenant,),
        ).fetchone()
    assert row is not None
    return str(row[0])


async def test_a_set_goes_whole_in_bounded_statements_and_its_room_with_it(
    engine: AsyncEngine, database: ProvisionedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small steps, so each part takes several statements: 3 chunks of 256 variants, 600
    # variants, 4 call sets.
    monkeypatch.setattr(genotypes, "chunk_variants_for", lambda n_samples: 256)
    for part, step in (("genotype_chunks", 1), ("variants", 70), ("call_sets", 3)):
        last, delete, _ = genotype_deletes.PARTS[part]
        monkeypatch.setitem(genotype_deletes.PARTS, part, (last, delete, step))
    tenant, other = TenantId(uuid.uuid4()), TenantId(uuid.uuid4())
    await _import(engine, tenant, 2_400, samples=4, variants=600)  # the cap: 2,400 calls
    await _import(engine, other, 2_400, samples=4, variants=600)
    set_id = _set_id(database, tenant)
    assert _rows(database, tenant) == {
        "genotype_chunks": 3,
        "variants": 600,
        "call_sets": 4,
        "variant_sets": 1,
    }
    with pytest.raises(StorageFull):
        await _import(engine, tenant, 2_400)
    factory = unit_of_work_factory(engine, source="t", caps=StorageCaps({CALLS: 2_400}))
    delete = DeleteVariantSet(factory)
    with pytest.raises(NotFound):
        await delete(manager(other), set_id)  # another organization's id: unknown
    answer = await delete(manager(tenant), set_id)
    assert answer["genotypeCalls"] == 2_400
    assert set(_rows(database, tenant).values()) == {0}
    assert _rows(database, other)["variants"] == 600  # the other organization's set stays
    events = _scalar(
        database,
        "SELECT count(*) FROM domain.outbox WHERE tenant_id = %s AND aggregate_id = %s "
        "AND type = 'genotyping.variant_set_deleted'",
        tenant,
        set_id,
    )
    assert events == 1
    await _import(engine, tenant, 2_400, samples=4, variants=600)  # the room is back at once
    with pytest.raises(NotFound):
        await delete(manager(tenant), set_id)  # a replay finds nothing


async def test_a_statement_that_forgets_its_tenant_deletes_nothing_of_another(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    tenant, other = TenantId(uuid.uuid4()), TenantId(uuid.uuid4())
    await _import(engine, tenant, 10**6)
    set_id = _set_id(database, tenant)
    async with unit_of_work_factory(engine, source="t")(other) as uow:
        assert await uow.genotypes.locked(set_id) is None
    async with engine.connect() as conn:
        await conn.begin()
        await set_tenant(conn, other)
        for statement in FORGETFUL:  # no tenant filter: row-level security alone
            deleted = await conn.execute(text(statement), {"s": set_id})
            assert deleted.rowcount == 0
        await conn.commit()
    assert _sets(database, tenant) == 1
    assert _rows(database, tenant)["variants"] == 10


def _job(tenant: TenantId, set_id: str) -> AnalysisJob:
    return AnalysisJob.request(
        tenant_id=tenant,
        analysis_db_id=f"job-{uuid.uuid4()}",
        type=AnalysisType.QC,
        variant_set_db_id=set_id,
        call_set_db_ids=(),
        parameters={},
        phenotypes={},
        created_at=AT,
    )


async def test_analyses_hold_their_set_and_go_with_their_results(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    tenant = TenantId(uuid.uuid4())
    await _import(engine, tenant, 10**6)
    set_id = _set_id(database, tenant)
    factory = unit_of_work_factory(engine, source="t", caps=StorageCaps({RESULTS: 1_000}))
    done, running = _job(tenant, set_id), _job(tenant, set_id)
    done.status, running.status = JobStatus.COMPLETED, JobStatus.RUNNING
    async with factory(tenant) as uow:
        uow.analyses.add(done)
        uow.analyses.add(running)
        await uow.analyses.flush()
        table = {"t": b"[" + b"1," * 399 + b"1]"}  # 801 bytes
        await uow.analyses.store_results(
            done.analysis_db_id, table, [Artifact("a.png", "image/png", bytes(199))]
        )
        await uow.commit()
    member = Principal("m", tenant, frozenset({"data-manager"}))
    request = AnalysisRequest("qc", set_id)
    with pytest.raises(StorageFull):  # 1,000 bytes kept: the cap
        await RequestAnalysis(factory)(member, request)
    with pytest.raises(Conflict, match="has 2 analyses") as refused:
        await DeleteVariantSet(factory)(member, set_id)
    assert {d.location for d in refused.value.details} == {
        f"analyses.{done.analysis_db_id}",
        f"analyses.{running.analysis_db_id}",
    }
    with pytest.raises(Conflict, match="cancel it first"):
        await DeleteAnalysis(factory)(member, running.analysis_db_id)
    answer = await DeleteAnalysis(factory)(member, done.analysis_db_id)
    assert answer["resultBytes"] == 1_000
    results = "SELECT count(*) FROM domain.analysis_results WHERE tenant_id = %s"
    assert _scalar(database, results, tenant) == 0
    queued = await RequestAnalysis(factory)(member, request)  # the room is back
    with pytest.raises(NotFound):
        await DeleteAnalysis(factory)(member, done.analysis_db_id)
    assert _sets(database, tenant) == 1
    assert queued["status"] == "queued"


async def test_an_analysis_requested_during_the_delete_waits_and_finds_no_set(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    tenant = TenantId(uuid.uuid4())
    await _import(engine, tenant, 10**6)
    set_id = _set_id(database, tenant)
    factory = unit_of_work_factory(engine, source="t")
    member = Principal("m", tenant, frozenset({"data-manager"}))
    async with factory(tenant) as uow:
        assert await uow.genotypes.locked(set_id) is not None
        requested = asyncio.create_task(
            RequestAnalysis(factory)(member, AnalysisRequest("qc", set_id))
        )
        await asyncio.sleep(1.0)
        assert not requested.done()  # its job's key waits for the locked set
        assert (await uow.analyses.computed_from(set_id, 5)) == ([], 0)
        await uow.genotypes.delete(set_id)
        await uow.commit()
    with pytest.raises(ValidationFailed, match="variant set was deleted"):
        await requested
    jobs = "SELECT count(*) FROM domain.analysis_jobs WHERE tenant_id = %s"
    assert (_scalar(database, jobs, tenant), _sets(database, tenant)) == (0, 0)


async def test_each_statement_is_a_range_of_the_primary_key(engine: AsyncEngine) -> None:
    tenant = TenantId(uuid.uuid4())
    async with engine.connect() as conn:
        await conn.begin()
        await set_tenant(conn, tenant)
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        for table, (last, delete, _) in genotype_deletes.PARTS.items():
            for statement in (last, delete):
                plan = "\n".join(
                    (
                        await conn.execute(
                            text("EXPLAIN " + statement), {"s": "x", "low": 0, "high": 9}
                        )
                    ).scalars()
                )
                assert f"{table}_pkey" in plan, plan
                assert "Seq Scan" not in plan, plan
        await conn.rollback()


async def test_a_stream_under_way_is_read_whole_and_one_after_the_delete_finds_no_set(
    engine: AsyncEngine, database: ProvisionedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(genotypes, "chunk_variants_for", lambda n_samples: 256)
    tenant = TenantId(uuid.uuid4())
    await _import(engine, tenant, 10**6, samples=4, variants=600)  # 3 chunks
    set_id = _set_id(database, tenant)
    factory = unit_of_work_factory(engine, source="t")
    member = manager(tenant)
    stream = StreamGenotypes(factory)(member, set_id)
    chunks = [await anext(stream)]  # its unit of work holds the set now
    deleting = asyncio.create_task(DeleteVariantSet(factory)(member, set_id))
    await asyncio.sleep(1.0)
    assert not deleting.done()  # the delete waits for the read under way
    chunks += [chunk async for chunk in stream]
    assert sum(c.n_variants for c in chunks) == 600  # every chunk, none deleted under it
    assert (await deleting)["genotypeCalls"] == 2_400
    await _import(engine, tenant, 10**6, samples=4, variants=600)
    second = _set_id(database, tenant)
    async with factory(tenant) as uow:  # a delete under way holds this one
        assert await uow.genotypes.locked(second) is not None
        waiting = asyncio.create_task(_first(StreamGenotypes(factory)(member, second)))
        await asyncio.sleep(1.0)
        assert not waiting.done()  # the read waits for the delete ...
        await uow.genotypes.delete(second)
        await uow.commit()
    with pytest.raises(NotFound):  # ... and finds no set, never part of one
        await waiting


async def _first(chunks: AsyncIterator[GenotypeChunk]) -> GenotypeChunk:
    return await anext(chunks)
