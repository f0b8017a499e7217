"""The tenant transaction's opening (ADR 0308), against real PostgreSQL: ``BEGIN`` and the
tenant setting go in one simple-protocol query with the driver in autocommit, so these check
what that must not change: every statement of a unit runs in one transaction under the
tenant's setting, nothing is kept without ``commit()``, and the pool gets its connection
back exactly as it lent it (not in autocommit: a later plain transaction stays atomic)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from bijmantra.adapters.postgres import create_engine
from bijmantra.adapters.postgres.engine import driver_connection
from bijmantra.adapters.postgres.placement import PlacementEngines
from bijmantra.adapters.postgres.uow import TenantTransaction
from bijmantra.kernel import TenantId
from bijmantra.testkit.provision import ProvisionedDatabase
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration

TENANT = TenantId(uuid.UUID("0193a000-0000-7000-8000-00000000b001"))
_STATE = text(
    "SELECT pg_current_xact_id()::text, current_setting('app.tenant_id', true), "
    "current_setting('transaction_read_only')"
)


@pytest.fixture
async def engine(database: ProvisionedDatabase) -> AsyncIterator[AsyncEngine]:
    """One connection only, so every borrower gets the connection the last one returned."""
    engine = create_engine(database.domain_url, pool_size=1, max_overflow=0)
    yield engine
    await engine.dispose()


async def _lent_as_the_pool_lends(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        driver = await driver_connection(connection)
        assert driver.autocommit is False
        assert driver.info.transaction_status == 0  # idle: no transaction left open


async def test_a_unit_runs_in_one_transaction_under_its_tenant(engine: AsyncEngine) -> None:
    async with TenantTransaction(PlacementEngines(engine), TENANT) as unit:
        assert unit._connection is not None
        first = (await unit._connection.execute(_STATE)).one()
        second = (await unit._connection.execute(_STATE)).one()
    # Without the explicit BEGIN each statement would be its own transaction, and the
    # (transaction-local) tenant setting would be gone by the second one.
    assert first == second
    assert first[1] == str(TENANT)
    await _lent_as_the_pool_lends(engine)


async def _write_then_fail(engine: AsyncEngine, table: str) -> None:
    async with TenantTransaction(PlacementEngines(engine), TENANT) as unit:
        assert unit._connection is not None
        await unit._connection.execute(text(f"CREATE TEMP TABLE {table} (n int)"))
        await unit._connection.execute(text(f"INSERT INTO {table} VALUES (1)"))
        raise RuntimeError("the use case failed")


async def test_nothing_is_kept_without_commit(engine: AsyncEngine) -> None:
    table = f"scratch_{uuid.uuid4().hex[:12]}"
    with pytest.raises(RuntimeError):
        await _write_then_fail(engine, table)
    await _lent_as_the_pool_lends(engine)
    async with engine.connect() as connection:
        kept = await connection.execute(text("SELECT to_regclass(:t)"), {"t": f"pg_temp.{table}"})
        assert kept.scalar() is None  # rolled back, temporary table and row alike


async def test_a_committed_unit_is_kept_and_the_pool_gets_its_mode_back(
    engine: AsyncEngine,
) -> None:
    placements = PlacementEngines(engine)
    async with placements.transaction(TENANT) as connection:
        await connection.execute(text("SELECT 1"))
    await _lent_as_the_pool_lends(engine)
    # A plain transaction on the returned connection is still atomic.
    async with engine.connect() as connection:
        await connection.begin()
        one = (await connection.execute(text("SELECT pg_current_xact_id()::text"))).scalar()
        two = (await connection.execute(text("SELECT pg_current_xact_id()::text"))).scalar()
        await connection.rollback()
    assert one == two
