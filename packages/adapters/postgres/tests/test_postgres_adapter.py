"""The PostgreSQL adapter against a real server: RLS, the outbox, the read model."""

from __future__ import annotations

import asyncio
import uuid

import msgspec
import psycopg
import pytest
from bijmantra.adapters.postgres import (
    PostgresOutboxStore,
    set_tenant,
    unit_of_work_factory,
)
from bijmantra.adapters.postgres.ddl import OUTBOX_PARTITIONS, outbox_channel, outbox_partition
from bijmantra.adapters.postgres.relay_loop import OutboxWakeups
from bijmantra.application.brapi.commands import ResourceCommands
from bijmantra.application.brapi.modules import catalog
from bijmantra.application.brapi.queries import ResourceQueries
from bijmantra.application.events import decode_envelope
from bijmantra.kernel import NotFound, PageRequest, Principal, TenantId, ValidationFailed
from bijmantra.testkit.fakes import FakeSearchResultStore
from bijmantra.testkit.provision import ProvisionedDatabase
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration


def principal(tenant: uuid.UUID, roles: tuple[str, ...] = ("breeder",)) -> Principal:
    return Principal(subject="user-1", tenant_id=TenantId(tenant), roles=frozenset(roles))


def payload(*names: str, crop: str = "Maize") -> bytes:
    return msgspec.json.encode(
        [
            {
                "germplasmName": name,
                "germplasmPUI": f"doi:10.1/{name}",
                "commonCropName": crop,
                "acquisitionDate": "2020-05-17",
                "synonyms": [{"synonym": f"{name}-syn", "type": "alt"}],
                "externalReferences": [{"referenceId": f"ext-{name}", "referenceSource": "test"}],
                "additionalInfo": {"origin": name},
            }
            for name in names
        ]
    )


CATALOG = catalog()


def commands(engine: AsyncEngine, source: str = "test") -> ResourceCommands:
    return ResourceCommands(CATALOG, unit_of_work_factory(engine, source=source))


def queries(engine: AsyncEngine) -> ResourceQueries:
    return ResourceQueries(
        CATALOG, unit_of_work_factory(engine, source="test"), FakeSearchResultStore()
    )


def items(page: bytes) -> list[dict[str, object]]:
    return msgspec.json.decode(page)


async def test_created_germplasm_round_trips_as_a_complete_document(engine: AsyncEngine) -> None:
    tenant = uuid.uuid4()
    [document] = items(
        (await commands(engine).create(principal(tenant), "germplasm", payload("G1"))).documents
    )
    assert set(document) == set(CATALOG.entity("germplasm").document_schema["properties"])
    assert document["germplasmName"] == "G1"
    assert document["acquisitionDate"] == "2020-05-17"
    assert document["synonyms"] == [{"synonym": "G1-syn", "type": "alt"}]
    assert document["externalReferences"] == [
        {"referenceID": None, "referenceId": "ext-G1", "referenceSource": "test"}
    ]
    assert document["additionalInfo"] == {"origin": "G1"}
    assert document["pedigree"] is None
    fetched = await queries(engine).get(
        principal(tenant), "germplasm", str(document["germplasmDbId"])
    )
    assert msgspec.json.decode(fetched) == document


