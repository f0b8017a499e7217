"""The analytics-worker's own tables: its run ledger and the per-crop germplasm counts.

The worker holds no SQL (ADR 0245): it calls these inside a transaction it opened on the
organization's placement, so each write shares that transaction (and, for the projection,
the inbox row that makes the event count once).
"""

from __future__ import annotations

from collections.abc import Mapping

from bijmantra.kernel import TenantId
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_RUN_STARTED = text(
    "INSERT INTO analytics.analysis_runs (tenant_id, analysis_db_id, attempt, worker) "
    "VALUES (:tenant, :analysis, :attempt, :worker) ON CONFLICT DO NOTHING"
)
_RUN_FINISHED = text(
    "UPDATE analytics.analysis_runs SET finished_at = now(), outcome = :outcome, "
    "read_seconds = :read, compute_seconds = :compute "
    "WHERE analysis_db_id = :analysis AND attempt = :attempt"
)
_ADD_CROP_COUNTS = text(
    "INSERT INTO analytics.crop_germplasm_counts AS c "
    "(tenant_id, common_crop_name, germplasm_count) "
    "SELECT :tenant, * FROM unnest(CAST(:crops AS text[]), CAST(:counts AS bigint[])) "
    "ON CONFLICT (tenant_id, common_crop_name) "
    "DO UPDATE SET germplasm_count = c.germplasm_count + excluded.germplasm_count"
)


async def record_run_started(
    conn: AsyncConnection, tenant: TenantId, analysis: str, attempt: int, worker: str
) -> None:
    """One ledger row per attempt; a redelivered start of the same attempt adds nothing."""
    await conn.execute(
        _RUN_STARTED,
        {"tenant": tenant, "analysis": analysis, "attempt": attempt, "worker": worker},
    )


async def record_run_finished(
    conn: AsyncConnection,
    analysis: str,
    attempt: int,
    outcome: str,
    *,
    read_seconds: float | None = None,
    compute_seconds: float | None = None,
) -> None:
    await conn.execute(
        _RUN_FINISHED,
        {
            "analysis": analysis,
            "attempt": attempt,
            "outcome": outcome,
            "read": read_seconds,
            "compute": compute_seconds,
        },
    )


async def add_crop_counts(
    conn: AsyncConnection, tenant: TenantId, created_per_crop: Mapping[str, int]
) -> None:
    """Add newly created germplasm to each crop's running count, in one statement."""
    await conn.execute(
        _ADD_CROP_COUNTS,
        {
            "tenant": tenant,
            "crops": list(created_per_crop),
            "counts": list(created_per_crop.values()),
        },
    )
