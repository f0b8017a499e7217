"""Daily quotas per organization (ADR 0340) against the real database: a write past the quota
is refused whole (429, nothing stored, no event) and only for its organization; writes on
other shards do not wait for each other, two racing on one shard cannot both pass; a
replayed batch costs nothing; an organization can neither charge another's row nor raise
its own limit; the day's turn renews the quota. Events, telemetry readings and genotype
calls."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
import pytest
from bijmantra.adapters.postgres import unit_of_work_factory
from bijmantra.adapters.postgres.engine import driver_connection
from bijmantra.adapters.postgres.uow import set_tenant
from bijmantra.adapters.postgres.usage import charge_usage
from bijmantra.application.sensors import IngestTelemetry
from bijmantra.domain import DomainEvent
from bijmantra.domain.genotyping import CallSet, VariantSet
from bijmantra.domain.tenancy.quotas import Charge, DailyQuotas, Resource
from bijmantra.genomics.formats import VcfParser
from bijmantra.kernel import FixedClock, RateLimited, TenantId
from bijmantra.testkit.provision import ProvisionedDatabase
from bijmantra.testkit.vcf import random_vcf
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from .test_sensors_store import NOW as SENSORS_NOW
from .test_sensors_store import Org, item

pytestmark = pytest.mark.integration
NOW = datetime(2026, 12, 7, 23, 59, 30, tzinfo=UTC)
PAYLOAD = {"note": "x" * 200}


async def _write(
    engine: AsyncEngine, tenant: TenantId, limit: int, clock: FixedClock | None = None
) -> str:
    """One committed event under a daily quota of ``limit`` event bytes; its id."""
    event = DomainEvent("test.quota", tenant, str(uuid.uuid4()), PAYLOAD, occurred_at=NOW)
    quotas = DailyQuotas({Resource.EVENT_BYTES: limit})
    factory = unit_of_work_factory(
        engine, source="t", quotas=quotas, clock=clock or FixedClock(NOW)
    )
    async with factory(tenant) as uow:
        uow.record(event)
        await uow.commit()
    return event.id


def _scalar(database: ProvisionedDatabase, query: str, *args: object) -> int:
    with psycopg.connect(database.owner_url) as conn:
        row = conn.execute(query, args).fetchone()
    assert row is not None
    return int(row[0] or 0)


def _outbox(database: ProvisionedDatabase, tenant: TenantId) -> int:
    return _scalar(database, "SELECT count(*) FROM domain.outbox WHERE tenant_id = %s", tenant)


def _used(database: ProvisionedDatabase, tenant: TenantId, resource: Resource) -> int:
    return _scalar(
        database,
        "SELECT sum(used) FROM domain.organization_usage WHERE tenant_id = %s AND resource = %s",
        tenant,
        resource.value,
    )


async def _one_event_costs(engine: AsyncEngine, database: ProvisionedDatabase) -> int:
    probe = TenantId(uuid.uuid4())
    await _write(engine, probe, 1 << 30)
    return _used(database, probe, Resource.EVENT_BYTES)


async def test_events_past_the_daily_quota_are_refused_for_that_organization_only(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    cost = await _one_event_costs(engine, database)
    limit = 3 * cost + cost // 2  # three events fit, a fourth does not
    flooder, other = TenantId(uuid.uuid4()), TenantId(uuid.uuid4())
    for _ in range(3):
        await _write(engine, flooder, limit)
    with pytest.raises(RateLimited, match="daily quota of bytes of events") as refused:
        await _write(engine, flooder, limit)
    details = {d.location: d.message for d in refused.value.details}
    assert details == {"retryAfter": "30", "quota": "event_bytes"}  # 30 s to 00:00 UTC
    assert _outbox(database, flooder) == 3  # the refused write stored no event
    assert _used(database, flooder, Resource.EVENT_BYTES) == 3 * cost
    for _ in range(3):  # another organization's day is its own
        await _write(engine, other, limit)
    tomorrow = FixedClock(NOW + timedelta(seconds=31))
    await _write(engine, flooder, limit, tomorrow)  # the quota renews with the UTC day
    assert _outbox(database, flooder) == 4


SHARDS = 32  # migration 0246
HANG_GUARD = 60.0  # seconds; only turns a wait that never ends into a failure


async def _charging(
    engine: AsyncEngine, tenant: TenantId, cost: int, limit: int
) -> AsyncConnection:
    """A connection whose transaction has charged ``cost`` and not committed yet."""
    conn = await _begun(engine)
    await set_tenant(conn, tenant)
    await charge_usage(conn, [Charge(Resource.EVENT_BYTES, cost, limit)], NOW)
    await conn.execute(text("SELECT 1"))  # the charge has run
    return conn


async def _begun(engine: AsyncEngine) -> AsyncConnection:
    conn = await engine.connect()
    await conn.begin()
    return conn


async def _shard(conn: AsyncConnection) -> int:
    """The shard the connection charges: its backend's pid (asked of the driver, so no
    statement starts a transaction)."""
    return (await driver_connection(conn)).info.backend_pid % SHARDS


async def test_writes_of_one_organization_on_other_shards_do_not_wait_for_each_other(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    """A charge holds only its connection's shard of the day: a write on another shard
    commits while it is open (the two may pass the limit together, by that one write), and
    the committed total refuses the next write."""
    cost = await _one_event_costs(engine, database)
    limit, tenant = cost + cost // 2, TenantId(uuid.uuid4())
    first = await _charging(engine, tenant, cost, limit)
    spare: list[AsyncConnection] = []
    while await _shard(second := await _begun(engine)) == await _shard(first):
        spare.append(second)
    await set_tenant(second, tenant)
    await charge_usage(second, [Charge(Resource.EVENT_BYTES, cost, limit)], NOW)
    await asyncio.wait_for(second.commit(), HANG_GUARD)  # not waiting for ``first``
    await first.commit()
    for conn in (first, second, *spare):
        await conn.close()
    assert _used(database, tenant, Resource.EVENT_BYTES) == 2 * cost
    with pytest.raises(RateLimited):
        await _write(engine, tenant, limit)
    assert _outbox(database, tenant) == 0


async def test_two_racing_writes_on_one_shard_cannot_both_pass_the_quota(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    """The first write's charge is not committed yet when the second arrives on a connection
    of the same shard (no row of the day exists, both insert): the second waits for the
    first and is then refused."""
    cost = await _one_event_costs(engine, database)
    limit, tenant = cost + cost // 2, TenantId(uuid.uuid4())
    # Backends' pids are consecutive: the 33rd connection shares a shard with an earlier one.
    wide = create_async_engine(engine.url, pool_size=SHARDS + 1, max_overflow=0)
    by_shard: dict[int, AsyncConnection] = {}
    while (shard := await _shard(second := await _begun(wide))) not in by_shard:
        by_shard[shard] = second
    first = by_shard.pop(shard)
    for conn in by_shard.values():
        await conn.close()
    await set_tenant(first, tenant)
    await charge_usage(first, [Charge(Resource.EVENT_BYTES, cost, limit)], NOW)
    await first.execute(text("SELECT 1"))  # the charge has run
    await set_tenant(second, tenant)
    racing = asyncio.create_task(
        charge_usage(second, [Charge(Resource.EVENT_BYTES, cost, limit)], NOW)
    )
    waiting = asyncio.create_task(second.execute(text("SELECT 1")))
    await asyncio.sleep(0.5)
    assert not waiting.done()  # waiting on the first's uncommitted row of the day
    await first.commit()
    await first.close()
    with pytest.raises(psycopg.Error, match="event_bytes") as refused:
        await asyncio.wait_for(asyncio.gather(racing, waiting), HANG_GUARD)
    assert refused.value.sqlstate == "BQ429"
    await second.rollback()
    await second.close()
    await wide.dispose()
    assert _used(database, tenant, Resource.EVENT_BYTES) == cost

    burst = TenantId(uuid.uuid4())  # a burst of ten at once: the three that fit, and what
    results = await asyncio.gather(  # other shards passed with them, never a later write
        *(_write(engine, burst, 3 * cost + cost // 2) for _ in range(10)), return_exceptions=True
    )
    passed = sum(isinstance(r, str) for r in results)
    assert passed >= 3
    assert all(isinstance(r, str | RateLimited) for r in results)
    assert _outbox(database, burst) == passed
    assert _used(database, burst, Resource.EVENT_BYTES) == passed * cost
    with pytest.raises(RateLimited):
        await _write(engine, burst, 3 * cost + cost // 2)


async def test_an_organization_cannot_charge_another_nor_raise_its_own_limit(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    tenant, other = TenantId(uuid.uuid4()), TenantId(uuid.uuid4())
    cost = await _one_event_costs(engine, database)
    await _write(engine, other, 10 * cost)
    async with engine.connect() as conn:
        await conn.begin()
        await set_tenant(conn, tenant)
        rows = await conn.execute(text("SELECT tenant_id FROM domain.organization_usage"))
        assert rows.all() == []  # another organization's usage is not visible
        with pytest.raises(Exception, match="row-level security"):
            await conn.execute(
                text(
                    "INSERT INTO domain.organization_usage (tenant_id, resource, period, used) "
                    "VALUES (:other, 'event_bytes', CAST(:day AS date), 0)"
                ),
                {"other": other, "day": NOW.date()},
            )
        await conn.rollback()
        await conn.begin()
        await set_tenant(conn, tenant)
        with pytest.raises(Exception, match="permission denied"):
            await conn.execute(
                text(
                    "INSERT INTO domain.organization_quotas (tenant_id, resource, daily_limit) "
                    "VALUES (CAST(:me AS uuid), 'event_bytes', 1000000000)"
                ),
                {"me": tenant},
            )
        await conn.rollback()


async def test_an_operator_set_limit_replaces_the_deployments_for_that_organization(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    cost = await _one_event_costs(engine, database)
    larger, tenant = TenantId(uuid.uuid4()), TenantId(uuid.uuid4())
    with psycopg.connect(database.owner_url) as conn:
        conn.execute(
            "INSERT INTO domain.organization_quotas (tenant_id, resource, daily_limit) "
            "VALUES (%s, 'event_bytes', %s)",
            (larger, 5 * cost),
        )
    for _ in range(5):
        await _write(engine, larger, cost)  # the deployment's one-event quota is not its own
    with pytest.raises(RateLimited):
        await _write(engine, larger, cost)
    await _write(engine, tenant, cost)
    with pytest.raises(RateLimited):
        await _write(engine, tenant, cost)


async def test_telemetry_past_the_daily_quota_stores_nothing_and_replays_cost_nothing(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    quotas = DailyQuotas({Resource.TELEMETRY_READINGS: 10})
    flooder, other = Org(engine), Org(engine)
    for org in (flooder, other):
        org.ingest = IngestTelemetry(
            unit_of_work_factory(
                engine, source="test", quotas=quotas, clock=FixedClock(SENSORS_NOW)
            ),
            FixedClock(SENSORS_NOW),
        )
    _, credential = await flooder.device()
    first = [item(s, 20.0) for s in range(1, 7)]
    assert (await flooder.send(credential, first))["stored"] == 6
    assert (await flooder.send(credential, first))["stored"] == 0  # a replay is not charged
    with pytest.raises(RateLimited, match="daily quota of telemetry readings"):
        await flooder.send(credential, [item(s, 21.0) for s in range(10, 16)])
    stored = _scalar(
        database, "SELECT count(*) FROM domain.sensor_readings WHERE tenant_id = %s", flooder.tenant
    )
    assert stored == 6  # the refused batch left no reading
    assert _used(database, flooder.tenant, Resource.TELEMETRY_READINGS) == 6
    assert (await flooder.send(credential, [item(s, 22.0) for s in range(20, 24)]))["stored"] == 4
    _, theirs = await other.device()
    assert (await other.send(theirs, [item(s, 20.0) for s in range(1, 11)]))["stored"] == 10
    outbox = _outbox(database, flooder.tenant)
    with pytest.raises(RateLimited):
        await flooder.send(credential, [item(30, 1.0)])
    assert _outbox(database, flooder.tenant) == outbox  # nor its event


def test_the_quota_table_has_row_level_security_forced(database: ProvisionedDatabase) -> None:
    for table in ("organization_usage", "organization_quotas"):
        forced = _scalar(
            database,
            "SELECT count(*) FROM pg_class WHERE oid = %s::regclass "
            "AND relrowsecurity AND relforcerowsecurity",
            f"domain.{table}",
        )
        assert forced == 1, table


async def _import(engine: AsyncEngine, tenant: TenantId, limit: int, samples: int = 4) -> None:
    """A variant set of 10 variants x ``samples`` imported in one unit of work."""
    written = random_vcf(np.random.default_rng(samples), 10, samples)
    parser = VcfParser(block_lines=4)
    blocks = parser.feed(written.text().encode()) + parser.finish()
    call_sets = [CallSet(f"cs-{uuid.uuid4()}", f"s{j}", "g", j) for j in range(samples)]
    variant_set = VariantSet(tenant, f"vs-{uuid.uuid4()}", "calls", "vcf", call_sets)
    quotas = DailyQuotas({Resource.GENOTYPE_CALLS: limit})
    factory = unit_of_work_factory(engine, source="t", quotas=quotas, clock=FixedClock(NOW))
    async with factory(tenant) as uow:
        writer = await uow.genotypes.create(variant_set)
        for block in blocks:
            await writer.append(block)
        await writer.close()
        await uow.commit()


async def test_an_import_past_the_days_genotype_calls_stores_no_chunk(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    tenant, other = TenantId(uuid.uuid4()), TenantId(uuid.uuid4())
    await _import(engine, tenant, 60)  # 40 calls
    with pytest.raises(RateLimited, match="daily quota of genotype calls"):
        await _import(engine, tenant, 60)
    sets = "SELECT count(*) FROM domain.variant_sets WHERE tenant_id = %s"
    chunks = "SELECT count(*) FROM domain.genotype_chunks WHERE tenant_id = %s"
    assert _scalar(database, sets, tenant) == 1
    assert _scalar(database, chunks, tenant) > 0
    assert _used(database, tenant, Resource.GENOTYPE_CALLS) == 40
    await _import(engine, tenant, 60, samples=2)  # 20 more fit exactly
    await _import(engine, other, 60)
    with pytest.raises(RateLimited):  # one import larger than a whole day
        await _import(engine, TenantId(uuid.uuid4()), 30)


async def test_the_first_charge_of_a_day_prunes_the_organizations_rows_past_two_months(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    tenant, other = TenantId(uuid.uuid4()), TenantId(uuid.uuid4())
    with psycopg.connect(database.owner_url) as conn:
        for who, days in ((tenant, 63), (tenant, 62), (tenant, 1), (other, 90)):
            conn.execute(
                "INSERT INTO domain.organization_usage (tenant_id, resource, period, used) "
                "VALUES (%s, 'event_bytes', %s, 5)",
                (who, NOW.date() - timedelta(days=days)),
            )
    await _write(engine, tenant, 1 << 30)
    await _write(engine, tenant, 1 << 30)  # the day's row exists: an update, nothing pruned
    periods = "SELECT count(*) FROM domain.organization_usage WHERE tenant_id = %s"
    assert _scalar(database, periods, tenant) == 3  # 62 and 1 days ago, and today
    assert _scalar(database, periods, other) == 1  # another organization's rows are its own
