"""Outbox table access: written inside business transactions, drained by the relay.

Every schema in ``ddl.OUTBOX_SCHEMAS`` holds an outbox; ``write_outbox`` and
``PostgresOutboxStore`` take the schema, so identity and domain share this code.

Ordering across several relays: rows are partitioned by a hash of their aggregate id.
A relay first locks partitions that have pending rows (``FOR UPDATE SKIP LOCKED`` on
``outbox_partitions``), then reads pending rows of those partitions only, in ``seq``
order (walking the pending-rows ``seq`` index and stopping after the batch, rather than
fetching and sorting every pending row of the held partitions). A partition is held by
one relay at a time, so two relays never publish events of one aggregate concurrently,
and whichever takes the partition next starts from its oldest pending row. A plain
row-level ``SKIP LOCKED`` would not keep that order: a second relay would skip an
aggregate's locked first event and publish its second one.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from bijmantra.adapters.postgres.ddl import OUTBOX_SCHEMAS, outbox_relay_role
from bijmantra.application.events import EventEnvelope, OutboxRecord, encode_envelope
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


def _checked(schema: str) -> str:
    """Only known schema names are ever put into SQL text."""
    if schema not in OUTBOX_SCHEMAS:
        raise ValueError(f"no outbox in schema {schema!r}")
    return schema


async def write_outbox(
    connection: AsyncConnection, envelopes: Sequence[EventEnvelope], *, schema: str = "domain"
) -> None:
    """Insert events in the caller's transaction (they commit or roll back with its writes).

    One statement over arrays however many events: a bulk write of 10,000 documents
    records 10,000 events without 10,000 round trips."""
    if not envelopes:
        return
    await connection.execute(
        text(
            f"INSERT INTO {_checked(schema)}.outbox "  # noqa: S608 (checked identifier)
            "(id, tenant_id, type, aggregate_id, envelope, traceparent) "
            "SELECT CAST(e->>'id' AS uuid), CAST(e->>'tenant_id' AS uuid), e->>'type', "
            "e->>'subject', "
            "convert_to(CAST(e AS text), 'UTF8'), e->>'traceparent' "
            "FROM json_array_elements(CAST(:envelopes AS json)) AS e"
        ),
        # One JSON array of the encoded envelopes: ``json`` keeps each element's exact text.
        {"envelopes": (b"[" + b",".join(encode_envelope(e) for e in envelopes) + b"]").decode()},
    )


@dataclass
class _ClaimedBatch:
    connection: AsyncConnection
    mark_sql: str
    records: list[OutboxRecord] = field(default_factory=list)

    async def mark_published(self, event_ids: Sequence[str]) -> None:
        if event_ids:  # ids travel as one text[] (PostgreSQL casts): no per-id UUID objects
            await self.connection.execute(text(self.mark_sql), {"ids": list(event_ids)})


class PostgresOutboxStore:
    """Claims whole partitions so relays in several replicas share work and keep order.

    Each pass takes up to ``max_partitions`` free partitions, those with the oldest
    pending event first (no partition starves under a steady backlog).
    """

    def __init__(
        self, engine: AsyncEngine, *, schema: str = "domain", max_partitions: int = 32
    ) -> None:
        self._engine = engine
        self._max_partitions = max_partitions
        schema = _checked(schema)
        self._role = outbox_relay_role(schema)
        self._claim = text(
            f"WITH held AS (SELECT p.partition FROM {schema}.outbox_partitions p "  # noqa: S608
            f"CROSS JOIN LATERAL (SELECT o.seq FROM {schema}.outbox o "
            "WHERE o.partition = p.partition AND o.published_at IS NULL "
            "ORDER BY o.seq LIMIT 1) oldest "
            "ORDER BY oldest.seq LIMIT :partitions FOR UPDATE OF p SKIP LOCKED) "
            "SELECT CAST(id AS text) AS id, type, CAST(tenant_id AS text) AS tenant_id, "
            f"envelope, traceparent FROM {schema}.outbox WHERE published_at IS NULL "
            "AND partition = ANY(ARRAY(SELECT partition FROM held)) ORDER BY seq LIMIT :limit"
        )
        self._mark = (
            f"UPDATE {schema}.outbox SET published_at = now() "  # noqa: S608 (checked identifier)
            "WHERE id = ANY(CAST(:ids AS uuid[]))"
        )
        self._pending = text(
            "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) "  # noqa: S608
            f"FROM {schema}.outbox WHERE published_at IS NULL"
        )
        self._purge = text(
            f"DELETE FROM {schema}.outbox "  # noqa: S608 (checked identifier)
            "WHERE published_at IS NOT NULL AND published_at < now() - :age"
        )

    @contextlib.asynccontextmanager
    async def _as_relay(self) -> AsyncIterator[AsyncConnection]:
        async with self._engine.connect() as connection, connection.begin():
            # The relay's own writes (marks) need no fsync wait: a mark lost in a crash only
            # means a republish, which the stream's duplicate window and consumers absorb.
            await connection.execute(
                text(f"SET LOCAL ROLE {self._role}; SET LOCAL synchronous_commit = off")
            )
            yield connection

    @contextlib.asynccontextmanager
    async def claim(self, limit: int) -> AsyncIterator[_ClaimedBatch]:
        async with self._as_relay() as connection:
            params = {"limit": limit, "partitions": self._max_partitions}
            rows = (await connection.execute(self._claim, params)).all()
            records = [
                OutboxRecord(r.id, r.type, r.tenant_id, bytes(r.envelope), r.traceparent)
                for r in rows
            ]
            yield _ClaimedBatch(connection, self._mark, records)

    async def pending(self) -> tuple[int, float]:
        """How many events wait, and the age in seconds of the oldest (outbox lag)."""
        async with self._as_relay() as connection:
            count, age = (await connection.execute(self._pending)).one()
            return int(count), float(age)

    async def purge_published(self, older_than: timedelta) -> int:
        """Delete rows published long enough ago that no relay retry can still need them."""
        async with self._as_relay() as connection:
            return (await connection.execute(self._purge, {"age": older_than})).rowcount