async def test_tenants_never_see_each_other(engine: AsyncEngine) -> None:
    tenant_a, tenant_b = uuid.uuid4(), uuid.uuid4()
    [a_doc] = items(
        (await commands(engine).create(principal(tenant_a), "germplasm", payload("A1"))).documents
    )
    await commands(engine).create(principal(tenant_b), "germplasm", payload("B1", "B2"))
    a_id = str(a_doc["germplasmDbId"])

    page = await queries(engine).list(principal(tenant_b), "germplasm", {}, PageRequest(0, 100))
    names = {d["germplasmName"] for d in items(page.documents)}
    assert names == {"B1", "B2"}
    assert page.total_count == 2
    with pytest.raises(NotFound):
        await queries(engine).get(principal(tenant_b), "germplasm", a_id)

    # A query that forgets its tenant filter still sees only the context tenant's rows.
    async with engine.connect() as conn, conn.begin():
        await set_tenant(conn, TenantId(tenant_a))
        tenants = (
            (await conn.execute(text("SELECT DISTINCT tenant_id FROM domain.resources")))
            .scalars()
            .all()
        )
        assert tenants == [tenant_a]
    # The service role may insert into the outbox but never read it (only the relay role can).
    async with engine.connect() as conn, conn.begin():
        await set_tenant(conn, TenantId(tenant_a))
        with pytest.raises(Exception, match="permission denied"):
            await conn.execute(text("SELECT count(*) FROM domain.outbox"))
    # With no tenant in context nothing is visible at all.
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM domain.resources"))).scalar_one() == 0


async def test_rls_rejects_writing_into_another_tenant(engine: AsyncEngine) -> None:
    async with engine.connect() as conn, conn.begin():
        await set_tenant(conn, TenantId(uuid.uuid4()))
        with pytest.raises(Exception, match="row-level security"):
            await conn.execute(
                text(
                    "INSERT INTO domain.resources (tenant_id, entity, db_id, document, body) "
                    "VALUES (:t, 'germplasm', 'x', '{}', '\\x7b7d')"
                ),
                {"t": uuid.uuid4()},
            )


