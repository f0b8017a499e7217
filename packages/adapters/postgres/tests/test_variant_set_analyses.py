"""A variant set's analyses against the real database (ADR 0374): every job of the set, however
many the organization ran since, newest first, a page at a time; another organization's set
has none for it, and a page size past the bound is refused."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from bijmantra.adapters.postgres import unit_of_work_factory
from bijmantra.application.analysis import ListAnalyses, ListVariantSetAnalyses
from bijmantra.domain.analysis import JobStatus
from bijmantra.kernel import PageRequest, Principal, TenantId, ValidationFailed
from bijmantra.testkit.provision import ProvisionedDatabase
from sqlalchemy.ext.asyncio import AsyncEngine

from .test_deleting_genotypes import AT, _job, _set_id
from .test_storage_caps import _import

pytestmark = pytest.mark.integration
LATER_JOBS = 105  # more than the organization's latest 100 that the console once searched


async def _jobs(engine: AsyncEngine, tenant: TenantId, set_id: str, first: int, n: int) -> None:
    """``n`` completed jobs of the set, the ``first``-th created ``first`` minutes after AT."""
    factory = unit_of_work_factory(engine, source="t")
    async with factory(tenant) as uow:
        for minute in range(first, first + n):
            job = _job(tenant, set_id)
            job.created_at = AT + timedelta(minutes=minute)
            job.status = JobStatus.COMPLETED
            uow.analyses.add(job)
        await uow.commit()


async def test_a_sets_old_analyses_are_listed_newest_first_a_page_at_a_time(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    tenant, other = TenantId(uuid.uuid4()), TenantId(uuid.uuid4())
    await _import(engine, tenant, 10**6)
    old_set = _set_id(database, tenant)
    await _import(engine, tenant, 10**6)
    busy_set = _set_id(database, tenant)
    await _import(engine, other, 10**6)
    others_set = _set_id(database, other)
    await _jobs(engine, tenant, old_set, 0, 3)
    await _jobs(engine, tenant, busy_set, 10, LATER_JOBS)
    await _jobs(engine, other, others_set, 0, 2)
    factory = unit_of_work_factory(engine, source="t")
    member = Principal("m", tenant, frozenset({"viewer"}))
    of_set = ListVariantSetAnalyses(factory)

    latest = await ListAnalyses(factory)(member, limit=100, active_only=False)
    assert not any(d["variantSetDbId"] == old_set for d in latest)  # what the page missed
    first = await of_set(member, old_set, PageRequest(0, 2))
    second = await of_set(member, old_set, PageRequest(1, 2))
    assert (first.total_count, second.total_count) == (3, 3)
    listed = [*first.items, *second.items]
    assert [d["variantSetDbId"] for d in listed] == [old_set] * 3
    created = [d["created"] for d in listed]
    assert created == sorted(created, reverse=True)
    assert len(set(created)) == 3
    assert (await of_set(member, busy_set, PageRequest(1, 100))).total_count == LATER_JOBS

    # Another organization's set, asked for by its id, has nothing for this member.
    foreign = await of_set(member, others_set, PageRequest(0, 10))
    assert (foreign.items, foreign.total_count) == ([], 0)
    with pytest.raises(ValidationFailed, match="page size"):
        await of_set(member, old_set, PageRequest(0, 101))
