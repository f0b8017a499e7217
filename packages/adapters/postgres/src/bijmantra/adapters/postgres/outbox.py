"""Outbox table access: written inside business transactions, drained by the relay."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from bijmantra.adapters.postgres.ddl import OUTBOX_SCHEMAS, outbox_relay_role
from bijmantra.application.events import EventEnvelope, decode_envelope, encode_envelope
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


def _schema(schema: str) -> str:
    """Only known schema names are ever put into SQL text."""
    if schema not in OUTBOX_SCHEMAS:
        raise ValueError(f"no outbox in schema {schema!r}")
    return schema


async def write_outbox(
    connection: AsyncConnection, envelopes: Sequence[EventEnvelope], *, schema: str = "domain"
) -> None:
    await connection.execute(
        text(
            f"INSERT INTO {_schema(schema)}.outbox (id, tenant_id, type, aggregate_id, envelope) "  # noqa: S608
            "VALUES (:id, :tenant_id, :type, :aggregate_id, :envelope)"
        ),
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
    schema: str
    envelopes: list[EventEnvelope] = field(default_factory=list)

    async def mark_published(self, event_ids: Sequence[str]) -> None:
        if event_ids:
            await self.connection.execute(
                text(f"UPDATE {self.schema}.outbox SET published_at = now() WHERE id = ANY(:ids)"),  # noqa: S608
                {"ids": [uuid.UUID(i) for i in event_ids]},
            )


class PostgresOutboxStore:
    """Claims rows with ``FOR UPDATE SKIP LOCKED`` so relays in several replicas share work.

    ``schema`` picks whose outbox (``domain`` or ``identity``); the claim runs as that
    schema's relay role, the only role that may read every tenant's unpublished events.
    """

    def __init__(self, engine: AsyncEngine, *, schema: str = "domain") -> None:
        self._engine = engine
        self.schema = _schema(schema)
        self._relay_role = outbox_relay_role(schema)

    @contextlib.asynccontextmanager
    async def claim(self, limit: int) -> AsyncIterator[_ClaimedBatch]:
        async with self._engine.connect() as connection, connection.begin():
            await connection.execute(text(f"SET LOCAL ROLE {self._relay_role}"))
            rows = (
                await connection.execute(
                    text(
                        f"SELECT id, envelope FROM {self.schema}.outbox WHERE published_at IS NULL "  # noqa: S608
                        "ORDER BY seq LIMIT :limit FOR UPDATE SKIP LOCKED"
                    ),
                    {"limit": limit},
                )
            ).all()
            envelopes = [decode_envelope(bytes(r.envelope)) for r in rows]
            yield _ClaimedBatch(connection, self.schema, envelopes)

    async def pending(self) -> tuple[int, float]:
        """How many events wait, and the age in seconds of the oldest (outbox lag)."""
        async with self._engine.connect() as connection, connection.begin():
            await connection.execute(text(f"SET LOCAL ROLE {self._relay_role}"))
            count, age = (
                await connection.execute(
                    text(
                        "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) "  # noqa: S608
                        f"FROM {self.schema}.outbox WHERE published_at IS NULL"
                    )
                )
            ).one()
            return int(count), float(age)
