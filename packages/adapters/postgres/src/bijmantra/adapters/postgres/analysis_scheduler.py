"""Fair hand-out of queued analysis jobs between organizations (ADR 0329).

A delivery of an ``analysis.requested`` message reserves one waiting job: the oldest waiting
job of the organization with the fewest jobs taken (reserved or running), among those the one
served longest ago (or never), then the one whose oldest waiting job is oldest
(``domain.analysis.scheduling``). The reservation is the delivery's key in ``claim_key`` (and
its time in ``reserved_at``), so a redelivery after a worker died finds the same job.
Statements run as the scheduler role, which sees every organization's jobs but only the
columns that decide the order. Organizations are visited in fair order and the first
waiting job that ``SKIP LOCKED`` can lock is taken, so two deliveries never reserve one job;
the partial indexes keep the statement to the active jobs however many finished ones exist.

A reservation is a write to the organization's rows, so before it commits it passes the
organization's gate as a unit of work does (ADR 0103, 0346): a job of an organization a move
fences, or whose rows here are a move's copy or leftovers, is passed over and the statement
runs again without it. A delivery that found only fenced jobs fails (503) and comes back.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Sequence
from typing import Any

from bijmantra.adapters.postgres.ddl import ANALYSIS_SCHEDULER_ROLE, set_local_role
from bijmantra.adapters.postgres.engine import opened_transaction
from bijmantra.adapters.postgres.placement import (
    DEPARTED,
    OPEN,
    OrganizationMoving,
    PlacementEngines,
)
from bijmantra.domain.analysis.scheduling import Reservation
from bijmantra.domain.tenancy.placement import PlacementDatabase
from bijmantra.kernel import TenantId
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

_RESERVED = text(
    "SELECT tenant_id, analysis_db_id FROM domain.analysis_jobs WHERE claim_key = :delivery"
)
# Organizations with a waiting job in fair order (materialized, so the scan keeps that order),
# then the first of them with a waiting job nobody holds: its oldest one. The lateral locks at
# most one job per organization visited and stops at the first it gets.
_RESERVE = text(
    """
