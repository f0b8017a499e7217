"""Export jobs as domain-api's role sees them: the caller's organization's rows (ADR 0285).

Bound to the unit of work's connection, so row-level security confines every statement to
the organization, on its placement.
"""

from __future__ import annotations

import uuid
from typing import Any

from bijmantra.domain.tenancy.exports import PENDING, ExportJob, ExportStatus
from bijmantra.kernel import TenantId
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_GET = text(
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
    return ExportJob(
        id=str(row.id),
        tenant_id=TenantId(row.tenant_id),
        requested_by=row.requested_by,
        status=ExportStatus(row.status),
        requested_at=row.requested_at,
        tables_done=row.tables_done,
        tables_total=row.tables_total,
        error=row.error,
        archive_sha256=row.archive_sha256,
        archive_bytes=row.archive_bytes,
        finished_at=row.finished_at,
        expires_at=row.expires_at,
    )


class PostgresExportStore:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, job: ExportJob) -> None:
        await self._connection.execute(
            text(
                "INSERT INTO domain.organization_exports "
                "(id, tenant_id, requested_by, status, requested_at) "
                "VALUES (:id, :tenant, :by, :status, :at)"
            ),
            {
                "id": uuid.UUID(job.id),
                "tenant": job.tenant_id,
                "by": job.requested_by,
                "status": str(job.status),
                "at": job.requested_at,
            },
        )

    async def get(self, export_id: str) -> ExportJob | None:
        key = _uuid(export_id)
        if key is None:
            return None
        row = (await self._connection.execute(_GET, {"id": key})).first()
        return None if row is None else _job(row)

    async def pending(self) -> int:
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
