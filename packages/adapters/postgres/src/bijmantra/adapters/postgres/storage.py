"""What an organization stores now, read from the stored rows themselves (ADR 0343).

One aggregate statement per stored resource, under row-level security and led by the
tenant's primary-key prefix, over rows that already carry their size: a variant set's
``n_samples x n_variants`` (one row per set, never its chunks), the octet length of each
upload's content and of each analysis result (the TOAST header's, not the bytes), the
organization's devices not revoked (ADR 0361). The same
statement reads the organization's own cap, if an operator set one
(``domain.organization_quotas``). Nothing is counted on write or decremented on delete, so a
deletion, an erasure, a move or a restore is reflected by the next read.
"""

from __future__ import annotations

from bijmantra.adapters.postgres.engine import driver_connection
from bijmantra.domain.tenancy.storage import (
    Standing,
    StorageCaps,
    StoredResource,
    storage_refusal,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# What the organization stores of each resource and its own cap, if any, in one statement;
# each led by the tenant's primary-key prefix (the unit of work's setting, as RLS reads it).
STANDING = {
    StoredResource.GENOTYPE_CALLS: (
        "SELECT (SELECT coalesce(sum(n_samples::bigint * n_variants), 0)::bigint "
        "FROM domain.variant_sets "
        "WHERE tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid), "
        "(SELECT daily_limit FROM domain.organization_quotas "
        "WHERE tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid "
        "AND resource = %(resource)s)"
    ),
    StoredResource.ANALYSIS_RESULT_BYTES: (
        "SELECT (SELECT coalesce(sum(octet_length(data)), 0)::bigint "
        "FROM domain.analysis_results "
        "WHERE tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid), "
        "(SELECT daily_limit FROM domain.organization_quotas "
        "WHERE tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid "
        "AND resource = %(resource)s)"
    ),
    StoredResource.UPLOAD_BYTES: (
        "SELECT (SELECT coalesce(sum(octet_length(content)), 0)::bigint "
        "FROM domain.resource_contents "
        "WHERE tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid), "
        "(SELECT daily_limit FROM domain.organization_quotas "
        "WHERE tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid "
        "AND resource = %(resource)s)"
    ),
    # A revoked device is retired for good (no move leaves ``revoked``): it frees its place.
    StoredResource.ENROLLED_DEVICES: (
        "SELECT (SELECT count(*) FROM domain.sensor_devices "
        "WHERE tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid "
        "AND state <> 'revoked'), "
        "(SELECT daily_limit FROM domain.organization_quotas "
        "WHERE tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid "
        "AND resource = %(resource)s)"
    ),
}
# Writes of one organization that add to one stored resource check and commit in turn: the
# second reads the first's committed rows (a statement's snapshot is taken after the lock).
_LOCK = text(
    "SELECT pg_advisory_xact_lock(hashtextextended("
    "current_setting('app.tenant_id', true) || '/' || :resource, 0))"
)


async def lock_stored(connection: AsyncConnection, resource: StoredResource) -> None:
    """Hold, until the transaction ends, the organization's writes that add to ``resource``
    (each takes this lock before its commit)."""
    await connection.execute(_LOCK, {"resource": resource.value})


async def standing(connection: AsyncConnection, resource: StoredResource, cap: int) -> Standing:
    """What the transaction's organization stores of ``resource`` (its own uncommitted rows
    included), and its cap: its own, else ``cap``."""
    driver = await driver_connection(connection)
    cursor = await driver.execute(STANDING[resource], {"resource": resource.value})
    row = await cursor.fetchone()
    assert row is not None  # one row, always
    used, own = row
    return Standing(resource, int(used), cap if own is None else int(own))


class PostgresStorageReader:
    """The ``StorageReader`` of a unit of work (ADR 0343); ``caps`` are the deployment's."""

    def __init__(self, connection: AsyncConnection, caps: StorageCaps) -> None:
        self._connection, self._caps = connection, caps

    async def standing(self, resource: StoredResource) -> Standing | None:
        cap = self._caps.caps.get(resource)
        return None if cap is None else await standing(self._connection, resource, cap)


async def check_room(
    connection: AsyncConnection, caps: StorageCaps, resource: StoredResource, incoming: int
) -> None:
    """Refuse (``StorageFull``) a write that would store ``incoming`` more of ``resource``
    past the organization's cap; a resource the deployment does not cap is not read."""
    now = await PostgresStorageReader(connection, caps).standing(resource)
    if now is not None and (refusal := storage_refusal(now, incoming)) is not None:
        raise refusal


async def check_stored(
    connection: AsyncConnection, caps: StorageCaps, resources: list[StoredResource]
) -> None:
    """At commit: refuse when what the organization stores with this transaction's rows
    passes a cap. Each resource's lock is held to the end of the transaction, so two writes
    of one organization cannot both pass with what neither saw of the other."""
    for resource in sorted(r for r in resources if r in caps.caps):
        await lock_stored(connection, resource)
        await check_room(connection, caps, resource, 0)
