"""Deleting a variant set (ADR 0345): one transaction, statements of bounded size.

The set's row is locked first (``FOR UPDATE``): an analysis requested of it meanwhile inserts
its job only after this transaction ends (the job's foreign key waits for the row) and then
finds the set gone; a stream, an export or an extract of it holds the row (``FOR KEY SHARE``,
``hold_variant_set``) for its whole transaction, so a delete waits for the reads under way
and a read that comes after it finds no set, never part of one. Its chunks, variants and
call sets are then deleted in ranges of their primary key (``tenant_id, variant_set_db_id,
index``), each statement an index range scan of at most ``CHUNKS`` chunks (~1 MiB of packed
calls each, stored out of line) or ``ROWS`` rows, so no statement's work or memory grows
with the set, and a cancelled request (its deadline) stops between two statements. The
set's row goes last; its foreign keys then cascade over nothing. Every statement names the
tenant (the key's prefix) besides row-level security.
"""

from __future__ import annotations

from bijmantra.application.ports.genotypes import VariantSetRow
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

CHUNKS = 64  # chunks per statement: ~64 MiB of packed calls
ROWS = 100_000  # variants or call sets per statement
_LOCK = text(
    "SELECT name, source_format, n_variants, n_samples, created_at, reference_set_db_id "
    "FROM domain.variant_sets "
    "WHERE tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid "
    "AND variant_set_db_id = :s FOR UPDATE"
)
# What a reader over several statements holds: no delete runs until its transaction ends.
_HOLD = text(
    "SELECT 1 FROM domain.variant_sets "
    "WHERE tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid "
    "AND variant_set_db_id = :s FOR KEY SHARE"
)
# Each part of a set: (the statement reading its last index, the statement deleting a range of
# indexes, how many indexes one statement deletes).
PARTS = {
    "genotype_chunks": (
        "SELECT max(chunk_index) FROM domain.genotype_chunks "
        "WHERE tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid "
        "AND variant_set_db_id = :s",
        "DELETE FROM domain.genotype_chunks "
        "WHERE tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid "
        "AND variant_set_db_id = :s AND chunk_index >= :low AND chunk_index < :high",
        CHUNKS,
    ),
    "variants": (
        "SELECT max(variant_index) FROM domain.variants "
        "WHERE tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid "
        "AND variant_set_db_id = :s",
        "DELETE FROM domain.variants "
        "WHERE tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid "
        "AND variant_set_db_id = :s AND variant_index >= :low AND variant_index < :high",
        ROWS,
    ),
    "call_sets": (
        "SELECT max(column_index) FROM domain.call_sets "
        "WHERE tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid "
        "AND variant_set_db_id = :s",
        "DELETE FROM domain.call_sets "
        "WHERE tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid "
        "AND variant_set_db_id = :s AND column_index >= :low AND column_index < :high",
        ROWS,
    ),
}
_DELETE_SET = text(
    "DELETE FROM domain.variant_sets "
    "WHERE tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid "
    "AND variant_set_db_id = :s"
)


async def hold_variant_set(connection: AsyncConnection, variant_set_db_id: str) -> bool:
    return (await connection.execute(_HOLD, {"s": variant_set_db_id})).first() is not None


async def lock_variant_set(
    connection: AsyncConnection, variant_set_db_id: str
) -> VariantSetRow | None:
    row = (await connection.execute(_LOCK, {"s": variant_set_db_id})).one_or_none()
    if row is None:
        return None
    return VariantSetRow(
        variant_set_db_id,
        row.name,
        row.source_format,
        row.n_variants,
        row.n_samples,
        row.created_at.isoformat(),
        row.reference_set_db_id,
    )


async def delete_variant_set(connection: AsyncConnection, variant_set_db_id: str) -> None:
    """Delete the set ``lock_variant_set`` locked, part by part, range by range."""
    for last_index, delete_range, step in PARTS.values():
        found = await connection.execute(text(last_index), {"s": variant_set_db_id})
        last = found.scalar_one()
        statement = text(delete_range)
        for low in range(0, -1 if last is None else int(last) + 1, step):
            await connection.execute(
                statement, {"s": variant_set_db_id, "low": low, "high": low + step}
            )
    await connection.execute(_DELETE_SET, {"s": variant_set_db_id})
