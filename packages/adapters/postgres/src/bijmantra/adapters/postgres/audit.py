"""The audit trail in ``domain.audit_log``: appended by the audit consumer, read by queries.

Appends for one tenant are serialized by locking that tenant's ``audit_chain_heads`` row;
the entry, its chain head and the consumer's processed-event record commit together.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from bijmantra.adapters.postgres.engine import driver_connection, opened_transaction
from bijmantra.adapters.postgres.inbox import first_deliveries
from bijmantra.adapters.postgres.placement import (
    DEPARTED,
    FENCED,
    OrganizationMoving,
    PlacementEngines,
    as_placements,
    enter_tenant,
)
from bijmantra.adapters.postgres.plans import planned_per_call
from bijmantra.adapters.postgres.rows import record
from bijmantra.application.compliance import GENESIS_HASH, AuditEntry, ChainHead, next_entry
from bijmantra.application.events import EventEnvelope, event_resources, is_bulk
from bijmantra.domain.tenancy.placement import PlacementDatabase
from bijmantra.kernel import Page, PageRequest, TenantId
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

_encode = msgspec.json.encode

_OPEN_HEAD = text(
    "INSERT INTO domain.audit_chain_heads (tenant_id, position, hash) "
    "VALUES (:tenant, 0, :genesis) ON CONFLICT (tenant_id) DO NOTHING"
)
_LOCK_HEAD = text(
    "SELECT position, hash FROM domain.audit_chain_heads WHERE tenant_id = :tenant FOR UPDATE"
)
_READ_HEAD = text("SELECT position, hash FROM domain.audit_chain_heads WHERE tenant_id = :tenant")
# A fetched batch of entries is one statement over arrays, sent in binary (``%(...)b``: an
# array of envelopes as text would be hex-escaped element by element, seconds per batch):
# a bulk write of 10,000 observations is 10,000 events.
_INSERT = (
    "INSERT INTO domain.audit_log (tenant_id, position, event_id, event_type, subject, actor, "
    "occurred_at, recorded_at, envelope, prev_hash, hash, resources) "
    "SELECT %(tenant_id)b, position, event_id, event_type, subject, actor, occurred_at, "
    "recorded_at, envelope, prev_hash, hash, "
    "CASE WHEN resources IS NOT NULL "
    "THEN ARRAY(SELECT json_array_elements_text(CAST(resources AS json))) END "
    "FROM unnest(CAST(%(position)b AS bigint[]), "
    "%(event_id)b, CAST(%(event_type)b AS text[]), CAST(%(subject)b AS text[]), "
    "CAST(%(actor)b AS text[]), %(occurred_at)b, %(recorded_at)b, %(envelope)b, "
    "%(prev_hash)b, %(hash)b, CAST(%(resources)b AS text[])) AS entry(position, event_id, "
    "event_type, subject, actor, occurred_at, recorded_at, envelope, prev_hash, hash, resources)"
)
_ARRAYS = (
    "position",
    "event_id",
    "event_type",
    "subject",
    "actor",
    "occurred_at",
    "recorded_at",
    "envelope",
    "prev_hash",
    "hash",
)
# One row even for an empty trail (its entry columns NULL), so the total always arrives.
_NEWEST = text(
    "SELECT head.newest, e.* FROM (SELECT max(position) AS newest FROM domain.audit_log) head "
    "LEFT JOIN LATERAL (SELECT tenant_id, position, event_id, event_type, subject, actor, "
    "occurred_at, recorded_at, envelope, prev_hash, hash FROM domain.audit_log "
    "WHERE position <= head.newest - :offset ORDER BY position DESC LIMIT :limit) e ON true"
)
# A page of the whole trail, or of one resource's entries (a bulk event names its items in
# ``resources``); each with its count.
_COUNT = text("SELECT count(*) FROM domain.audit_log")
_PAGE = text(
    "SELECT tenant_id, position, event_id, event_type, subject, actor, occurred_at, "
    "recorded_at, envelope, prev_hash, hash FROM domain.audit_log "
    "ORDER BY position LIMIT :limit OFFSET :offset"
)
_COUNT_OF_RESOURCE = text(
    "SELECT count(*) FROM domain.audit_log "
    "WHERE subject = :resource OR resources @> ARRAY[CAST(:resource AS text)]"
)
_PAGE_OF_RESOURCE = text(
    "SELECT tenant_id, position, event_id, event_type, subject, actor, occurred_at, "
    "recorded_at, envelope, prev_hash, hash FROM domain.audit_log "
    "WHERE subject = :resource OR resources @> ARRAY[CAST(:resource AS text)] "
    "ORDER BY position LIMIT :limit OFFSET :offset"
)
# Under RLS the OR above is tested row by row over the organization's whole trail
# (``arraycontains`` is not leakproof). The finder of migration 0257 answers the positions
# of the organization's entries about the resource through the indexes (ADR 0356); up to
# ``CANDIDATES`` of them, the count and the page read those entries by key through RLS,
# keeping the test; past it, they are the statements above.
CANDIDATES = 10_000
_ASK = text("SELECT ARRAY(SELECT domain.audit_positions_of(:resource) LIMIT :cap)")
_COUNT_BY_KEY = planned_per_call(
    text(
        "SELECT count(*) FROM domain.audit_log WHERE position = ANY(CAST(:positions AS bigint[])) "
        "AND (subject = :resource OR resources @> ARRAY[CAST(:resource AS text)])"
    )
)
_PAGE_BY_KEY = planned_per_call(
    text(
        "SELECT tenant_id, position, event_id, event_type, subject, actor, occurred_at, "
        "recorded_at, envelope, prev_hash, hash FROM domain.audit_log "
        "WHERE position = ANY(CAST(:positions AS bigint[])) "
        "AND (subject = :resource OR resources @> ARRAY[CAST(:resource AS text)]) "
        "ORDER BY position LIMIT :limit OFFSET :offset"
    )
)
_UP_TO = text(
    "SELECT tenant_id, position, event_id, event_type, subject, actor, occurred_at, "
    "recorded_at, envelope, prev_hash, hash FROM domain.audit_log "
    "WHERE position <= :up_to ORDER BY position"
)
_MOVE_HEAD = text(
    "UPDATE domain.audit_chain_heads SET position = :position, hash = :hash "
    "WHERE tenant_id = :tenant"
)


def _entry(row: Any) -> AuditEntry:
    return record(
        AuditEntry,
        row,
        tenant_id=str(row.tenant_id),
        event_id=str(row.event_id),
        envelope=bytes(row.envelope),
        prev_hash=bytes(row.prev_hash),
        hash=bytes(row.hash),
    )


def _columns(
    tenant: uuid.UUID, entries: Sequence[AuditEntry], events: Sequence[EventEnvelope]
) -> dict[str, Any]:
    """``_INSERT``'s parameters: the tenant, then one array per column; ``resources`` holds
    a bulk event's item ids as a JSON array (an array of arrays must be rectangular)."""
    columns: dict[str, Any] = {"tenant_id": tenant, **{name: [] for name in _ARRAYS}}
    for entry in entries:
        for name in _ARRAYS:
            columns[name].append(getattr(entry, name))
    columns["event_id"] = [uuid.UUID(i) for i in columns["event_id"]]
    columns["resources"] = [
        _encode(event_resources(event)).decode() if is_bulk(event.type) else None
        for event in events
    ]
    return columns


