"""Writes sent with an ``Idempotency-Key``, recorded in their own transaction (ADR 0336).

The gateway keeps a key's answer in Redis once it has one (ADR 0140). When domain-api died
between a write's commit and its answer, the gateway saw a 503, freed the key, and the
client's retry ran the write again. The row written here commits with the write, so the
retry finds it and is refused instead. A row outlives the gateway's record (a day); the
next keyed write of the organization removes rows older than two days.
"""

from __future__ import annotations

from bijmantra.kernel import Conflict, TenantId
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# Rows outlive the gateway's day-long record; the next keyed write of the organization
# removes what is older than two days.
_RECORD = text(
    "WITH expired AS (DELETE FROM domain.applied_requests WHERE tenant_id = :tenant_id "
    "AND applied_at < now() - interval '2 days' AND request_key <> :key) "
    "INSERT INTO domain.applied_requests AS a (tenant_id, request_key) "
    "VALUES (:tenant_id, :key) ON CONFLICT (tenant_id, request_key) "
    "DO UPDATE SET applied_at = now() WHERE a.applied_at < now() - interval '2 days' "
    "RETURNING 1"
)


async def record_applied(connection: AsyncConnection, tenant: TenantId, key: str) -> None:
    """Record ``key`` in the open transaction; Conflict when a request with it committed."""
    result = await connection.execute(_RECORD, {"tenant_id": tenant, "key": key})
    if result.first() is None:
        raise Conflict(
            "A request with this Idempotency-Key was already applied; its answer was lost "
            "(the service stopped before replying), so it is not run again"
        )
