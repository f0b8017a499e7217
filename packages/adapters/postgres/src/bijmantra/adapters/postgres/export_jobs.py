"""Export jobs as domain-api's role sees them: the caller's organization's rows (ADR 0285).

Bound to the unit of work's connection, so row-level security confines every statement to
the organization, on its placement.
"""

from __future__ import annotations

import uuid
from typing import Any

from bijmantra.adapters.postgres.connection_store import ConnectionStore
from bijmantra.adapters.postgres.rows import parameters, record
from bijmantra.domain.tenancy.exports import PENDING, ExportJob, ExportStatus
from sqlalchemy import text

_GET = (
    "SELECT id, tenant_id, requested_by, status, requested_at, tables_done, tables_total, "
    "error, archive_sha256, archive_bytes, finished_at, expires_at "
    "FROM domain.organization_exports WHERE id = :id"
)


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _job(row: Any) -> ExportJob:
    return record(ExportJob, row, id=str(row.id), status=ExportStatus(row.status))


class PostgresExportStore(ConnectionStore):
    async def add(self, job: ExportJob) -> None:
        await self._execute(
            "INSERT INTO domain.organization_exports "
            "(id, tenant_id, requested_by, status, requested_at) "
            "VALUES (:id, :tenant_id, :requested_by, :status, :requested_at)",
            **parameters(job, id=uuid.UUID(job.id), status=str(job.status)),
        )

    async def get(self, export_id: str) -> ExportJob | None:
        key = _uuid(export_id)
        return None if key is None else await self._first(_GET, _job, id=key)

    async def pending(self) -> int:
        # Requests of one organization take turns (a transaction-scoped lock), so concurrent
        # ones cannot all count no export pending and each queue a whole dump (ADR 0332).
        await self._connection.execute(
            text(
                "SELECT pg_advisory_xact_lock(hashtextextended("
                "'organization-exports/' || current_setting('app.tenant_id', true), 0))"
            )
        )
        count = await self._connection.scalar(
            text("SELECT count(*) FROM domain.organization_exports WHERE status = ANY(:pending)"),
            {"pending": sorted(str(s) for s in PENDING)},
        )
        return int(count or 0)

    async def piece(self, export_id: str, seq: int) -> bytes | None:
        key = _uuid(export_id)
        if key is None:
            return None
        data = await self._connection.scalar(
            text(
                "SELECT data FROM domain.organization_export_chunks "
                "WHERE export_id = :id AND seq = :seq"
            ),
            {"id": key, "seq": seq},
        )
        return None if data is None else bytes(data)
