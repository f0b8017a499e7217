"""Fair order between organizations (ADR 0329): fewest taken first, then the oldest wait."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from bijmantra.domain.analysis.scheduling import WaitingJob, fair_order
from bijmantra.kernel import TenantId

A, B, C = (TenantId(uuid.UUID(int=n)) for n in (1, 2, 3))
T0 = datetime(2026, 12, 1, tzinfo=UTC)


def waiting(tenant: TenantId, job: str, seconds: int) -> WaitingJob:
    return WaitingJob(tenant, job, T0 + timedelta(seconds=seconds))


def test_a_late_organization_with_nothing_running_goes_before_a_long_queue() -> None:
    queue = [waiting(A, f"a{n}", n) for n in range(20)] + [waiting(B, "b0", 60)]
    assert fair_order(queue, {A: 1})[0].analysis_db_id == "b0"
    assert fair_order(queue, {})[0].analysis_db_id == "a0"  # equal: the oldest wait wins


def test_between_organizations_with_as_many_taken_the_oldest_wait_wins() -> None:
    queue = [waiting(C, "c0", 5), waiting(B, "b1", 9), waiting(B, "b0", 3), waiting(A, "a0", 1)]
    order = [job.analysis_db_id for job in fair_order(queue, {A: 2, B: 1, C: 1})]
    assert order == ["b0", "b1", "c0", "a0"]


def test_among_organizations_with_as_many_taken_the_one_served_longest_ago_goes_first() -> None:
    """One worker finishing each job first sees nothing taken; without this, arrival order."""
    queue = [waiting(A, "a1", 1), waiting(A, "a2", 2), waiting(B, "b0", 60)]
    assert fair_order(queue, {}, served=[A])[0].analysis_db_id == "b0"
    assert fair_order(queue, {}, served=[A, B])[0].analysis_db_id == "a1"
