"""Placement (ADR 0102): two organizations placed differently, against real PostgreSQL.

Organization S lives in the shared database, D in a dedicated database on the same cluster
(provisioned here: created, migrated, registered). Every write made through the routed unit
of work and the routed transactions lands in the organization's own database and nowhere
else (checked over every tenant table of the catalog), reads find it there, and in both
databases a query without a tenant filter sees only the transaction's tenant (RLS forced).
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from bijmantra.adapters.postgres import create_engine, unit_of_work_factory
from bijmantra.adapters.postgres.audit import PostgresAuditStore
from bijmantra.adapters.postgres.placement import (
    OrganizationMoving,
    PlacementEngines,
    PostgresPlacementDirectory,
    placement_url,
)
from bijmantra.adapters.postgres.placement_admin import (
    current_placement,
    database_owner_url,
    migrate_every_placement,
    place_organization,
    provision_database,
)
from bijmantra.adapters.postgres.placement_move import MoveError, move_organization
from bijmantra.adapters.postgres.tenant_archive import qualified, tenant_tables
from bijmantra.application.brapi.commands import ResourceCommands
from bijmantra.application.brapi.modules import catalog
from bijmantra.application.events import EventEnvelope, encode_envelope
from bijmantra.domain.tenancy.placement import PlacementDatabase
from bijmantra.kernel import Principal, TenantId, uuid7
from bijmantra.testkit.provision import ProvisionedDatabase
from sqlalchemy import text

pytestmark = pytest.mark.integration

DEDICATED = PlacementDatabase("bijmantra_test_placement")
SHARED_ORG = TenantId(uuid.UUID("0193a000-0000-7000-8000-00000000a001"))
DEDICATED_ORG = TenantId(uuid.UUID("0193a000-0000-7000-8000-00000000a002"))
NEIGHBOUR_ORG = TenantId(uuid.UUID("0193a000-0000-7000-8000-00000000a003"))  # also dedicated


@pytest.fixture(scope="module")
def dedicated(database: ProvisionedDatabase) -> Iterator[PlacementDatabase]:
    provision_database(database.owner_url, DEDICATED)
    with psycopg.connect(database.owner_url) as conn:
        place_organization(conn, DEDICATED_ORG, DEDICATED)
        place_organization(conn, NEIGHBOUR_ORG, DEDICATED)
    yield DEDICATED
    with psycopg.connect(database.owner_url) as conn:
        place_organization(conn, DEDICATED_ORG, None)
        place_organization(conn, NEIGHBOUR_ORG, None)


@pytest.fixture
async def placements(
    database: ProvisionedDatabase, dedicated: PlacementDatabase
) -> AsyncIterator[PlacementEngines]:
    shared = create_engine(database.domain_url, pool_size=2)
    routed = PlacementEngines(
        shared,
        PostgresPlacementDirectory(shared, ttl=0),
        service_url=database.domain_url,
        max_engines=1,
    )
    yield routed
    await routed.dispose()
    await shared.dispose()


def _principal(tenant: TenantId) -> Principal:
    return Principal(subject="placement-test", tenant_id=tenant, roles=frozenset({"data-manager"}))


def _rows_of(owner_url: str, tenant: uuid.UUID) -> dict[str, int]:
    """Rows of ``tenant`` in every tenant table of one database (as the owner, RLS off)."""
    with psycopg.connect(owner_url) as conn:
        conn.execute("SET row_security = off")
        counts = {}
        for table in tenant_tables(conn):
            key = "id" if table == ("identity", "organizations") else "tenant_id"
            found = conn.execute(
                psycopg.sql.SQL("SELECT count(*) FROM {} WHERE {} = %s").format(
                    psycopg.sql.Identifier(*table), psycopg.sql.Identifier(key)
                ),
                (tenant,),
            ).fetchone()
            assert found is not None
            if found[0]:
                counts[qualified(table)] = int(found[0])
        return counts


async def _create_germplasm(placements: PlacementEngines, tenant: TenantId, crop: str) -> None:
    """A BrAPI create: one transaction (resources, versions, outbox), routed."""
    uow = unit_of_work_factory(placements, source="placement-test")
    await ResourceCommands(catalog(), uow).create(
        _principal(tenant),
        "germplasm",
        [{"germplasmName": crop, "germplasmPUI": f"p:{uuid7()}", "commonCropName": crop}],
    )


async def _write_everywhere(placements: PlacementEngines, tenant: TenantId, crop: str) -> None:
    """A BrAPI create and an audit entry, routed."""
    await _create_germplasm(placements, tenant, crop)
    event = EventEnvelope(
        id=str(uuid7()),
        type="germplasm.created",
        source="domain-api",
        tenant_id=str(tenant),
        subject=str(uuid7()),
        time=datetime.now(UTC),
        schema_version=2,
        data={"commonCropName": crop},
    )
    assert await PostgresAuditStore(placements).append(
        "placement-test", event, encode_envelope(event)
    )


async def test_each_organizations_writes_land_in_its_own_database(
    database: ProvisionedDatabase, placements: PlacementEngines
) -> None:
    await _write_everywhere(placements, SHARED_ORG, "Rice")
    await _write_everywhere(placements, DEDICATED_ORG, "Maize")
    dedicated_owner = database_owner_url(database.owner_url, DEDICATED)
    in_shared = _rows_of(database.owner_url, DEDICATED_ORG)
    in_dedicated = _rows_of(dedicated_owner, SHARED_ORG)
    assert in_shared == {}, in_shared
    assert in_dedicated == {}, in_dedicated
    mine_shared = _rows_of(database.owner_url, SHARED_ORG)
    mine_dedicated = _rows_of(dedicated_owner, DEDICATED_ORG)
    for counts in (mine_shared, mine_dedicated):
        assert counts["domain.resources"] >= 1
        assert counts["domain.outbox"] >= 1


async def test_a_query_without_tenant_filter_sees_only_its_tenant_in_both(
    database: ProvisionedDatabase, placements: PlacementEngines
) -> None:
    await _write_everywhere(placements, NEIGHBOUR_ORG, "Cassava")
    await _write_everywhere(placements, DEDICATED_ORG, "Sorghum")
    await _write_everywhere(placements, SHARED_ORG, "Millet")
    for tenant in (SHARED_ORG, DEDICATED_ORG, NEIGHBOUR_ORG):
        async with placements.transaction(tenant) as conn:
            owners = set(
                (await conn.execute(text("SELECT tenant_id FROM domain.resources"))).scalars()
            )
        assert owners == {tenant}
    # Written as another organization inside the dedicated database: refused by the policy.
    async with placements.transaction(DEDICATED_ORG) as conn:
        with pytest.raises(Exception, match="row-level security"):
            await conn.execute(
                text(
                    "INSERT INTO domain.resources (tenant_id, entity, db_id, document) "
                    "VALUES (:t, 'germplasm', 'x', '{}')"
                ),
                {"t": NEIGHBOUR_ORG},
            )


def test_the_dedicated_database_forces_rls_like_the_shared_one(
    database: ProvisionedDatabase, dedicated: PlacementDatabase
) -> None:
    def unforced(url: str) -> set[str]:
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "SELECT n.nspname || '.' || c.relname FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' "
                "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog') "
                "AND NOT (c.relrowsecurity AND c.relforcerowsecurity)"
            ).fetchall()
            return {r[0] for r in rows}

    dedicated_owner = database_owner_url(database.owner_url, dedicated)
    assert unforced(dedicated_owner) == unforced(database.owner_url) == set()
    with psycopg.connect(dedicated_owner) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname IN ('domain', 'analytics')"
        ).fetchone()
    assert tables is not None
    assert tables[0] > 20


def test_migrate_visits_every_registered_placement(
    database: ProvisionedDatabase, dedicated: PlacementDatabase
) -> None:
    migrated = migrate_every_placement(database.owner_url)
    with psycopg.connect(database.owner_url) as conn:
        registered = [
            r[0] for r in conn.execute("SELECT name FROM placement.databases ORDER BY name")
        ]
    assert dedicated.name in registered
    assert migrated == ["(shared)", *registered]


def test_directory_urls_carry_no_credentials_of_their_own(database: ProvisionedDatabase) -> None:
    other = PlacementDatabase.parse("bijmantra_far", "db.example.org:6543")
    url = placement_url(database.domain_url, other)
    assert "db.example.org:6543/bijmantra_far" in url
    with pytest.raises(Exception, match="host:port"):
        PlacementDatabase.parse("bijmantra_far", "user:secret@db.example.org:6543")


async def test_a_fence_pauses_writes_of_one_organization_only(
    database: ProvisionedDatabase, placements: PlacementEngines
) -> None:
    # Its own row to read while fenced: the test does not lean on an earlier test's writes.
    await _create_germplasm(placements, DEDICATED_ORG, "Rye")
    dedicated_owner = database_owner_url(database.owner_url, DEDICATED)
    mover = await psycopg.AsyncConnection.connect(dedicated_owner, autocommit=True)
    try:
        await mover.execute("SELECT pg_advisory_lock(placement.fence_key(%s))", (DEDICATED_ORG,))
        with pytest.raises(OrganizationMoving):
            await _write_everywhere(placements, DEDICATED_ORG, "Barley")
        await _write_everywhere(placements, NEIGHBOUR_ORG, "Oats")  # same database, not fenced
        async with placements.transaction(DEDICATED_ORG) as conn:  # reads still served
            crops = await conn.execute(
                text("SELECT document->>'commonCropName' FROM domain.resources")
            )
            assert "Rye" in set(crops.scalars())
    finally:
        await mover.close()  # the mover's session ends: its fence is lifted with it
    await _write_everywhere(placements, DEDICATED_ORG, "Barley")


async def test_a_departed_database_sends_the_transaction_to_the_directory(
    database: ProvisionedDatabase, placements: PlacementEngines
) -> None:
    """A cached placement that the organization has left is corrected on first contact."""
    dedicated_owner = database_owner_url(database.owner_url, DEDICATED)
    stale = PlacementEngines(
        placements.shared,
        PostgresPlacementDirectory(placements.shared, ttl=3600),
        service_url=database.domain_url,
    )
    try:
        assert await stale.database_of(NEIGHBOUR_ORG) == DEDICATED
        with psycopg.connect(database.owner_url) as conn:
            place_organization(conn, NEIGHBOUR_ORG, None)
        with psycopg.connect(dedicated_owner) as conn:
            conn.execute("INSERT INTO placement.departures VALUES (%s)", (NEIGHBOUR_ORG,))
        async with stale.transaction(NEIGHBOUR_ORG) as conn:
            name = (await conn.execute(text("SELECT current_database()"))).scalar()
        assert name != DEDICATED.name
    finally:
        with psycopg.connect(dedicated_owner) as conn:
            conn.execute(
                "DELETE FROM placement.departures WHERE organization_id = %s", (NEIGHBOUR_ORG,)
            )
        with psycopg.connect(database.owner_url) as conn:
            place_organization(conn, NEIGHBOUR_ORG, DEDICATED)
        await stale.dispose()


async def test_engines_are_bounded(
    database: ProvisionedDatabase, placements: PlacementEngines
) -> None:
    first = placements.engine_of(DEDICATED)
    other = placements.engine_of(PlacementDatabase("bijmantra_never_connected"))
    assert placements.engine_of(DEDICATED) is not first  # max_engines=1: the first was evicted
    assert other is not first
    await asyncio.sleep(0)


# --- Moving an organization between placements (ADR 0103) ---------------------------------

MOVING_ORG = TenantId(uuid.UUID("0193a000-0000-7000-8000-00000000a004"))
BUSY_ORG = TenantId(uuid.UUID("0193a000-0000-7000-8000-00000000a005"))  # stays shared
KILLED_ORG = TenantId(uuid.UUID("0193a000-0000-7000-8000-00000000a006"))


async def _write_until(
    placements: PlacementEngines, tenant: TenantId, done: asyncio.Event
) -> tuple[int, int]:
    """Write one germplasm after another until ``done``; (acknowledged, refused as moving)."""
    acked = refused = 0
    while not done.is_set():
        try:
            await _create_germplasm(placements, tenant, f"Crop{acked}")
            acked += 1
        except OrganizationMoving:
            refused += 1
            await asyncio.sleep(0.01)
    return acked, refused


def _germplasm(owner_url: str, tenant: uuid.UUID) -> int:
    return _rows_of(owner_url, tenant).get("domain.resources", 0)


async def test_a_move_under_concurrent_writes_loses_nothing_of_either_organization(
    database: ProvisionedDatabase, placements: PlacementEngines
) -> None:
    dedicated_owner = database_owner_url(database.owner_url, DEDICATED)
    for crop in ("Rye", "Teff", "Fonio"):
        await _write_everywhere(placements, MOVING_ORG, crop)
    busy_before = _germplasm(database.owner_url, BUSY_ORG)
    moving_before = _rows_of(database.owner_url, MOVING_ORG)
    done = asyncio.Event()
    busy = asyncio.create_task(_write_until(placements, BUSY_ORG, done))
    moving = asyncio.create_task(_write_until(placements, MOVING_ORG, done))
    await asyncio.sleep(0.3)
    report = await asyncio.to_thread(move_organization, database.owner_url, MOVING_ORG, DEDICATED)
    await asyncio.sleep(0.3)  # writes go on, now to the dedicated database
    done.set()
    (busy_acked, busy_refused), (moving_acked, _) = await asyncio.gather(busy, moving)
    assert busy_refused == 0  # the other organization never noticed the move
    assert busy_acked > 0
    assert _germplasm(database.owner_url, BUSY_ORG) == busy_before + busy_acked
    assert _rows_of(database.owner_url, MOVING_ORG) == {}  # old rows removed
    moved = _rows_of(dedicated_owner, MOVING_ORG)
    assert moved["domain.resources"] == moving_before["domain.resources"] + moving_acked
    assert report.rows["domain.resources"] >= moving_before["domain.resources"]
    assert set(report.rows) >= {"domain.resources", "domain.outbox", "domain.audit_log"}
    async with placements.transaction(MOVING_ORG) as conn:
        assert (await conn.execute(text("SELECT current_database()"))).scalar() == DEDICATED.name


async def test_a_round_trip_brings_back_the_same_rows(
    database: ProvisionedDatabase, placements: PlacementEngines
) -> None:
    tenant = TenantId(uuid.UUID("0193a000-0000-7000-8000-00000000a007"))
    await _write_everywhere(placements, tenant, "Quinoa")
    there = await asyncio.to_thread(move_organization, database.owner_url, tenant, DEDICATED)
    back = await asyncio.to_thread(move_organization, database.owner_url, tenant, None)
    assert back.target == "(shared)"
    assert back.rows == there.rows
    assert back.sha256 == there.sha256  # identical rows, checksummed on both trips
    await _write_everywhere(placements, tenant, "Amaranth")  # writable where it came home


async def _until_session_gone(owner_url: str, tenant: uuid.UUID) -> None:
    """PostgreSQL ends a killed client's backend when it reads the closed socket: soon, not
    at once. Until then that backend still holds the fence."""
    held = (
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 "
        "AND ((classid::bigint << 32) | objid::bigint) = placement.fence_key(%s)"
    )
    for _ in range(600):
        with psycopg.connect(owner_url) as conn:
            found = conn.execute(held, (tenant,)).fetchone()
        if found is not None and found[0] == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the killed mover's session never ended")


_KILLED_MOVE = """
import os, sys, uuid
from bijmantra.adapters.postgres.placement_move import move_organization
from bijmantra.domain.tenancy.placement import PlacementDatabase

