"""Transactions PostgreSQL gives up under concurrency (ADR 0355), against a real server: a
deadlock between two units of work and a serialization failure at ``COMMIT`` leave the loser
as ``ContendedTransaction`` (503, retryable), never as a raw driver error, the winner commits
and nothing of the loser's writes is kept."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from bijmantra.adapters.postgres import create_engine, unit_of_work_factory
from bijmantra.adapters.postgres.contention import ContendedTransaction
from bijmantra.adapters.postgres.identity import PostgresSigningKeys, register_member
from bijmantra.adapters.postgres.placement import PlacementEngines
from bijmantra.adapters.postgres.uow import PostgresUnitOfWork, tenant_transaction
from bijmantra.kernel import TenantId, Unavailable
from bijmantra.observability.metrics import CONTENDED_TRANSACTIONS
from bijmantra.testkit.provision import ProvisionedDatabase
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

pytestmark = pytest.mark.integration

ENTITY = "germplasm"
_LOCK = text(
    "SELECT db_id FROM domain.resources WHERE entity = :entity AND db_id = :db_id FOR UPDATE"
)
_WRITERS = text(
    "SELECT db_id, document ->> 'by' FROM domain.resources WHERE entity = :entity "
    "AND db_id IN ('a', 'b') ORDER BY db_id"
)


def _sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE of the driver error ``error`` was raised from."""
    cause = error.__cause__
    cause = cause.orig if isinstance(cause, DBAPIError) else cause
    return cause.sqlstate if isinstance(cause, psycopg.Error) else None


def _counted(sqlstate: str) -> float:
    return CONTENDED_TRANSACTIONS.labels(sqlstate)._value.get()


async def _seed(engine: AsyncEngine, tenant: TenantId, *db_ids: str) -> None:
    async with unit_of_work_factory(engine, source="test")(tenant) as uow:
        await uow.resources.insert(ENTITY, [(db_id, {"by": "seed"}) for db_id in db_ids])
        await uow.commit()


async def _writers(engine: AsyncEngine, tenant: TenantId) -> dict[str, str]:
    async with tenant_transaction(engine, tenant) as connection:
        rows = (await connection.execute(_WRITERS, {"entity": ENTITY})).all()
    return {row[0]: row[1] for row in rows}


