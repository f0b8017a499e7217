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

from bijmantra.adapters.postgres.engine import libpq_url
from bijmantra.adapters.postgres.resources import DOCUMENT_BODY
from bijmantra.adapters.postgres.uow import SET_TENANT
from bijmantra.kernel import TenantId
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool


class PostgresDocumentLookup:
    """``DocumentLookup`` over its own small pool of autocommit connections."""

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection]) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, url: str, *, max_size: int) -> Self:
        pool = AsyncConnectionPool(
            libpq_url(url),
            min_size=1,
            max_size=max_size,
            kwargs={"autocommit": True},
            open=False,
        )
        await pool.open(wait=True)
        return cls(pool)

    async def close(self) -> None:
        await self._pool.close()

    async def document_bytes(self, tenant_id: TenantId, entity: str, db_id: str) -> bytes | None:
        async with self._pool.connection() as connection:
            async with connection.pipeline():
                await connection.execute(SET_TENANT, (str(tenant_id),))
                cursor = connection.cursor(binary=True)
                await cursor.execute(DOCUMENT_BODY, {"entity": entity, "db_id": db_id})
            row = await cursor.fetchone()
        return None if row is None else bytes(row[0])
