"""Single-document reads in one round trip: RLS still decides, and no tenant outlives a read."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import msgspec
import psycopg
import pytest
from bijmantra.adapters.postgres import (
    PostgresDocumentLookup,
    libpq_url,
    unit_of_work_factory,
)
from bijmantra.application.brapi.commands import ResourceCommands
from bijmantra.application.brapi.modules import catalog
from bijmantra.kernel import Principal, TenantId
from bijmantra.testkit.provision import ProvisionedDatabase
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration
CATALOG = catalog()


@pytest.fixture
async def pool(database: ProvisionedDatabase) -> AsyncIterator[AsyncConnectionPool]:
    """One connection, so every read and every check below share it."""
    pool = AsyncConnectionPool(
        libpq_url(database.domain_url),
        min_size=1,
        max_size=1,
        kwargs={"autocommit": True},
        open=False,
    )
    await pool.open(wait=True)
    yield pool
    await pool.close()


async def create(engine: AsyncEngine, tenant: TenantId, *names: str) -> list[str]:
    principal = Principal(subject="u", tenant_id=tenant, roles=frozenset({"breeder"}))
    body = msgspec.json.encode(
        [
            {"germplasmName": n, "germplasmPUI": f"doi:x/{n}", "commonCropName": "Maize"}
            for n in names
        ]
    )
    created = await ResourceCommands(CATALOG, unit_of_work_factory(engine, source="t")).create(
        principal, "germplasm", body
    )
    return [d["germplasmDbId"] for d in msgspec.json.decode(created.documents)]


async def stored(engine: AsyncEngine, tenant: TenantId, db_id: str) -> bytes | None:
    async with unit_of_work_factory(engine, source="t")(tenant) as uow:
        return await uow.resources.document_bytes("germplasm", db_id)


async def tenant_left_on(pool: AsyncConnectionPool) -> tuple[str, object]:
    async with pool.connection() as connection:
        cursor = await connection.execute("SELECT current_setting('app.tenant_id', true)")
        row = await cursor.fetchone()
        assert row is not None
        return row[0], connection.info.transaction_status


async def test_reads_what_the_unit_of_work_reads_and_only_the_callers(
    engine: AsyncEngine, pool: AsyncConnectionPool
) -> None:
    tenant_a, tenant_b = TenantId(uuid.uuid4()), TenantId(uuid.uuid4())
    [a1] = await create(engine, tenant_a, "A1")
    [b1] = await create(engine, tenant_b, "B1")
    lookup = PostgresDocumentLookup(pool)

    found = await lookup.document_bytes(tenant_a, "germplasm", a1)
    assert found is not None
    assert found == await stored(engine, tenant_a, a1)
    assert msgspec.json.decode(found)["germplasmName"] == "A1"
    assert await lookup.document_bytes(tenant_b, "germplasm", a1) is None  # RLS
    assert await lookup.document_bytes(tenant_a, "germplasm", b1) is None
    assert await lookup.document_bytes(tenant_a, "germplasm", "no-such-id") is None
    assert await lookup.document_bytes(tenant_a, "trials", a1) is None
    assert await tenant_left_on(pool) == ("", psycopg.pq.TransactionStatus.IDLE)


async def test_a_failed_read_leaves_no_tenant_on_the_connection(
    engine: AsyncEngine, pool: AsyncConnectionPool
) -> None:
    tenant = TenantId(uuid.uuid4())
    [db_id] = await create(engine, tenant, "G")
    lookup = PostgresDocumentLookup(pool)
    with pytest.raises(psycopg.DataError):  # text with NUL cannot be sent: fails mid-pipeline
        await lookup.document_bytes(tenant, "germplasm", "bad\x00id")
    assert await tenant_left_on(pool) == ("", psycopg.pq.TransactionStatus.IDLE)
    assert await lookup.document_bytes(tenant, "germplasm", db_id) is not None


async def test_concurrent_reads_of_two_organizations_never_cross(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    tenants = [TenantId(uuid.uuid4()), TenantId(uuid.uuid4())]
    ids = {t: await create(engine, t, *(f"{t}-{i}" for i in range(5))) for t in tenants}
    lookup = await PostgresDocumentLookup.open(database.domain_url, max_size=2)
    try:
        reads = [(t, db_id, owner) for owner in tenants for db_id in ids[owner] for t in tenants]
        found = await asyncio.gather(
            *(lookup.document_bytes(t, "germplasm", db_id) for t, db_id, _ in reads * 10)
        )
    finally:
        await lookup.close()
    for (reader, db_id, owner), document in zip(reads * 10, found, strict=True):
        if reader == owner:
            assert document is not None
            assert msgspec.json.decode(document)["germplasmDbId"] == db_id
        else:
            assert document is None
