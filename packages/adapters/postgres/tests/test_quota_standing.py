"""The early refusal's read (ADR 0340) against the real database: an organization's committed
usage of today over every shard, its own limit in place of the deployment's, nobody else's
rows; and an import of an organization whose day of calls is used up refused before its file
is read, under row-level security as the service role."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from bijmantra.adapters.postgres import unit_of_work_factory
from bijmantra.application.genotyping import ImportGenotypes, ImportSpec
from bijmantra.domain.tenancy.quotas import DailyQuotas, DayStanding, Resource, period_of
from bijmantra.kernel import FixedClock, Principal, RateLimited, TenantId
from bijmantra.testkit.provision import ProvisionedDatabase
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration
NOW = datetime(2026, 12, 7, 18, tzinfo=UTC)
TODAY = period_of(NOW)
QUOTAS = DailyQuotas({Resource.GENOTYPE_CALLS: 1_000, Resource.UPLOAD_BYTES: 500})


def _charged(
    database: ProvisionedDatabase, tenant: TenantId, *rows: tuple[str, object, int, int]
) -> None:
    """Usage rows (resource, day, shard, used) of ``tenant``, as the owner."""
    with psycopg.connect(database.owner_url) as conn:
        for resource, day, shard, used in rows:
            conn.execute(
                "INSERT INTO domain.organization_usage (tenant_id, resource, period, shard, used) "
                "VALUES (%s, %s, %s, %s, %s)",
                (tenant, resource, day, shard, used),
            )


async def _standing(
    engine: AsyncEngine, tenant: TenantId, resource: Resource
) -> DayStanding | None:
    async with unit_of_work_factory(engine, source="t", quotas=QUOTAS)(tenant) as uow:
        return await uow.usage.standing(resource, TODAY)


async def test_the_standing_is_todays_usage_over_every_shard_and_the_limit_that_applies(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    tenant, other, fresh = (TenantId(uuid.uuid4()) for _ in range(3))
    yesterday = TODAY - timedelta(days=1)
    _charged(
        database,
        tenant,
        ("genotype_calls", TODAY, 0, 300),
        ("genotype_calls", TODAY, 17, 400),
        ("genotype_calls", yesterday, 3, 900),  # another day
        ("upload_bytes", TODAY, 5, 50),  # another resource
    )
    _charged(database, other, ("genotype_calls", TODAY, 0, 999))
    calls = Resource.GENOTYPE_CALLS
    assert await _standing(engine, tenant, calls) == DayStanding(calls, 700, 1_000)
    assert await _standing(engine, other, calls) == DayStanding(calls, 999, 1_000)
    assert await _standing(engine, fresh, calls) == DayStanding(calls, 0, 1_000)
    with psycopg.connect(database.owner_url) as conn:  # an operator's limit for it
        conn.execute(
            "INSERT INTO domain.organization_quotas (tenant_id, resource, daily_limit) "
            "VALUES (%s, 'genotype_calls', 600)",
            (tenant,),
        )
    assert await _standing(engine, tenant, calls) == DayStanding(calls, 700, 600)
    assert await _standing(engine, other, calls) == DayStanding(calls, 999, 1_000)
    assert await _standing(engine, tenant, Resource.EVENT_BYTES) is None  # not bounded


class UnreadUpload:
    """A genotype file that must not be read."""

    skipped: dict[str, int] = {}
    contig_lengths: dict[str, int | None] = {}

    async def sample_names(self) -> list[str]:
        raise AssertionError("the file was read before the quota was checked")

    async def blocks(self) -> AsyncIterator[object]:
        raise AssertionError("the file was read before the quota was checked")
        yield  # pragma: no cover


async def test_an_import_of_an_organization_without_calls_left_is_refused_unread(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    tenant = TenantId(uuid.uuid4())
    _charged(database, tenant, ("genotype_calls", TODAY, 9, 1_000))
    factory = unit_of_work_factory(engine, source="t", quotas=QUOTAS, clock=FixedClock(NOW))
    importer = ImportGenotypes(factory, clock=FixedClock(NOW))
    member = Principal("m", tenant, frozenset({"data-manager"}))
    with pytest.raises(RateLimited, match="daily quota of genotype calls") as refused:
        await importer(member, ImportSpec("s", "vcf", "Cassava"), UnreadUpload())  # type: ignore[arg-type]
    assert {d.location: d.message for d in refused.value.details} == {
        "retryAfter": "21600",
        "quota": "genotype_calls",
    }