async def test_each_write_commits_its_events_to_the_outbox_atomically(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    tenant = uuid.uuid4()
    created = await commands(engine, "domain-api").create(
        principal(tenant), "germplasm", payload("E1")
    )
    [document] = items(created.documents)
    with psycopg.connect(database.owner_url) as conn:
        [(event_type, aggregate_id, envelope)] = conn.execute(
            "SELECT type, aggregate_id, envelope FROM domain.outbox WHERE tenant_id = %s", (tenant,)
        ).fetchall()
    event = decode_envelope(bytes(envelope))
    assert (event_type, event.type, event.source) == ("germplasm.created",) * 2 + ("domain-api",)
    assert aggregate_id == event.subject == document["germplasmDbId"]
    assert event.data == document
    assert event.tenant_id == str(tenant)
    assert event.actor == "user-1"


async def test_a_bulk_write_emits_bulk_events_whose_items_share_their_outbox_partition(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    """Per-aggregate order across relays: a later event of any item lands in the partition
    (PostgreSQL's own generated column) of the bulk part holding the item."""
    tenant = uuid.uuid4()
    names = [f"B{i}" for i in range(1200)]
    created = await commands(engine, "domain-api").create(
        principal(tenant), "germplasm", payload(*names)
    )
    stored = {d["germplasmDbId"]: d for d in items(created.documents)}
    with psycopg.connect(database.owner_url) as conn:
        rows = conn.execute(
            "SELECT type, aggregate_id, partition, envelope FROM domain.outbox "
            "WHERE tenant_id = %s ORDER BY seq",
            (tenant,),
        ).fetchall()
        parts = [decode_envelope(bytes(envelope)) for *_, envelope in rows]
        item_partitions = dict(
            conn.execute(
                f"SELECT id, {outbox_partition('id')} FROM unnest(%s::text[]) AS id",
                (list(stored),),
            ).fetchall()
        )
    assert {r[0] for r in rows} == {"germplasm.created.bulk"}
    assert 1 < len(rows) <= OUTBOX_PARTITIONS
    assert len({p.id for p in parts}) == len(parts)
    delivered = [i for p in parts for i in p.data["ids"]]
    assert sorted(delivered) == sorted(stored)
    for (_, aggregate_id, partition, _), part in zip(rows, parts, strict=True):
        assert aggregate_id == part.subject == part.data["ids"][0]
        assert {item_partitions[i] for i in part.data["ids"]} == {partition}
        assert part.data["items"] == [stored[i] for i in part.data["ids"]]
        assert part.actor == "user-1"
        assert part.tenant_id == str(tenant)


async def test_a_committed_write_wakes_the_relays_after_its_commit_and_nothing_else_does(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    """PostgreSQL serialises the commits of notifying transactions (WAL flush included), so
    the NOTIFY no longer comes from the writing transaction but from ``OutboxWakeups`` once
    the unit of work committed; a write that fails sends none."""
    channel = outbox_channel("domain")
    wakeups = OutboxWakeups(database.domain_url, channel)
    wakes: list[str] = []

    def committed() -> None:
        wakes.append("committed")
        wakeups.wake()

    woken = ResourceCommands(
        CATALOG, unit_of_work_factory(engine, source="test", committed_events=committed)
    )
    sending = asyncio.create_task(wakeups.run(asyncio.Event()))
    async with await psycopg.AsyncConnection.connect(
        database.domain_url, autocommit=True
    ) as listener:
        await listener.execute(f"LISTEN {channel}")

        async def notifications() -> list[str]:
            return [n.channel async for n in listener.notifies(timeout=1.0)]

        await commands(engine).create(principal(uuid.uuid4()), "germplasm", payload("W0"))
        assert await notifications() == [], "no NOTIFY from inside the writing transaction"
        with pytest.raises(ValidationFailed):
            await woken.create(principal(uuid.uuid4()), "germplasm", b'[{"germplasmName": 1}]')
        assert wakes == []
        await woken.create(principal(uuid.uuid4()), "germplasm", payload("W1"))
        assert wakes == ["committed"]
        assert await notifications() == [channel]
    sending.cancel()


async def test_invalid_batch_stores_nothing_and_names_every_bad_item(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    tenant = uuid.uuid4()
    body = msgspec.json.encode(
        [
            {"germplasmName": "ok", "germplasmPUI": "p", "commonCropName": "Maize"},
            {"germplasmName": 5, "germplasmPUI": "p", "commonCropName": "Maize"},
            {
                "germplasmName": "x",
                "germplasmPUI": "p",
                "commonCropName": "Maize",
                "acquisitionDate": "2020-13-01",
            },
        ]
    )
    with pytest.raises(ValidationFailed) as err:
        await commands(engine).create(principal(tenant), "germplasm", body)
    assert [d.location for d in err.value.details] == ["[1].germplasmName", "[2].acquisitionDate"]
    bad_code = msgspec.json.encode(
        [
            {
                "germplasmName": "y",
                "germplasmPUI": "p",
                "commonCropName": "Maize",
                "biologicalStatusOfAccessionCode": "7",
            }
        ]
    )
    with pytest.raises(ValidationFailed) as err:
        await commands(engine).create(principal(tenant), "germplasm", bad_code)
    assert err.value.details[0].location == "[0].biologicalStatusOfAccessionCode"
    with psycopg.connect(database.owner_url) as conn:
        assert conn.execute(
            "SELECT count(*) FROM domain.resources WHERE tenant_id=%s", (tenant,)
        ).fetchone() == (0,)


async def test_pagination_and_filters(engine: AsyncEngine) -> None:
    tenant = uuid.uuid4()
    names = [f"P{i:02d}" for i in range(7)]
    await commands(engine).create(principal(tenant), "germplasm", payload(*names))
    await commands(engine).create(principal(tenant), "germplasm", payload("W1", crop="Wheat"))
    seen = []
    for page_number in range(3):
        page = await queries(engine).list(
            principal(tenant),
            "germplasm",
            {"commonCropName": ["Maize"]},
            PageRequest(page_number, 3),
        )
        assert page.total_count == 7
        assert page.total_pages == 3
        seen += [d["germplasmName"] for d in items(page.documents)]
    assert sorted(seen) == names
    beyond = await queries(engine).list(principal(tenant), "germplasm", {}, PageRequest(5, 3))
    assert items(beyond.documents) == []
    assert beyond.total_count == 8
    by_synonym = await queries(engine).list(
        principal(tenant), "germplasm", {"synonym": ["P03-syn"]}, PageRequest()
    )
    assert [d["germplasmName"] for d in items(by_synonym.documents)] == ["P03"]
    by_ref = await queries(engine).list(
        principal(tenant), "germplasm", {"externalReferenceId": ["ext-W1"]}, PageRequest()
    )
    assert by_ref.total_count == 1


async def test_outbox_store_claims_rows_once_across_relays(engine: AsyncEngine) -> None:
    await commands(engine).create(principal(uuid.uuid4()), "germplasm", payload("R1", "R2", "R3"))
    store = PostgresOutboxStore(engine)
    async with store.claim(10_000) as first, store.claim(10_000) as second:
        first_ids = {e.id for e in first.records}
        second_ids = {e.id for e in second.records}
        assert first_ids
        assert not first_ids & second_ids
        await first.mark_published(list(first_ids))
        await second.mark_published([e.id for e in second.records])
    # Claims take a bounded number of partitions; other tests' events may still wait, so
    # drain them: every row is claimed (and published) exactly once, and none is left.
    seen = first_ids | second_ids
    while True:
        async with store.claim(10_000) as batch:
            ids = {e.id for e in batch.records}
            if not ids:
                break
            assert not ids & seen
            seen |= ids
            await batch.mark_published(list(ids))
    count, _ = await store.pending()
    assert count == 0


def test_catalog_every_tenant_table_is_forced_rls_and_roles_are_powerless(
    database: ProvisionedDatabase,
) -> None:
    with psycopg.connect(database.owner_url) as conn:
        unprotected = conn.execute(
            """
            SELECT n.nspname || '.' || c.relname FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_attribute a
              ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
            WHERE c.relkind IN ('r', 'p') AND NOT (c.relrowsecurity AND c.relforcerowsecurity)
            """
        ).fetchall()
        assert unprotected == []
        protected = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
            "WHERE a.attname = 'tenant_id' AND c.relkind = 'r' AND c.relforcerowsecurity"
        ).fetchone()
        assert protected is not None
        assert protected[0] >= 4
        roles = conn.execute(
            """
            SELECT r.rolname, r.rolbypassrls, r.rolsuper,
                   (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid)
            FROM pg_roles r WHERE r.rolname LIKE 'bijmantra_%'
            """
        ).fetchall()
        assert len(roles) >= 4
        for name, bypass, superuser, owned in roles:
            assert not bypass, name
            assert not superuser, name
            assert owned == 0, name


async def _drain(store: PostgresOutboxStore) -> None:
    while True:
        async with store.claim(10_000) as batch:
            if not batch.records:
                return
            await batch.mark_published([e.id for e in batch.records])


async def test_a_claim_says_whether_it_stopped_at_a_bound(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    """The relay claims again at once only when a claim may have left events behind."""
    await _drain(PostgresOutboxStore(engine))  # what earlier tests left
    await commands(engine).create(principal(uuid.uuid4()), "germplasm", payload("M1", "M2", "M3"))
    await commands(engine).create(principal(uuid.uuid4()), "germplasm", payload("M4", "M5", "M6"))
    with psycopg.connect(database.owner_url) as conn:
        (partitions,) = conn.execute(
            "SELECT count(DISTINCT partition) FROM domain.outbox WHERE published_at IS NULL"
        ).fetchone() or (0,)
    assert partitions >= 3
    async with PostgresOutboxStore(engine, max_partitions=2).claim(10_000) as held_two:
        assert held_two.records
        assert held_two.more  # as many partitions as it may hold
    async with PostgresOutboxStore(engine).claim(1) as one_row:
        assert len(one_row.records) == 1
        assert one_row.more  # its row limit
    async with PostgresOutboxStore(engine).claim(10_000) as everything:
        assert everything.records
        assert not everything.more
        await everything.mark_published([e.id for e in everything.records])
    count, _ = await PostgresOutboxStore(engine).pending()
    assert count == 0
