"""Workers take analyses fairly between organizations, each job once (ADR 0329).

Jobs are written as the owner (past row-level security) with a variant set per organization,
then reserved as domain-api's role through the scheduler role, as in production."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from bijmantra.adapters.postgres import create_engine
from bijmantra.adapters.postgres.analysis_scheduler import _RESERVE, PostgresAnalysisScheduler
from bijmantra.adapters.postgres.ddl import ANALYSIS_SCHEDULER_ROLE, set_local_role
from bijmantra.adapters.postgres.placement import (
    OrganizationMoving,
    PlacementEngines,
    PostgresPlacementDirectory,
)
from bijmantra.adapters.postgres.placement_admin import (
    database_owner_url,
    place_organization,
    provision_database,
)
from bijmantra.adapters.postgres.placement_move import move_organization
from bijmantra.domain.analysis.scheduling import Reservation
from bijmantra.domain.tenancy.placement import PlacementDatabase
from bijmantra.testkit.provision import ProvisionedDatabase
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

START = datetime(2026, 12, 1, tzinfo=UTC)
_JOB = (
    "INSERT INTO domain.analysis_jobs (tenant_id, analysis_db_id, type, variant_set_db_id, "
    "call_set_db_ids, parameters, phenotypes, created_at, status, progress, stage, attempt, "
    "summary, timings) SELECT %(tenant)s, %(prefix)s || n, 'grm', 'vs', '[]', '{}', '{}', "
    "%(at)s + n * interval '1 second', %(status)s, 0, '', 0, '{}', '{}' "
    "FROM generate_series(0, %(count)s - 1) n"
)


class Jobs:
    """The owner's view of every organization's jobs."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def queue(
        self, tenant: uuid.UUID, count: int, *, after: int = 0, status: str = "queued"
    ) -> list[str]:
        """``count`` jobs of ``tenant``, a second apart from ``after`` seconds past START."""
        self.conn.execute(
            "INSERT INTO domain.variant_sets (tenant_id, variant_set_db_id, name, "
            "source_format, n_samples, chunk_variants) VALUES (%s, 'vs', 'vs', 'vcf', 1, 1) "
            "ON CONFLICT DO NOTHING",
            (tenant,),
        )
        prefix = f"{tenant.hex[:6]}-{status}-{after}-"
        at = START + timedelta(seconds=after)
        self.conn.execute(
            _JOB, {"tenant": tenant, "prefix": prefix, "at": at, "status": status, "count": count}
        )
        return [f"{prefix}{n}" for n in range(count)]

    def set_status(self, reservation: Reservation, status: str) -> None:
        """What the claim that follows a reservation (``running``), or the end of the job,
        does to the row."""
        self.conn.execute(
            "UPDATE domain.analysis_jobs SET status = %s, attempt = attempt + 1 "
            "WHERE tenant_id = %s AND analysis_db_id = %s",
            (status, reservation.tenant_id, reservation.analysis_db_id),
        )


DEDICATED = PlacementDatabase("bijmantra_test_scheduling")


@contextlib.contextmanager
def _jobs_in(owner_url: str) -> Iterator[Jobs]:
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute("SET row_security = off")
        conn.execute("DELETE FROM domain.analysis_jobs")
        yield Jobs(conn)
        conn.execute("DELETE FROM domain.analysis_jobs")


@pytest.fixture
def jobs(database: ProvisionedDatabase) -> Iterator[Jobs]:
    with _jobs_in(database.owner_url) as shared:
        yield shared


@pytest.fixture
def dedicated_jobs(database: ProvisionedDatabase) -> Iterator[Jobs]:
    """The queue of a dedicated database (its organizations' jobs live there)."""
    provision_database(database.owner_url, DEDICATED)
    with _jobs_in(database_owner_url(database.owner_url, DEDICATED)) as dedicated:
        yield dedicated


@pytest.fixture
def scheduler(engine: AsyncEngine) -> PostgresAnalysisScheduler:
    return PostgresAnalysisScheduler(PlacementEngines(engine))


def _org() -> uuid.UUID:
    return uuid.uuid4()


