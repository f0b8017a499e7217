"""An organization admin's export of all its data (ADR 0285): request, follow, download.

The archive itself is built by an export runner with the operator CLI's code (ADR 0101);
these use cases only queue the job, show it, and hand out its archive piece by piece, each
in the caller's own organization (row-level security): another organization's export id is
simply not found.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import msgspec
from bijmantra.application.ports.transaction import Transaction
from bijmantra.application.security import Action, Permission
from bijmantra.application.use_case import ClockedUseCase, existing, organization_unit
from bijmantra.domain.tenancy.exports import (
    MAX_PENDING,
    ExportJob,
    download_event,
    request_export,
)
from bijmantra.kernel import Conflict, NotFound, Principal, TenantId, new_id

EXPORT = Permission("tenancy", Action.ADMIN)  # organization admins only


class ExportStore(Protocol):
    """The organization's export jobs and their archives' pieces (one transaction)."""

    async def add(self, job: ExportJob) -> None: ...

    async def get(self, export_id: str) -> ExportJob | None: ...

    async def pending(self) -> int:
        """How many of the organization's exports are queued or running."""
        ...

    async def piece(self, export_id: str, seq: int) -> bytes | None:
        """The archive's ``seq``-th piece (0-based); None past the last."""
        ...


class ExportsUnitOfWork(Transaction, Protocol):
    @property
    def exports(self) -> ExportStore: ...


ExportsUnitOfWorkFactory = Callable[[TenantId], ExportsUnitOfWork]


class ExportView(msgspec.Struct, rename="camel", frozen=True):
    """What the API shows of an export job (``progress``: share of tables written, 0..1)."""

    id: str
    status: str
    progress: float
    tables_done: int
    tables_total: int
    requested_by: str
    requested_at: datetime
    finished_at: datetime | None
    expires_at: datetime | None
    archive_sha256: str | None
    archive_bytes: int | None
    error: str | None


def export_view(job: ExportJob) -> ExportView:
    return ExportView(
        id=job.id,
        status=str(job.status),
        progress=round(job.progress, 4),
        tables_done=job.tables_done,
        tables_total=job.tables_total,
        requested_by=job.requested_by,
        requested_at=job.requested_at,
        finished_at=job.finished_at,
        expires_at=job.expires_at,
        archive_sha256=job.archive_sha256,
        archive_bytes=job.archive_bytes,
        error=job.error,
    )


class RequestExport(ClockedUseCase[ExportsUnitOfWork]):
    async def __call__(self, principal: Principal) -> ExportJob:
        """Queue one export with its audited ``tenancy.export_requested``, one transaction."""
        async with organization_unit(self.uow, principal, EXPORT) as uow:
            if await uow.exports.pending() >= MAX_PENDING:
                raise Conflict("An export of this organization is already queued or running")
            job, event = request_export(
                new_id(), principal.tenant_id, principal.subject, self.clock.now()
            )
            await uow.exports.add(job)
            uow.record(event)
            await uow.commit()
        return job


async def _job_or_404(uow: ExportsUnitOfWork, export_id: str) -> ExportJob:
    return existing(await uow.exports.get(export_id), f"Export {export_id}")


@dataclass
class ShowExport:
    uow: ExportsUnitOfWorkFactory

    async def __call__(self, principal: Principal, export_id: str) -> ExportJob:
        async with organization_unit(self.uow, principal, EXPORT) as uow:
            return await _job_or_404(uow, export_id)


class DownloadExport(ClockedUseCase[ExportsUnitOfWork]):
    """The archive of a ready export, streamed one piece per short transaction (a slow
    client holds no connection), after recording who downloaded it."""

    async def open(self, principal: Principal, export_id: str) -> ExportJob:
        """Check and audit the download; ``NotFound`` unless ready and unexpired."""
        async with organization_unit(self.uow, principal, EXPORT) as uow:
            job = await _job_or_404(uow, export_id)
            now = self.clock.now()
            if not job.downloadable(now):
                raise NotFound(f"Export {export_id} has no archive to download ({job.status})")
            uow.record(download_event(job, principal.subject, now))
            await uow.commit()
        return job

    async def pieces(self, principal: Principal, job: ExportJob) -> AsyncIterator[bytes]:
        seq = 0
        while True:
            async with self.uow(principal.tenant_id) as uow:
                piece = await uow.exports.piece(job.id, seq)
            if piece is None:
                return
            yield piece
            seq += 1