def stop_here():
    print("switching", flush=True)
    sys.stdin.readline()  # killed while waiting here

move_organization(sys.argv[1], uuid.UUID(sys.argv[2]), PlacementDatabase(sys.argv[3]),
                  before_switch=stop_here)
"""


async def test_a_move_killed_before_its_switch_leaves_the_old_placement_in_charge(
    database: ProvisionedDatabase, placements: PlacementEngines
) -> None:
    await _write_everywhere(placements, KILLED_ORG, "Yam")
    before = _rows_of(database.owner_url, KILLED_ORG)
    mover = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _KILLED_MOVE,
        database.owner_url,
        str(KILLED_ORG),
        DEDICATED.name,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert mover.stdout is not None
    line = await asyncio.wait_for(mover.stdout.readline(), 120)
    assert line.strip() == b"switching"
    with pytest.raises(OrganizationMoving):  # fenced while the mover lives
        await _write_everywhere(placements, KILLED_ORG, "Taro")
    mover.kill()
    await mover.wait()
    await _until_session_gone(database.owner_url, KILLED_ORG)
    # The mover's session is gone with it: the fence too. Same database, same rows, writable.
    await _write_everywhere(placements, KILLED_ORG, "Taro")
    async with placements.transaction(KILLED_ORG) as conn:
        assert (await conn.execute(text("SELECT current_database()"))).scalar() != DEDICATED.name
        count = (await conn.execute(text("SELECT count(*) FROM domain.resources"))).scalar()
    assert count == before["domain.resources"] + 1
    # A second attempt cleans up what the first left in the new database and completes.
    report = await asyncio.to_thread(move_organization, database.owner_url, KILLED_ORG, DEDICATED)
    assert report.rows["domain.resources"] == count
    dedicated_owner = database_owner_url(database.owner_url, DEDICATED)
    assert _rows_of(dedicated_owner, KILLED_ORG)["domain.resources"] == count


LOST_ORG = TenantId(uuid.UUID("0193a000-0000-7000-8000-00000000a007"))
_FENCE_HOLDER = (
    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
    "AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = placement.fence_key(%s)"
)


async def test_a_mover_that_loses_only_its_fence_session_does_not_switch(
    database: ProvisionedDatabase, placements: PlacementEngines
) -> None:
    """ADR 0103's race: the mover lives but its fence session ends just before the switch.
    Writes could resume on the old database then, so the mover must not switch."""
    owner = database.owner_url
    await _write_everywhere(placements, LOST_ORG, "Millet")
    before = _germplasm(owner, LOST_ORG)

    def lose_the_fence() -> None:
        with psycopg.connect(owner, autocommit=True) as conn:
            ended = conn.execute(_FENCE_HOLDER, (LOST_ORG,)).fetchall()
        assert ended == [(True,)]

    with pytest.raises(MoveError, match="fence"):
        await asyncio.to_thread(
            move_organization, owner, LOST_ORG, DEDICATED, before_switch=lose_the_fence
        )
    assert current_placement(owner, LOST_ORG) is None  # the old placement stays in charge
    await _write_everywhere(placements, LOST_ORG, "Sorghum")  # and takes writes
    assert _germplasm(owner, LOST_ORG) == before + 1