async def test_the_loser_of_a_deadlock_is_a_retryable_error_and_keeps_nothing(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    tenant = TenantId(uuid.uuid4())
    await _seed(engine, tenant, "a", "b")
    factory = unit_of_work_factory(engine, source="test")
    holding = {"A": asyncio.Event(), "B": asyncio.Event()}
    counted = _counted("40P01")

    async def lock_both(name: str, first: str, second: str, other: str) -> str:
        async with factory(tenant) as uow:
            assert uow._connection is not None
            # Its first row locked by a write of the driver's own (binary, pipelined)...
            await uow.resources.update(ENTITY, [(first, {"by": name})])
            holding[name].set()
            await holding[other].wait()
            # ... its second asked for through SQLAlchemy, held by the other unit: a cycle.
            await uow._connection.execute(_LOCK, {"entity": ENTITY, "db_id": second})
            await uow.resources.update(ENTITY, [(second, {"by": name})])
            await uow.commit()
        return name

    outcomes = await asyncio.wait_for(
        asyncio.gather(
            lock_both("A", "a", "b", "B"), lock_both("B", "b", "a", "A"), return_exceptions=True
        ),
        timeout=30,
    )
    winners = [o for o in outcomes if isinstance(o, str)]
    losers = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(winners) == 1, outcomes
    assert len(losers) == 1, outcomes
    (loser,) = losers
    assert isinstance(loser, ContendedTransaction)  # not a DBAPIError: the edges answer 503
    assert isinstance(loser, Unavailable)
    assert _sqlstate(loser) == "40P01"
    # The winner's two writes stand; of the loser's first write nothing remains.
    assert await _writers(engine, tenant) == {"a": winners[0], "b": winners[0]}
    assert _counted("40P01") == counted + 1
    warned = [r for r in caplog.records if r.name.endswith("contention")]
    assert [(r.levelname, r.exc_info) for r in warned] == [("WARNING", None)]
    assert "40P01 deadlock_detected" in warned[0].getMessage()
    # Both connections went back to the pool usable: a unit after them commits.
    await _seed(engine, tenant, "c")


@pytest.fixture
async def serializable(database: ProvisionedDatabase) -> AsyncIterator[AsyncEngine]:
    """The domain role's engine whose transactions are all SERIALIZABLE (as a deployment
    might set ``default_transaction_isolation``); the units' own ``BEGIN`` takes it."""
    options = quote("-c default_transaction_isolation=serializable")
    separator = "&" if "?" in database.domain_url else "?"
    engine = create_engine(f"{database.domain_url}{separator}options={options}", pool_size=2)
    yield engine
    await engine.dispose()


Boundary = Callable[[AsyncEngine, TenantId], AbstractAsyncContextManager[Any]]


def _unit(engine: AsyncEngine, tenant: TenantId) -> PostgresUnitOfWork:
    return unit_of_work_factory(engine, source="test")(tenant)


def _placement(engine: AsyncEngine, tenant: TenantId) -> AbstractAsyncContextManager[Any]:
    return PlacementEngines(engine).transaction(tenant)


def _connection(opened: Any) -> AsyncConnection:
    connection = opened._connection if isinstance(opened, PostgresUnitOfWork) else opened
    assert isinstance(connection, AsyncConnection)
    return connection


async def _commit(opened: Any) -> None:
    """The unit's own (pipelined) ``COMMIT``; the other boundaries commit as their block ends."""
    if isinstance(opened, PostgresUnitOfWork):
        await opened.commit()


_COUNT = text("SELECT count(*) FROM domain.resources WHERE entity = :entity")
_CHANGE = text(
    "UPDATE domain.resources SET document = jsonb_build_object('by', CAST(:by AS text)) "
    "WHERE entity = :entity AND db_id = :db_id"
)


async def _write_skew(
    engine: AsyncEngine, tenant: TenantId, boundary: Boundary, reached: list[str]
) -> None:
    """Two transactions each read what the other writes; the second to commit is the first
    opened, so its ``COMMIT`` is the statement refused."""
    async with boundary(engine, tenant) as first:
        await _connection(first).execute(_COUNT, {"entity": ENTITY})
        async with boundary(engine, tenant) as second:
            await _connection(second).execute(_COUNT, {"entity": ENTITY})
            await _connection(first).execute(
                _CHANGE, {"by": "first", "entity": ENTITY, "db_id": "b"}
            )
            await _connection(second).execute(
                _CHANGE, {"by": "second", "entity": ENTITY, "db_id": "a"}
            )
            await _commit(second)
        reached.append("commit")
        await _commit(first)


@pytest.mark.parametrize("boundary", [_unit, _placement, tenant_transaction])
async def test_a_serialization_failure_at_commit_is_a_retryable_error(
    serializable: AsyncEngine, boundary: Boundary
) -> None:
    """Write skew: each reads what the other writes. The first to commit wins; the second's
    ``COMMIT`` fails (40001), whichever of the adapter's transaction boundaries it ran in."""
    tenant = TenantId(uuid.uuid4())
    await _seed(serializable, tenant, "a", "b")
    counted = _counted("40001")
    reached: list[str] = []
    with pytest.raises(ContendedTransaction) as raised:
        await _write_skew(serializable, tenant, boundary, reached)
    assert reached == ["commit"]  # every statement of the loser ran; its COMMIT was refused
    assert _sqlstate(raised.value) == "40001"
    assert await _writers(serializable, tenant) == {"a": "second", "b": "seed"}
    assert _counted("40001") == counted + 1


@pytest.fixture
async def impatient_identity(database: ProvisionedDatabase) -> AsyncIterator[AsyncEngine]:
    """Identity's engine with a short ``lock_timeout``, as a deployment might set it."""
    options = quote("-c lock_timeout=200ms")
    separator = "&" if "?" in database.identity_url else "?"
    engine = create_engine(f"{database.identity_url}{separator}options={options}", pool_size=1)
    yield engine
    await engine.dispose()


async def test_key_rotation_and_member_seeding_waiting_past_a_lock_timeout_are_retryable(
    database: ProvisionedDatabase, impatient_identity: AsyncEngine
) -> None:
    """Identity's own transactions outside a request (key rotation, seeding a member) went
    through ``engine.begin()`` and left as raw driver errors (55P03 as a 500)."""
    keys = PostgresSigningKeys(impatient_identity)
    seeding = register_member(
        impatient_identity,
        organization_id=uuid.uuid4(),
        organization_name="Contended",
        user_id=uuid.uuid4(),
        email=f"{uuid.uuid4().hex}@example.org",
        display_name="Waiting",
        password_hash="x",
        roles=["reader"],
    )
    attempts: list[Awaitable[object]] = [
        keys.add(uuid.uuid4().hex, "RS256", "pem", {"kty": "RSA"}),
        keys.retire_all_but_newest(2),
        seeding,
    ]
    locked = "identity.signing_keys, identity.organizations, identity.users, identity.memberships"
    with psycopg.connect(database.owner_url) as holder:
        holder.execute(f"LOCK TABLE {locked} IN ACCESS EXCLUSIVE MODE")
        for attempt in attempts:
            with pytest.raises(ContendedTransaction) as refused:
                await attempt
            assert _sqlstate(refused.value) == "55P03"
        holder.rollback()
