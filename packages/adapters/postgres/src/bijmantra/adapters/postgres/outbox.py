"""Outbox table access: written inside business transactions, drained by the relay."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bijmantra.adapters.postgres.ddl import OUTBOX_RELAY_ROLE
from bijmantra.application.events import EventEnvelope, decode_envelope, encode_envelope

_INSERT = text(
    "INSERT INTO domain.outbox (id, tenant_id, type, aggregate_id, envelope) "
    "VALUES (:id, :tenant_id, :type, :aggregate_id, :envelope)"
)
_CLAIM = text(
    "SELECT id, envelope FROM domain.outbox WHERE published_at IS NULL "
    "ORDER BY seq LIMIT :limit FOR UPDATE SKIP LOCKED"
)
_MARK = text("UPDATE domain.outbox SET published_at = now() WHERE id = ANY(:ids)")
_PENDING = text(
    "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) "
    "FROM domain.outbox WHERE published_at IS NULL"
)


async def write_outbox(connection: AsyncConnection, envelopes: Sequence[EventEnvelope]) -> None:
    await connection.execute(
        _INSERT,
        [
            {
                "id": uuid.UUID(e.id),
                "tenant_id": uuid.UUID(e.tenant_id),
                "type": e.type,
                "aggregate_id": e.subject,
                "envelope": encode_envelope(e),
            }
            for e in envelopes
        ],
    )


@dataclass
class _ClaimedBatch:
    connection: AsyncConnection
    envelopes: list[EventEnvelope] = field(default_factory=list)

    async def mark_published(self, event_ids: Sequence[str]) -> None:
        if event_ids:
            await self.connection.execute(_MARK, {"ids": [uuid.UUID(i) for i in event_ids]})


class PostgresOutboxStore:
    """Claims rows with ``FOR UPDATE SKIP LOCKED`` so relays in several replicas share work."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @contextlib.asynccontextmanager
    async def claim(self, limit: int) -> AsyncIterator[_ClaimedBatch]:
        async with self._engine.connect() as connection, connection.begin():
            await connection.execute(text(f"SET LOCAL ROLE {OUTBOX_RELAY_ROLE}"))
            rows = (await connection.execute(_CLAIM, {"limit": limit})).all()
            yield _ClaimedBatch(connection, [decode_envelope(bytes(r.envelope)) for r in rows])

    async def pending(self) -> tuple[int, float]:
        """How many events wait, and the age in seconds of the oldest (outbox lag)."""
        async with self._engine.connect() as connection, connection.begin():
            await connection.execute(text(f"SET LOCAL ROLE {OUTBOX_RELAY_ROLE}"))
            count, age = (await connection.execute(_PENDING)).one()
            return int(count), float(age)