class PostgresAuditStore:
    """Each organization's trail lives in its placement (ADR 0102)."""

    def __init__(self, engine: AsyncEngine | PlacementEngines) -> None:
        self._placements = as_placements(engine)

    async def append(self, consumer: str, event: EventEnvelope, envelope: bytes) -> bool:
        return await self.append_many(consumer, [(event, envelope)]) == 1

    async def append_many(
        self, consumer: str, events: Sequence[tuple[EventEnvelope, bytes]]
    ) -> int:
        """Append a batch in one transaction (one chain-head lock per tenant); return how
        many were new. Events ``consumer`` already recorded are skipped."""
        by_tenant: dict[str, dict[str, tuple[EventEnvelope, bytes]]] = {}
        for event, envelope in events:
            by_tenant.setdefault(event.tenant_id, {}).setdefault(event.id, (event, envelope))
        by_database: dict[PlacementDatabase | None, list[TenantId]] = {}
        for tenant_id in by_tenant:
            tenant = TenantId(uuid.UUID(tenant_id))
            by_database.setdefault(await self._placements.database_of(tenant), []).append(tenant)
        appended = 0
        # One transaction per placement; a departed or fenced organization fails the batch,
        # which is redelivered (events already recorded are skipped).
        # The first tenant's gate opens the transaction like a unit of work: a pooled
        # connection a restart ended is replaced there, not failed (ADR 0341, 0346).
        for database, tenants in by_database.items():
            engine = self._placements.engine_of(database)

            def opening(conn: AsyncConnection, first: TenantId = tenants[0]) -> Awaitable[str]:
                return enter_tenant(conn, first)

            async with opened_transaction(engine, opening) as (conn, first_gate):
                for tenant in tenants:
                    gate = first_gate if tenant == tenants[0] else await enter_tenant(conn, tenant)
                    if gate == FENCED or (
                        gate == DEPARTED and not await self._placements.still_here(tenant, database)
                    ):
                        raise OrganizationMoving()
                    appended += await self._append(conn, consumer, tenant, by_tenant[str(tenant)])
        return appended

    async def _append(
        self,
        conn: AsyncConnection,
        consumer: str,
        tenant: TenantId,
        batch: dict[str, tuple[EventEnvelope, bytes]],
    ) -> int:
        fresh = await first_deliveries(
            conn, consumer, [e for e, _ in batch.values()], schema="domain"
        )
        if not fresh:
            return 0
        await conn.execute(_OPEN_HEAD, {"tenant": tenant, "genesis": GENESIS_HASH})
        position, head_hash = (await conn.execute(_LOCK_HEAD, {"tenant": tenant})).one()
        head = ChainHead(position, bytes(head_hash)) if position else None
        entries, recorded = [], []
        recorded_at = datetime.now(UTC)
        for event, envelope in batch.values():
            if event.id in fresh:
                entry = next_entry(head, event, envelope, recorded_at)
                head = ChainHead(entry.position, entry.hash)
                entries.append(entry)
                recorded.append(event)
        driver = await driver_connection(conn)
        await driver.cursor(binary=True).execute(_INSERT, _columns(tenant, entries, recorded))
        assert head is not None
        await conn.execute(
            _MOVE_HEAD, {"tenant": tenant, "position": head.position, "hash": head.hash}
        )
        return len(entries)

    async def page(
        self, tenant_id: TenantId, page: PageRequest, *, resource: str | None = None
    ) -> Page[AuditEntry]:
        count, select = (_COUNT, _PAGE)
        params: dict[str, Any] = {"limit": page.page_size, "offset": page.offset}
        async with self._placements.transaction(tenant_id) as conn:
            if resource is not None:
                params["resource"] = resource
                count, select = (_COUNT_OF_RESOURCE, _PAGE_OF_RESOURCE)
                asked = {"resource": resource, "cap": CANDIDATES + 1}
                positions = (await conn.execute(_ASK, asked)).scalar_one()
                if len(positions) <= CANDIDATES:
                    count, select = (_COUNT_BY_KEY, _PAGE_BY_KEY)
                    params["positions"] = positions
            total = (await conn.execute(count, params)).scalar_one()
            rows = await conn.execute(select, params)
            return Page([_entry(r) for r in rows], page, int(total))

    async def newest(self, tenant_id: TenantId, page: PageRequest) -> Page[AuditEntry]:
        """Positions run from 1 to the newest without a gap (each entry links to the one
        before it), so the newest position is the total and a page is a range of positions
        read backwards on the primary key: one statement, no count, no offset scan."""
        async with self._placements.transaction(tenant_id) as conn:
            rows = list(
                await conn.execute(_NEWEST, {"limit": page.page_size, "offset": page.offset})
            )
        total = rows[0].newest or 0
        return Page([_entry(r) for r in rows if r.position is not None], page, int(total))

    async def entries(self, tenant_id: TenantId, up_to: int) -> AsyncIterator[AuditEntry]:
        async with self._placements.transaction(tenant_id) as conn:
            result = await conn.stream(_UP_TO, {"up_to": up_to})
            async for row in result:
                yield _entry(row)

    async def head(self, tenant_id: TenantId) -> ChainHead | None:
        async with self._placements.transaction(tenant_id) as conn:
            row = (
                await conn.execute(_READ_HEAD, {"tenant": uuid.UUID(str(tenant_id))})
            ).one_or_none()
            return None if row is None else ChainHead(row.position, bytes(row.hash))
