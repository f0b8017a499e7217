"""Which queued analysis a free worker takes next: fair between organizations (ADR 0329).

Workers are shared by every organization. Taking jobs in arrival order lets one organization
that queued fifty long jobs keep every other one waiting behind all of them, so a worker takes
the oldest waiting job of the organization with the fewest jobs taken (reserved or running);
between organizations with as many taken, the one served longest ago (never served first),
then the one whose oldest waiting job is oldest. Without the middle rule a single worker,
which finishes each job before taking the next, would see nothing taken anywhere and fall
back to arrival order. The database adapter states the same rule in SQL; the in-memory fake
applies this function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bijmantra.kernel import TenantId


@dataclass(frozen=True, slots=True)
class WaitingJob:
    """A queued job no worker has reserved yet."""

    tenant_id: TenantId
    analysis_db_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Reservation:
    """The job a delivery reserved: the worker claims it with a token for its organization."""

    tenant_id: TenantId
    analysis_db_id: str


def fair_order(
    waiting: Sequence[WaitingJob],
    taken: Mapping[TenantId, int],
    served: Sequence[TenantId] = (),
) -> list[WaitingJob]:
    """The waiting jobs in the order workers should take them, one at a time. ``served``:
    organizations in the order of their last reservation, longest ago first.

    Only the head of the list is meaningful once it is taken (the counts change); callers
    take the first job they can lock, so a job another worker holds is passed over."""
    last_served = {tenant: rank for rank, tenant in enumerate(served)}
    oldest: dict[TenantId, datetime] = {}
    for job in waiting:
        if job.tenant_id not in oldest or job.created_at < oldest[job.tenant_id]:
            oldest[job.tenant_id] = job.created_at
    return sorted(
        waiting,
        key=lambda job: (
            taken.get(job.tenant_id, 0),
            last_served.get(job.tenant_id, -1),
            oldest[job.tenant_id],
            str(job.tenant_id),
            job.created_at,
            job.analysis_db_id,
        ),
    )