WITH organizations AS MATERIALIZED (
    SELECT w.tenant_id, w.oldest, (
        SELECT count(*) FROM domain.analysis_jobs t WHERE t.tenant_id = w.tenant_id
        AND (t.status = 'running' OR (t.status = 'queued' AND t.claim_key IS NOT NULL))
    ) AS taken, (
        SELECT max(reserved_at) FROM domain.analysis_jobs s
        WHERE s.tenant_id = w.tenant_id AND s.reserved_at IS NOT NULL
    ) AS served
    FROM (
        SELECT tenant_id, min(created_at) AS oldest FROM domain.analysis_jobs
        WHERE status = 'queued' AND claim_key IS NULL
          AND NOT (tenant_id = ANY(CAST(:passed AS uuid[]))) GROUP BY tenant_id
    ) w
    ORDER BY taken, served NULLS FIRST, oldest, tenant_id
), chosen AS (
    SELECT j.tenant_id, j.analysis_db_id FROM organizations o CROSS JOIN LATERAL (
        SELECT tenant_id, analysis_db_id FROM domain.analysis_jobs
        WHERE tenant_id = o.tenant_id AND status = 'queued' AND claim_key IS NULL
        ORDER BY created_at, analysis_db_id LIMIT 1 FOR UPDATE SKIP LOCKED
    ) j
    LIMIT 1
)
UPDATE domain.analysis_jobs a SET claim_key = :delivery, reserved_at = now() FROM chosen
WHERE a.tenant_id = chosen.tenant_id AND a.analysis_db_id = chosen.analysis_db_id
RETURNING a.tenant_id, a.analysis_db_id
"""
)
# Where a database's first waiting job stands (its organization's taken and last served, its
# age), to visit dedicated databases in fair order.
_HEAD = text(
    "SELECT (SELECT count(*) FROM domain.analysis_jobs t WHERE t.tenant_id = w.tenant_id "
    "AND (t.status = 'running' OR (t.status = 'queued' AND t.claim_key IS NOT NULL))), "
    "(SELECT max(reserved_at) FROM domain.analysis_jobs s WHERE s.tenant_id = w.tenant_id "
    "AND s.reserved_at IS NOT NULL) AS served, w.created_at FROM domain.analysis_jobs w "
    "WHERE w.status = 'queued' AND w.claim_key IS NULL ORDER BY 1, 2 NULLS FIRST, 3 LIMIT 1"
)


_SCHEDULER = text(set_local_role(ANALYSIS_SCHEDULER_ROLE))
# The gate is the service role's (the scheduler role has no rights in schema placement).
_AS_SERVICE = text("SET LOCAL ROLE NONE")
_GATE = text("SELECT placement.enter(:tenant), current_setting('transaction_read_only') = 'on'")
FENCED, ELSEWHERE = "fenced", "elsewhere"


class _PassedOver(Exception):
    """Rolls a reservation back: its organization is fenced, or does not live here."""

    def __init__(self, tenant: uuid.UUID, gate: str) -> None:
        super().__init__(gate)
        self.tenant, self.gate = tenant, gate


def _as_scheduler(connection: AsyncConnection) -> Awaitable[Any]:
    return connection.execute(_SCHEDULER)


class PostgresAnalysisScheduler:
    def __init__(self, placements: PlacementEngines) -> None:
        self._placements = placements

    async def _run(
        self, database: PlacementDatabase | None, statement: TextClause, delivery: str = ""
    ) -> Sequence[Any] | None:
        engine = self._placements.engine_of(database)
        # Opened like a unit of work: a pooled connection a restart ended is replaced at the
        # first statement, not failed (ADR 0341, 0346).
        async with opened_transaction(engine, _as_scheduler) as (connection, _):
            row = (await connection.execute(statement, {"delivery": delivery})).first()
        return None if row is None else tuple(row)

    async def _gate(
        self, connection: AsyncConnection, database: PlacementDatabase | None, tenant: TenantId
    ) -> str:
        """The reserved job's organization's gate, before the commit: ``open`` (it lives
        here and no move can start before the commit), ``fenced`` or ``elsewhere``."""
        named = await self._placements.database_of(tenant)
        await connection.execute(_AS_SERVICE)
        answer, read_only = (await connection.execute(_GATE, {"tenant": tenant})).one()
        if read_only:
            return FENCED
        if named == database and answer != DEPARTED:
            return OPEN
        # A stale cache or a departure mark: the directory, read afresh, decides (0103).
        return OPEN if await self._placements.still_here(tenant, database) else ELSEWHERE

    async def _reserve_in(
        self, database: PlacementDatabase | None, delivery: str
    ) -> tuple[Sequence[Any] | None, bool]:
        """A job reserved in ``database`` (or None), and whether a fenced one was passed."""
        passed: list[uuid.UUID] = []
        fenced = False
        engine = self._placements.engine_of(database)
        while True:
            try:
                async with opened_transaction(engine, _as_scheduler) as (connection, _):
                    given = {"delivery": delivery, "passed": passed}
                    row = (await connection.execute(_RESERVE, given)).first()
                    if row is None:
                        return None, fenced
                    tenant = TenantId(uuid.UUID(str(row[0])))
                    gate = await self._gate(connection, database, tenant)
                    if gate != OPEN:
                        raise _PassedOver(tenant, gate)  # rolled back
                    return tuple(row), fenced
            except _PassedOver as over:
                passed.append(over.tenant)
                fenced = fenced or over.gate == FENCED

    async def reserve(self, delivery: str) -> Reservation | None:
        databases = await self._placements.placements()
        for database in databases:
            found = await self._run(database, _RESERVED, delivery)
            if found is not None:
                return _reservation(found)
        if len(databases) > 1:
            heads = {}
            for database in databases:
                head = await self._run(database, _HEAD)
                if head is not None:
                    heads[database] = head
            databases = sorted(heads, key=lambda database: _fair_key(heads[database]))
        fenced = False
        for database in databases:
            found, passed_fenced = await self._reserve_in(database, delivery)
            if found is not None:
                return _reservation(found)
            fenced = fenced or passed_fenced
        if fenced:  # a job waits behind a move's fence: this delivery must come back for it
            raise OrganizationMoving()
        return None


def _fair_key(head: Sequence[Any]) -> tuple[Any, ...]:
    """(taken, served, waiting since) ordered as the SQL orders them: never served first."""
    taken, served, waiting_since = head
    return taken, served is not None, served or waiting_since, waiting_since


def _reservation(row: Sequence[Any]) -> Reservation:
    return Reservation(TenantId(uuid.UUID(str(row[0]))), str(row[1]))