async def test_an_organization_that_queues_after_a_long_queue_is_served_second(
    jobs: Jobs, scheduler: PostgresAnalysisScheduler
) -> None:
    """One worker finishes each job before taking the next, so nothing is ever taken when it
    asks: the organization served longest ago (or never) goes first."""
    a, b = _org(), _org()
    queued_by_a = jobs.queue(a, 20)
    [queued_by_b] = jobs.queue(b, 1, after=60)
    order = []
    for n in range(4):
        reserved = await scheduler.reserve(f"delivery-{n}")
        assert reserved is not None
        jobs.set_status(reserved, "completed")
        order.append(reserved)
    assert order == [
        Reservation(a, queued_by_a[0]),
        Reservation(b, queued_by_b),  # second, not 21st
        Reservation(a, queued_by_a[1]),
        Reservation(a, queued_by_a[2]),
    ]


async def test_the_organization_with_fewer_jobs_running_goes_first_then_the_oldest_wait(
    jobs: Jobs, scheduler: PostgresAnalysisScheduler
) -> None:
    busy, idle, later = _org(), _org(), _org()
    jobs.queue(busy, 3, status="running")
    waiting_busy = jobs.queue(busy, 2, after=10)
    waiting_idle = jobs.queue(idle, 2, after=20)
    waiting_later = jobs.queue(later, 1, after=30)
    order = [await scheduler.reserve(f"delivery-{n}") for n in range(6)]
    assert order == [
        Reservation(idle, waiting_idle[0]),  # none running; waiting since 20 s
        Reservation(later, waiting_later[0]),  # none running, waiting since 30 s
        Reservation(idle, waiting_idle[1]),  # one taken each: idle was served longer ago
        Reservation(busy, waiting_busy[0]),  # three running: last
        Reservation(busy, waiting_busy[1]),
        None,
    ]


async def test_a_redelivery_gets_the_job_its_first_delivery_took_even_once_running(
    jobs: Jobs, scheduler: PostgresAnalysisScheduler
) -> None:
    a = _org()
    queued = jobs.queue(a, 3)
    taken = await scheduler.reserve("delivery-of-a-dead-worker")
    assert taken == Reservation(a, queued[0])
    jobs.set_status(
        taken, "running"
    )  # the worker claimed it, then died; JetStream delivers the message again
    assert await scheduler.reserve("delivery-of-a-dead-worker") == taken
    assert await scheduler.reserve("another-delivery") == Reservation(a, queued[1])


async def test_jobs_in_a_dedicated_database_take_their_turn_and_are_found_again(
    jobs: Jobs, dedicated_jobs: Jobs, database: ProvisionedDatabase
) -> None:
    """A dedicated database holds its organizations' queue: the fair order runs across the
    databases, and a redelivery finds its job in whichever database it was reserved."""
    shared_org, placed_org = _org(), _org()
    in_shared = jobs.queue(shared_org, 3)
    [in_dedicated] = dedicated_jobs.queue(placed_org, 1, after=60)
    with psycopg.connect(database.owner_url) as control:  # its jobs live where it is placed
        place_organization(control, placed_org, DEDICATED)
    engine = create_engine(database.domain_url, pool_size=2)
    placements = PlacementEngines(
        engine, PostgresPlacementDirectory(engine, ttl=0), service_url=database.domain_url
    )
    try:
        scheduler = PostgresAnalysisScheduler(placements)
        order = [await scheduler.reserve(f"delivery-{n}") for n in range(4)]
        again = await scheduler.reserve("delivery-1")
    finally:
        await placements.dispose()
        await engine.dispose()
    assert order == [
        Reservation(shared_org, in_shared[0]),
        Reservation(placed_org, in_dedicated),  # nothing taken there: its turn
        Reservation(shared_org, in_shared[1]),
        Reservation(shared_org, in_shared[2]),
    ]
    assert again == Reservation(placed_org, in_dedicated)


async def test_concurrent_deliveries_never_reserve_one_job(
    jobs: Jobs, scheduler: PostgresAnalysisScheduler
) -> None:
    queued = {(org, job) for org in (_org(), _org(), _org()) for job in jobs.queue(org, 8)}
    got = await asyncio.gather(*(scheduler.reserve(f"delivery-{n}") for n in range(30)))
    reserved = [(r.tenant_id, r.analysis_db_id) for r in got if r is not None]
    assert len(reserved) == len(set(reserved)) == len(queued) == 24
    assert set(reserved) == queued


