"""Single documents in one round trip: the query side of ``GET /{entity}/{dbId}`` (ADR 0040).

A unit of work costs three round trips (``BEGIN`` with the tenant setting, the ``SELECT``,
``ROLLBACK``) and a SQLAlchemy checkout: ~0.6 ms of CPU, a third of domain-api's share of a
single GET. Reading one row needs none of it. On an autocommit connection the tenant setting
and the ``SELECT`` are pipelined before one Sync; PostgreSQL runs everything before a Sync in
one transaction, so the ``is_local`` setting scopes the ``SELECT`` (row-level security) and
ends with that transaction. A connection goes back to the pool with no tenant set, whatever
happened to the statement.
"""

from __future__ import annotations

from typing import Self

import psycopg
from bijmantra.adapters.postgres.engine import libpq_url
from bijmantra.adapters.postgres.placement import DEPARTED, ENTER, PlacementEngines, placement_url
from bijmantra.adapters.postgres.resources import DOCUMENT_BODY
from bijmantra.adapters.postgres.retiring import RetiringCache
from bijmantra.domain.tenancy.placement import PlacementDatabase
from bijmantra.kernel import TenantId
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

Pool = AsyncConnectionPool[AsyncConnection]


async def _open_pool(url: str, *, min_size: int, max_size: int) -> Pool:
    pool: Pool = AsyncConnectionPool(
        libpq_url(url),
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True},
        open=False,
    )
    await pool.open(wait=min_size > 0)
    return pool


class PostgresDocumentLookup:
    """``DocumentLookup`` over its own small pools of autocommit connections: the shared
    database's, and a bounded LRU of dedicated databases' (ADR 0102)."""

    def __init__(
        self,
        pool: Pool,
        *,
        placements: PlacementEngines | None = None,
        url: str = "",
        max_pools: int = 16,
        dedicated_size: int = 2,
    ) -> None:
        self._pool = pool
        self._placements = placements
        self._url = url
        self._dedicated_size = dedicated_size
        self._pools: RetiringCache[PlacementDatabase, Pool] = RetiringCache(
            max_pools, lambda pool: pool.close()
        )

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        max_size: int,
        placements: PlacementEngines | None = None,
        dedicated_size: int = 2,
    ) -> Self:
        pool = await _open_pool(url, min_size=1, max_size=max_size)
        return cls(pool, placements=placements, url=url, dedicated_size=dedicated_size)

    async def close(self) -> None:
        await self._pool.close()
        await self._pools.close()

    async def _pool_of(self, database: PlacementDatabase | None) -> Pool:
        if database is None:
            return self._pool
        pool = self._pools.get(database)
        if pool is None:
            pool = await _open_pool(
                placement_url(self._url, database), min_size=0, max_size=self._dedicated_size
            )
            self._pools.add(database, pool)
        return pool

    async def _database_of(self, tenant_id: TenantId) -> PlacementDatabase | None:
        return None if self._placements is None else await self._placements.database_of(tenant_id)

    async def document_bytes(self, tenant_id: TenantId, entity: str, db_id: str) -> bytes | None:
        database = await self._database_of(tenant_id)
        gate, row = await self._read(database, tenant_id, entity, db_id)
        if gate == DEPARTED and self._placements is not None:
            # A stale directory entry: ask again; the same answer means it is still here.
            self._placements.forget()
            if (moved_to := await self._database_of(tenant_id)) != database:
                gate, row = await self._read(moved_to, tenant_id, entity, db_id)
        return None if row is None else bytes(row[0])

    async def _read(
        self, database: PlacementDatabase | None, tenant_id: TenantId, entity: str, db_id: str
    ) -> tuple[str, tuple[bytes] | None]:
        pool = await self._pool_of(database)
        for last in (False, True):
            async with pool.connection() as connection:
                try:
                    return await _read_on(connection, tenant_id, entity, db_id)
                except psycopg.Error:
                    if last or not (connection.closed or connection.broken):
                        raise
            # The pool lent a connection the server had dropped (a restart, a failover) and
            # has discarded it. Test the others (a round trip each, on this path only) and
            # read once more: a read in autocommit changed nothing (ADR 0341).
            await pool.check()
        raise AssertionError("unreachable")


async def _read_on(
    connection: AsyncConnection, tenant_id: TenantId, entity: str, db_id: str
) -> tuple[str, tuple[bytes] | None]:
    async with connection.pipeline():
        entered = await connection.execute(ENTER, (str(tenant_id), str(tenant_id)))
        cursor = connection.cursor(binary=True)
        await cursor.execute(DOCUMENT_BODY, {"entity": entity, "db_id": db_id})
    gate = await entered.fetchone()
    row = await cursor.fetchone()
    assert gate is not None
    return str(gate[1]), row
