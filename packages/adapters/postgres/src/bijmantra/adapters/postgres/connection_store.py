"""The base of the stores whose statements run on their unit of work's connection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from bijmantra.kernel import TenantId
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

T = TypeVar("T")


class ConnectionStore:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def _execute(self, sql: str, **params: Any) -> None:
        """Run a statement whose answer is not read (an insert, update or delete)."""
        await self._connection.execute(text(sql), params)

    async def _rows(self, sql: str, **params: Any) -> list[Any]:
        return list((await self._connection.execute(text(sql), params)).all())

    async def _all(self, sql: str, build: Callable[[Any], T], **params: Any) -> list[T]:
        """Every row ``sql`` answers, each built into its value."""
        return [build(row) for row in await self._rows(sql, **params)]

    async def _first(self, sql: str, build: Callable[[Any], T], **params: Any) -> T | None:
        """The first row ``sql`` answers, built into its value; None when there is none."""
        rows = await self._rows(sql, **params)
        return build(rows[0]) if rows else None


class TenantConnectionStore(ConnectionStore):
    """A store that also names its unit of work's tenant in what it writes."""

    def __init__(self, connection: AsyncConnection, tenant_id: TenantId) -> None:
        super().__init__(connection)
        self._tenant = tenant_id