async def test_a_job_another_delivery_holds_is_passed_over_not_waited_for(
    jobs: Jobs, scheduler: PostgresAnalysisScheduler, engine: AsyncEngine
) -> None:
    a, b = _org(), _org()
    queued_by_a = jobs.queue(a, 2)
    jobs.queue(b, 1, after=60)
    async with engine.begin() as holder:  # another delivery mid-reservation of A's oldest
        await holder.execute(text(set_local_role(ANALYSIS_SCHEDULER_ROLE)))
        await holder.execute(
            text("SELECT 1 FROM domain.analysis_jobs WHERE analysis_db_id = :id FOR UPDATE"),
            {"id": queued_by_a[0]},
        )
        # A is still the organization to serve: its next waiting job, without blocking
        reserving = asyncio.ensure_future(scheduler.reserve("delivery-2"))
        while not reserving.done():
            if _waits_for_a_lock(jobs):  # what FOR UPDATE without SKIP LOCKED would do
                reserving.cancel()
                pytest.fail("the reservation waited for the job another delivery holds")
            await asyncio.sleep(0)
        assert reserving.result() == Reservation(a, queued_by_a[1])


def _waits_for_a_lock(jobs: Jobs) -> bool:
    row = jobs.conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND query LIKE '%analysis_jobs%'"
    ).fetchone()
    return bool(row and row[0])


async def test_the_reservation_reads_the_waiting_jobs_through_their_indexes(
    jobs: Jobs, engine: AsyncEngine
) -> None:
    """Thousands of finished jobs and a few thousand waiting: the plan walks the partial
    indexes, never the table."""
    organizations = [_org() for _ in range(40)]
    for n, org in enumerate(organizations):
        finished = jobs.queue(org, 500, status="completed")
        jobs.conn.execute(
            "UPDATE domain.analysis_jobs SET claim_key = analysis_db_id, reserved_at = created_at "
            "WHERE analysis_db_id = ANY(%s)",
            (finished,),
        )
        jobs.queue(org, 50, after=n)
        jobs.queue(org, 2, after=n, status="running")
    jobs.conn.execute("ANALYZE domain.analysis_jobs")
    async with engine.begin() as connection:
        await connection.execute(text(set_local_role(ANALYSIS_SCHEDULER_ROLE)))
        plan = "\n".join(
            row[0]
            for row in await connection.execute(
                text(f"EXPLAIN {_RESERVE.text}"), {"delivery": "explained", "passed": []}
            )
        )
        await connection.rollback()
    assert "Seq Scan" not in plan, plan
    assert "analysis_jobs_waiting" in plan, plan
    assert "analysis_jobs_taken" in plan, plan
    assert "analysis_jobs_served" in plan, plan


def test_a_reservation_during_a_move_waits_for_the_fence_and_takes_the_job_once(
    jobs: Jobs, dedicated_jobs: Jobs, database: ProvisionedDatabase
) -> None:
    """Before (ADR 0346): the scheduler role reserved past the move's fence. During the copy
    one delivery reserved the job in the old database and the next the copy in the new one
    (the same job twice), and the move then failed with ``MoveError``, rows kept."""
    org = _org()
    [job] = jobs.queue(org, 1)

    async def reserve(delivery: str) -> object:
        engine = create_engine(database.domain_url, pool_size=1)
        placements = PlacementEngines(
            engine, PostgresPlacementDirectory(engine, ttl=0), service_url=database.domain_url
        )
        try:
            return await PostgresAnalysisScheduler(placements).reserve(delivery)
        except OrganizationMoving:
            return "moving: come back"
        finally:
            await placements.dispose()
            await engine.dispose()

    seen: list[object] = []

    def meanwhile() -> None:  # the fence is held and the rows are copied
        seen.extend(asyncio.run(reserve(delivery)) for delivery in ("d1", "d2"))

    move_organization(database.owner_url, org, DEDICATED, before_switch=meanwhile)
    assert seen == ["moving: come back", "moving: come back"]
    assert asyncio.run(reserve("d1")) == Reservation(org, job)
    assert dedicated_jobs.conn.execute(
        "SELECT claim_key FROM domain.analysis_jobs WHERE analysis_db_id = %s", (job,)
    ).fetchall() == [("d1",)]
    assert jobs.conn.execute("SELECT count(*) FROM domain.analysis_jobs").fetchone() == (0,)
