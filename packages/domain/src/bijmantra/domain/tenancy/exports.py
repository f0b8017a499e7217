"""An organization's export of all its data, requested through the API (ADR 0285).

A job is queued by an admin, run by domain-api's export runner with the operator CLI's code
(ADR 0101), and its archive can be downloaded until it expires. These rules say what a job
shows, when its archive may be served and when a runner that stopped reporting is presumed
dead, so that another can take the job over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bijmantra.domain.events import DomainEvent
from bijmantra.kernel import TenantId

# How long a ready archive stays downloadable before it is deleted.
ARCHIVE_LIFETIME = timedelta(hours=24)
# A running job whose runner has not reported for this long is taken over by another.
RUNNER_SILENCE = timedelta(minutes=2)
# Claims of one job: a job whose runner fell silent in each of them (an archive past the
# runner's scratch limit gets its pod evicted) fails at the next claim, naming why, so it
# is not taken again without end, ahead of every later organization's job (ADR 0342).
MAX_EXPORT_ATTEMPTS = 3
# At most this many exports of one organization may wait or run at once.
MAX_PENDING = 1


class ExportStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    READY = "ready"
    FAILED = "failed"
    EXPIRED = "expired"


PENDING = frozenset({ExportStatus.QUEUED, ExportStatus.RUNNING})


@dataclass(frozen=True, slots=True)
class ExportJob:
    id: str
    tenant_id: TenantId
    requested_by: str
    status: ExportStatus
    requested_at: datetime
    tables_done: int = 0
    tables_total: int = 0
    error: str | None = None
    archive_sha256: str | None = None
    archive_bytes: int | None = None
    finished_at: datetime | None = None
    expires_at: datetime | None = None

    @property
    def progress(self) -> float:
        """The share of tables written, 0..1 (1 once ready)."""
        if self.status is ExportStatus.READY:
            return 1.0
        return self.tables_done / self.tables_total if self.tables_total else 0.0

    def downloadable(self, now: datetime) -> bool:
        """Ready and not yet past its expiry."""
        return (
            self.status is ExportStatus.READY
            and self.expires_at is not None
            and now < self.expires_at
        )

    @property
    def filename(self) -> str:
        return f"organization-{self.tenant_id}-export-{self.id}.tar"


def request_export(
    job_id: str, tenant_id: TenantId, requested_by: str, now: datetime
) -> tuple[ExportJob, DomainEvent]:
    """A queued job and the ``tenancy.export_requested`` event the audit trail records."""
    job = ExportJob(job_id, tenant_id, requested_by, ExportStatus.QUEUED, now)
    event = DomainEvent(
        type="tenancy.export_requested",
        tenant_id=tenant_id,
        aggregate_id=job_id,
        data={"exportId": job_id, "requestedBy": requested_by},
        actor=requested_by,
        occurred_at=now,
    )
    return job, event


def download_event(job: ExportJob, downloaded_by: str, now: datetime) -> DomainEvent:
    """``tenancy.export_downloaded``: who took the archive away, and which one."""
    return DomainEvent(
        type="tenancy.export_downloaded",
        tenant_id=job.tenant_id,
        aggregate_id=job.id,
        data={"exportId": job.id, "archiveSha256": job.archive_sha256},
        actor=downloaded_by,
        occurred_at=now,
    )


def expired(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and expires_at <= now


def archive_expiry(finished_at: datetime) -> datetime:
    return finished_at + ARCHIVE_LIFETIME
