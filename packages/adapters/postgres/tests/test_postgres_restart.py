"""A PostgreSQL restart under live pools (ADR 0341), against a server of this module's own
(restarting the session's would cut every other test's connections).

Pools ping nothing at checkout (a round trip per unit of work), so after a restart every
pooled connection is dead and only its first statement can tell. The unit of work that
meets one there retries once on a fresh connection; nothing of it has run, so that is
safe. A failure after the first statement is never retried."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from bijmantra.adapters.postgres import create_engine, reachable
from bijmantra.adapters.postgres.engine import begin_unit, driver_connection
from bijmantra.adapters.postgres.identity import PostgresUserDirectory
from bijmantra.adapters.postgres.login_failures import PostgresLoginLimiter
from bijmantra.adapters.postgres.lookup import PostgresDocumentLookup
from bijmantra.adapters.postgres.placement import PlacementEngines, PostgresPlacementDirectory
from bijmantra.adapters.postgres.uow import TenantTransaction, tenant_transaction
from bijmantra.kernel import TenantId
from bijmantra.testkit.provision import ProvisionedDatabase
from bijmantra.testkit.servers import LocalPostgres, restart_in_place
from psycopg import pq
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

pytestmark = pytest.mark.integration

TENANT = TenantId(uuid.UUID("0193a000-0000-7000-8000-00000000c341"))
POOLED = 3  # connections each pool holds when the server restarts
_TENANT_SETTING = text("SELECT current_setting('app.tenant_id', true)")


@pytest.fixture
async def engine(restartable_database: ProvisionedDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(restartable_database.domain_url, pool_size=POOLED, max_overflow=0)
    yield engine
    await engine.dispose()


async def _fill(placements: PlacementEngines) -> None:
    """Hold ``POOLED`` units open at once, so the pool keeps that many connections."""
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(POOLED):
            await stack.enter_async_context(TenantTransaction(placements, TENANT))


async def _tenant_seen(placements: PlacementEngines) -> str:
    async with TenantTransaction(placements, TENANT) as unit:
        assert unit._connection is not None
        return str((await unit._connection.execute(_TENANT_SETTING)).scalar())


async def test_every_unit_of_work_after_a_restart_succeeds(
    restartable_server: tuple[LocalPostgres, str], engine: AsyncEngine
) -> None:
    placements = PlacementEngines(engine)
    await _fill(placements)
    await restart_in_place(restartable_server)
    for _ in range(POOLED + 1):
        assert await _tenant_seen(placements) == str(TENANT)


async def test_one_dead_connection_tells_the_pool_of_the_others(
    restartable_server: tuple[LocalPostgres, str], engine: AsyncEngine
) -> None:
    placements = PlacementEngines(engine)
    await _fill(placements)
    await restart_in_place(restartable_server)
    discarded: list[object] = []
    event.listen(engine.sync_engine.pool, "invalidate", lambda *args: discarded.append(args))
    assert await _tenant_seen(placements) == str(TENANT)  # met a dead connection, retried
    # Units held open together borrow every pooled connection: the ones made before the
    # restart reconnect at checkout instead of failing their unit's first statement.
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(POOLED):
            unit = await stack.enter_async_context(TenantTransaction(placements, TENANT))
            assert unit._connection is not None
            assert (await unit._connection.execute(_TENANT_SETTING)).scalar() == str(TENANT)
    assert len(discarded) == 1


async def test_a_tenant_transaction_after_a_restart_succeeds(
    restartable_server: tuple[LocalPostgres, str], engine: AsyncEngine
) -> None:
    await _fill(PlacementEngines(engine))
    await restart_in_place(restartable_server)
    for _ in range(POOLED + 1):
        async with tenant_transaction(engine, TENANT) as connection:
            assert (await connection.execute(_TENANT_SETTING)).scalar() == str(TENANT)


async def test_a_unit_that_reads_the_placement_directory_first_succeeds(
    restartable_server: tuple[LocalPostgres, str],
    engine: AsyncEngine,
    restartable_database: ProvisionedDatabase,
) -> None:
    """In production the directory's read (cached two seconds) often opens a request."""
    directory = PostgresPlacementDirectory(engine, ttl=0)
    placements = PlacementEngines(engine, directory, service_url=restartable_database.domain_url)
    await _fill(placements)
    await restart_in_place(restartable_server)
    for _ in range(POOLED + 1):
        assert await _tenant_seen(placements) == str(TENANT)


