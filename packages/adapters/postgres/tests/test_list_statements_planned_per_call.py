"""Statements given a list a caller sizes are never prepared, however warm the connection.

psycopg prepares a statement at its 6th run on a connection; from the 11th PostgreSQL may
run its generic plan, where ``= ANY($n)`` is never hashed (ADR 0353: 23 s instead of 0.2 s
for an edit of 10,000 call sets). Units that commit keep psycopg's prepared statements (a
rollback forgets them all), so the runs below commit, on a pool of one connection, and
``pg_prepared_statements`` then shows what was prepared on it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from bijmantra.adapters.postgres import create_engine, unit_of_work_factory
from bijmantra.adapters.postgres.plans import planned_per_call
from bijmantra.application.ports.genotypes import CallEdit, GenotypeFilter
from bijmantra.kernel import TenantId
from bijmantra.testkit.provision import ProvisionedDatabase
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration
RUNS = 12  # past psycopg's 5 unprepared runs and PostgreSQL's 5 custom plans
_PREPARED = text("SELECT statement FROM pg_prepared_statements")


@pytest.fixture
async def one_connection(database: ProvisionedDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database.domain_url, pool_size=1, max_overflow=0)
    yield engine
    await engine.dispose()


async def _prepared(engine: AsyncEngine, tenant: TenantId) -> list[str]:
    """The statements prepared on the engine's one connection (read in a unit of work)."""
    async with unit_of_work_factory(engine, source="test")(tenant) as uow:
        return list((await uow.resources._connection.execute(_PREPARED)).scalars())


async def test_a_statement_marked_planned_per_call_is_never_prepared(
    one_connection: AsyncEngine,
) -> None:
    """The mechanism: the same statement unmarked is prepared (and may get a generic plan)."""
    sql = "SELECT count(*) FROM domain.resources WHERE db_id = ANY(CAST(:ids AS text[]))"
    marked = planned_per_call(text(sql + " AND true"))
    unmarked = text(sql + " AND NOT false")
    tenant = TenantId(uuid.uuid4())
    for run in range(RUNS):
        async with unit_of_work_factory(one_connection, source="test")(tenant) as uow:
            ids = [f"g{run}-{i}" for i in range(run + 1)]
            for statement in (marked, unmarked):
                await uow.resources._connection.execute(statement, {"ids": ids})
            await uow.commit()
    prepared = await _prepared(one_connection, tenant)
    assert [s for s in prepared if s.endswith("AND true")] == []
    assert [s for s in prepared if s.endswith("AND NOT false")] != []


async def test_the_stores_statements_given_lists_are_never_prepared(
    one_connection: AsyncEngine,
) -> None:
    """An edit of calls (call sets, variants, chunks by list) and a delete by search, each
    committed ``RUNS`` times on one connection: none of their list statements is prepared,
    while a statement of a fixed shape beside them is (the connection was warm)."""
    tenant = TenantId(uuid.uuid4())
    for run in range(RUNS):
        async with unit_of_work_factory(one_connection, source="test")(tenant) as uow:
            names = tuple(f"cs{run}-{i}" for i in range(run + 1))
            await uow.genotypes.variant_set_rows(GenotypeFilter(variant_set_db_ids=names), 0, 10)
            await uow.genotypes.call_set_rows(GenotypeFilter(call_set_db_ids=names), 0, 10)
            keys = tuple(("vs", i) for i in range(run + 1))
            await uow.genotypes.variant_rows(GenotypeFilter(variants=keys), 0, 10)
            edit = CallEdit(run, 0, (0, 1), False, 1)
            await uow.genotypes.update_calls("vs", [edit])
            await uow.resources.soft_delete("germplasm", list(names))
            await uow.commit()
    prepared = await _prepared(one_connection, tenant)
    by_list = (
        "FROM domain.variant_sets v WHERE",  # variant_set_rows
        "FROM domain.call_sets c JOIN",  # call_set_rows
        "FROM domain.variants v JOIN",  # variant_rows
        "FROM domain.genotype_chunks WHERE variant_set_db_id",  # the edit's chunks
        "SET deleted_at = now()",  # soft_delete
        "DELETE FROM domain.resource_contents",
    )
    assert [s for s in prepared if any(part in s for part in by_list)] == []
    # A statement of a fixed shape in the same units was prepared: the test can fail.
    assert any("domain.call_sets c SET ploidy" in s for s in prepared)
