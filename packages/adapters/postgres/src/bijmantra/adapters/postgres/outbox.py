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
from typing import Any

import psycopg
from bijmantra.adapters.postgres.ddl import (
    OUTBOX_PARTITIONS,
    OUTBOX_SCHEMAS,
    outbox_relay_role,
    set_local_role,
)
from bijmantra.adapters.postgres.engine import (
    driver_connection,
    opened_transaction,
    queue_commit,
)
from bijmantra.application.events import (
    EventEnvelope,
    OutboxRecord,
    is_bulk,
    publishable_envelopes,
    split_bulk,
)
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


def _checked(schema: str) -> str:
    if schema not in OUTBOX_SCHEMAS:
        raise ValueError(f"no outbox in schema {schema!r}")
    return schema


def _in_schema(statement: sql.SQL, schema: str) -> str:
    """``statement`` with ``{schema}`` replaced by a known outbox schema, quoted by psycopg."""
    return statement.format(schema=sql.Identifier(_checked(schema))).as_string()


_WRITE = sql.SQL(
    "INSERT INTO {schema}.outbox (id, tenant_id, type, aggregate_id, envelope, traceparent) "
    "SELECT CAST(id AS uuid), CAST(tenant_id AS uuid), type, aggregate_id, envelope, "
    "traceparent FROM unnest(CAST(%(id)b AS text[]), CAST(%(tenant_id)b AS text[]), "
    "CAST(%(type)b AS text[]), CAST(%(subject)b AS text[]), %(envelope)b, "
    "CAST(%(traceparent)b AS text[])) "
    "AS e(id, tenant_id, type, aggregate_id, envelope, traceparent)"
)
_WRITES = {schema: _in_schema(_WRITE, schema) for schema in OUTBOX_SCHEMAS}


async def write_outbox(
    connection: AsyncConnection, envelopes: Sequence[EventEnvelope], *, schema: str = "domain"
) -> None:
    """Insert events in the caller's transaction (they commit or roll back with its writes).

    One statement over binary arrays however many events (a bulk write's events, split
    into parts by ``_bulk_parts``, are tens of rows of up to hundreds of kB): PostgreSQL
    neither parses nor re-encodes the envelopes it stores."""
    await insert_outbox(connection, await outbox_parts(connection, envelopes), schema=schema)


async def outbox_parts(
    connection: AsyncConnection, envelopes: Sequence[EventEnvelope]
) -> Sequence[EventEnvelope]:
    """The rows ``envelopes`` make: bulk events split by outbox partition (a query, so it
    runs before a pipeline that reads no answers, ADR 0321); others as they are."""
    if any(is_bulk(e.type) for e in envelopes):
        return await _bulk_parts(connection, envelopes)
    return envelopes


async def insert_outbox(
    connection: AsyncConnection,
    parts: Sequence[EventEnvelope],
    *,
    schema: str = "domain",
    payloads: Sequence[bytes] | None = None,
) -> None:
    """Insert rows made by ``outbox_parts``; reads no answer, so it can be pipelined. A row
    too large to publish refuses the write (``publishable_envelopes``, unless the caller
    encoded the parts with it already: ``payloads``)."""
    if not parts:
        return
    envelopes = publishable_envelopes(parts) if payloads is None else payloads
    driver = await driver_connection(connection)
    await driver.cursor(binary=True).execute(
        _WRITES[_checked(schema)],
        {
            "id": [e.id for e in parts],
            "tenant_id": [e.tenant_id for e in parts],
            "type": [e.type for e in parts],
            "subject": [e.subject for e in parts],
            "envelope": envelopes,
            "traceparent": [e.traceparent for e in parts],
        },
    )


# The expression of the outbox's generated ``partition`` column (``ddl.outbox_partition``).
_PARTITIONS = text(
    "SELECT (hashtext(id) & CAST(:mask AS integer))::smallint "
    "FROM unnest(CAST(:ids AS text[])) WITH ORDINALITY AS item(id, n) ORDER BY n"
)


async def _bulk_parts(
    connection: AsyncConnection, envelopes: Sequence[EventEnvelope]
) -> list[EventEnvelope]:
    """Bulk events split so that each part's items share its outbox partition (events.bulk).

    PostgreSQL computes the partitions (one round trip for every item of the write) with
    the very expression of the outbox's generated column."""
    ids = [i for e in envelopes if is_bulk(e.type) for i in e.data["ids"]]
    partitions = (
        (await connection.execute(_PARTITIONS, {"ids": ids, "mask": OUTBOX_PARTITIONS - 1}))
        .scalars()
        .all()
    )
    parts: list[EventEnvelope] = []
    start = 0
    for envelope in envelopes:
        if not is_bulk(envelope.type):
            parts.append(envelope)
            continue
        end = start + len(envelope.data["ids"])
        parts += split_bulk(envelope, partitions[start:end])
        start = end
    return parts