async def test_identity_reads_after_a_restart_succeed(
    restartable_server: tuple[LocalPostgres, str], restartable_database: ProvisionedDatabase
) -> None:
    """A sign-in's first statements: the user, the back-off counters, the memberships."""
    engine = create_engine(restartable_database.identity_url, pool_size=1, max_overflow=0)
    users, limiter = PostgresUserDirectory(engine), PostgresLoginLimiter(engine)
    try:
        assert await reachable(engine)
        await restart_in_place(restartable_server)
        assert await users.find_by_email("nobody@example.org") is None
        await restart_in_place(restartable_server)
        assert await limiter.attempt("nobody@example.org", "192.0.2.1") == 0.0
        await restart_in_place(restartable_server)
        await limiter.succeeded("nobody@example.org", "192.0.2.1")
        await restart_in_place(restartable_server)
        assert await users.memberships(uuid.uuid4()) == []
        await restart_in_place(restartable_server)
        assert await reachable(engine)  # a readiness probe does not fail either
    finally:
        await engine.dispose()


async def test_a_document_lookup_after_a_restart_succeeds(
    restartable_server: tuple[LocalPostgres, str], restartable_database: ProvisionedDatabase
) -> None:
    lookup = await PostgresDocumentLookup.open(restartable_database.domain_url, max_size=POOLED)
    try:
        await asyncio.gather(
            *(lookup.document_bytes(TENANT, "germplasm", str(n)) for n in range(POOLED))
        )
        await restart_in_place(restartable_server)
        for n in range(POOLED + 1):
            assert await lookup.document_bytes(TENANT, "germplasm", str(n)) is None
    finally:
        await lookup.close()


async def _terminate_own_backend(connection: AsyncConnection) -> None:
    driver = await driver_connection(connection)
    await driver.execute("SELECT pg_terminate_backend(pg_backend_pid())")


async def test_an_opening_that_loses_its_connection_twice_fails(engine: AsyncEngine) -> None:
    attempts: list[int] = []

    async def opening(connection: AsyncConnection) -> None:
        attempts.append(1)
        await _terminate_own_backend(connection)

    with pytest.raises(psycopg.OperationalError):
        await begin_unit(engine, opening)
    assert len(attempts) == 2  # once more on a fresh connection, and no more


async def test_an_opening_that_fails_otherwise_is_not_retried(engine: AsyncEngine) -> None:
    attempts: list[int] = []

    async def opening(connection: AsyncConnection) -> None:
        attempts.append(1)
        await connection.execute(text("SELECT no_such_column"))

    with pytest.raises(ProgrammingError):
        await begin_unit(engine, opening)
    assert attempts == [1]


_PID = text("SELECT pg_backend_pid()")


async def _end_backend(engine: AsyncEngine, pid: int) -> None:
    """End backend ``pid`` from another connection, as an administrator or a crash would,
    and wait until it is gone."""
    async with engine.connect() as other:
        await other.execute(text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": pid})


async def test_a_connection_lost_after_the_first_statement_fails_the_unit(
    engine: AsyncEngine,
) -> None:
    """The unit's statements may have run: only its caller can tell whether to try again."""
    placements = PlacementEngines(engine)
    runs: list[int] = []

    async def unit() -> None:
        async with placements.transaction(TENANT) as connection:
            runs.append(1)
            await _end_backend(engine, int((await connection.execute(_PID)).scalar_one()))
            await connection.execute(_TENANT_SETTING)

    with pytest.raises(DBAPIError) as lost:
        await unit()
    assert runs == [1]
    assert lost.value.connection_invalidated
    assert await _tenant_seen(placements) == str(TENANT)  # and the next unit is served


async def test_a_connection_lost_at_commit_fails_the_unit(engine: AsyncEngine) -> None:
    """Whether a COMMIT whose answer was lost took effect is unknown: it is never resent."""
    placements = PlacementEngines(engine)
    with pytest.raises(DBAPIError) as lost:  # the driver's error, not a later one masking it
        async with placements.transaction(TENANT) as connection:
            await _end_backend(engine, int((await connection.execute(_PID)).scalar_one()))
    assert lost.value.connection_invalidated
    assert await _tenant_seen(placements) == str(TENANT)


async def test_the_happy_path_costs_no_round_trip_more(
    restartable_database: ProvisionedDatabase, tmp_path: Path
) -> None:
    """libpq's own trace of a warm pooled connection: a unit of work with one statement is
    its opening, the statement and the ROLLBACK; no ping, no check."""
    engine = create_engine(restartable_database.domain_url, pool_size=1, max_overflow=0)
    trace = tmp_path / "trace"
    try:
        await _tenant_seen(PlacementEngines(engine))  # the pool's one connection, made
        with trace.open("w") as sink:
            async with engine.connect() as connection:
                pgconn = (await driver_connection(connection)).pgconn
            pgconn.trace(sink.fileno())
            pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
            await _tenant_seen(PlacementEngines(engine))
            pgconn.untrace()
    finally:
        await engine.dispose()
    # One line a message: direction, length, type, content.
    sent = [line.split("\t") for line in trace.read_text().splitlines() if line[:2] == "F\t"]
    assert [message[2] for message in sent] == ["Query", "Query", "Query"], sent
    assert [message[3][:8] for message in sent] == [' "BEGIN;', ' "SELECT', ' "ROLLBA']