_CLAIM = sql.SQL(
    "WITH held AS (SELECT p.partition FROM {schema}.outbox_partitions p "
    "CROSS JOIN LATERAL (SELECT o.seq FROM {schema}.outbox o "
    "WHERE o.partition = p.partition AND o.published_at IS NULL "
    "ORDER BY o.seq LIMIT 1) oldest "
    "ORDER BY oldest.seq LIMIT %(partitions)s FOR UPDATE OF p SKIP LOCKED) "
    "SELECT CAST(id AS text) AS id, type, CAST(tenant_id AS text) AS tenant_id, "
    "envelope, traceparent, partition FROM {schema}.outbox WHERE published_at IS NULL "
    "AND partition = ANY(ARRAY(SELECT partition FROM held)) ORDER BY seq LIMIT %(limit)s"
)
_MARK = sql.SQL(
    "UPDATE {schema}.outbox SET published_at = now() WHERE id = ANY(CAST(%(ids)s AS uuid[]))"
)
_PENDING = sql.SQL(
    "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) "
    "FROM {schema}.outbox WHERE published_at IS NULL"
)
_PURGE = sql.SQL(
    "DELETE FROM {schema}.outbox WHERE published_at IS NOT NULL AND published_at < now() - :age"
)


@dataclass
class _ClaimedBatch:
    driver: psycopg.AsyncConnection
    mark_sql: str
    records: list[OutboxRecord] = field(default_factory=list)
    more: bool = False

    async def mark_published(self, event_ids: Sequence[str]) -> None:
        """Mark and commit in one round trip (pipelined): the claim ends here.

        Ids travel as one ``text[]`` (PostgreSQL casts), so no UUID object is built per id."""
        async with self.driver.pipeline():
            if event_ids:
                await self.driver.execute(self.mark_sql, {"ids": list(event_ids)})
            await queue_commit(self.driver)


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
        self._role = outbox_relay_role(_checked(schema))
        # The relay's own writes (marks) need no fsync wait: a mark lost in a crash only
        # means a republish, which the stream's duplicate window and consumers absorb.
        self._relay_settings = (
            set_local_role(self._role),
            "SET LOCAL synchronous_commit = off",
        )
        # psycopg's own placeholders: the claim and the mark are sent by the driver, pipelined.
        self._claim = _in_schema(_CLAIM, schema)
        self._mark = _in_schema(_MARK, schema)
        self._pending = text(_in_schema(_PENDING, schema))
        self._purge = text(_in_schema(_PURGE, schema))

    @contextlib.asynccontextmanager
    async def _as_relay(self) -> AsyncIterator[AsyncConnection]:
        # The relay's settings are the first statement: retried once on a fresh connection
        # if the pooled one died (a restart), as a unit of work's opening is (ADR 0341, 0346).
        settings = text("; ".join(self._relay_settings))
        async with opened_transaction(self._engine, lambda c: c.execute(settings)) as opened:
            yield opened[0]

    @contextlib.asynccontextmanager
    async def claim(self, limit: int) -> AsyncIterator[_ClaimedBatch]:
        """Two round trips per pass: ``BEGIN``, the relay's settings and the claim go out
        pipelined, and so do the mark and ``COMMIT`` (``mark_published``). Sent one by one
        they were five, each waiting for both processes to be scheduled on a loaded host."""
        params = {"limit": limit, "partitions": self._max_partitions}

        async def opening(connection: AsyncConnection) -> list[Any]:
            # The whole claim is the unit's first exchange: on a connection a restart ended
            # nothing of it has run, and it runs once more on a fresh one (ADR 0341, 0346).
            driver = await driver_connection(connection)
            async with driver.pipeline():
                for setting in self._relay_settings:
                    await driver.execute(setting)
                cursor = await driver.execute(self._claim, params, binary=True)
            return await cursor.fetchall()

        async with opened_transaction(self._engine, opening) as (connection, rows):
            driver = await driver_connection(connection)
            records = [
                OutboxRecord(id_, type_, tenant_id, envelope, traceparent)
                for id_, type_, tenant_id, envelope, traceparent, _ in rows
            ]
            # Every held partition has a pending row, so below the row limit the rows name
            # them all: holding the most it may, the claim may have left others behind.
            held = len({row[5] for row in rows})
            more = len(rows) >= limit or held >= self._max_partitions
            yield _ClaimedBatch(driver, self._mark, records, more)
            # After ``mark_published`` the commit on leaving finds nothing to do; without it
            # (an empty claim) it ends the transaction, and an error rolls back (no marks).

    async def pending(self) -> tuple[int, float]:
        """How many events wait, and the age in seconds of the oldest (outbox lag)."""
        async with self._as_relay() as connection:
            count, age = (await connection.execute(self._pending)).one()
            return int(count), float(age)

    async def purge_published(self, older_than: timedelta) -> int:
        """Delete rows published long enough ago that no relay retry can still need them."""
        async with self._as_relay() as connection:
            return (await connection.execute(self._purge, {"age": older_than})).rowcount
