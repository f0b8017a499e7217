"""The PostgreSQL adapter against a real server: RLS, the outbox, the read model."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import msgspec
import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bijmantra.adapters.postgres import (
    PostgresOutboxStore,
    create_engine,
    set_tenant,
    unit_of_work_factory,
)
from bijmantra.application.events import decode_envelope
from bijmantra.application.germplasm import (
    CreateGermplasm,
    GermplasmDocument,
    GermplasmFilter,
    GetGermplasm,
    ListGermplasm,
    decode_new_requests,
)
from bijmantra.kernel import NotFound, PageRequest, Principal, TenantId, ValidationFailed
from bijmantra.testkit.provision import ProvisionedDatabase

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def engine(database: ProvisionedDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database.domain_url, pool_size=2)
    yield engine
    await engine.dispose()


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


async def test_created_germplasm_round_trips_as_a_complete_document(engine: AsyncEngine) -> None:
    tenant = uuid.uuid4()
    uow = unit_of_work_factory(engine, source="test")
    [created] = await CreateGermplasm(uow)(principal(tenant), decode_new_requests(payload("G1")))
    document = msgspec.json.decode(created)
    assert set(document) == set(GermplasmDocument.__struct_encode_fields__)
    assert document["germplasmName"] == "G1"
    assert document["acquisitionDate"] == "2020-05-17"
    assert document["synonyms"] == [{"synonym": "G1-syn", "type": "alt"}]
    assert document["externalReferences"] == [{"referenceId": "ext-G1", "referenceSource": "test"}]
    assert document["additionalInfo"] == {"origin": "G1"}
    assert document["pedigree"] is None
    fetched = await GetGermplasm(uow)(principal(tenant), document["germplasmDbId"])
    assert msgspec.json.decode(fetched) == document


async def test_tenants_never_see_each_other(engine: AsyncEngine) -> None:
    tenant_a, tenant_b = uuid.uuid4(), uuid.uuid4()
    uow = unit_of_work_factory(engine, source="test")
    [a_doc] = await CreateGermplasm(uow)(principal(tenant_a), decode_new_requests(payload("A1")))
    await CreateGermplasm(uow)(principal(tenant_b), decode_new_requests(payload("B1", "B2")))
    a_id = msgspec.json.decode(a_doc)["germplasmDbId"]

    page = await ListGermplasm(uow)(principal(tenant_b), GermplasmFilter(), PageRequest(0, 100))
    names = {msgspec.json.decode(d)["germplasmName"] for d in page.items}
    assert names == {"B1", "B2"} and page.total_count == 2
    with pytest.raises(NotFound):
        await GetGermplasm(uow)(principal(tenant_b), a_id)

    # A query that forgets its tenant filter still sees only the context tenant's rows.
    async with engine.connect() as conn, conn.begin():
        await set_tenant(conn, TenantId(tenant_a))
        tenants = (await conn.execute(text("SELECT DISTINCT tenant_id FROM domain.germplasm"))).scalars().all()
        assert tenants == [tenant_a]
    # The service role may insert into the outbox but never read it (only the relay role can).
    async with engine.connect() as conn, conn.begin():
        await set_tenant(conn, TenantId(tenant_a))
        with pytest.raises(Exception, match="permission denied"):
            await conn.execute(text("SELECT count(*) FROM domain.outbox"))
    # With no tenant in context nothing is visible at all.
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM domain.germplasm"))).scalar_one() == 0


async def test_rls_rejects_writing_into_another_tenant(engine: AsyncEngine) -> None:
    async with engine.connect() as conn, conn.begin():
        await set_tenant(conn, TenantId(uuid.uuid4()))
        with pytest.raises(Exception, match="row-level security"):
            await conn.execute(
                text(
                    "INSERT INTO domain.germplasm (tenant_id, germplasm_db_id, germplasm_name, "
                    "germplasm_pui, common_crop_name) VALUES (:t, 'x', 'x', 'x', 'x')"
                ),
                {"t": uuid.uuid4()},
            )


async def test_each_write_commits_its_events_to_the_outbox_atomically(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    tenant = uuid.uuid4()
    uow = unit_of_work_factory(engine, source="domain-api")
    docs = await CreateGermplasm(uow)(principal(tenant), decode_new_requests(payload("E1", "E2")))
    ids = {msgspec.json.decode(d)["germplasmDbId"] for d in docs}
    with psycopg.connect(database.owner_url) as conn:
        rows = conn.execute(
            "SELECT type, aggregate_id, envelope FROM domain.outbox WHERE tenant_id = %s", (tenant,)
        ).fetchall()
    assert {r[1] for r in rows} == ids
    envelope = decode_envelope(bytes(rows[0][2]))
    assert envelope.type == "germplasm.created" and envelope.source == "domain-api"
    assert envelope.tenant_id == str(tenant) and envelope.actor == "user-1"


async def test_invalid_batch_stores_nothing_and_names_every_bad_item(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    tenant = uuid.uuid4()
    body = msgspec.json.encode(
        [
            {"germplasmName": "ok", "germplasmPUI": "p", "commonCropName": "Maize"},
            {"germplasmName": 5, "germplasmPUI": "p", "commonCropName": "Maize"},
            {"germplasmName": "x", "germplasmPUI": "p", "commonCropName": "Maize", "acquisitionDate": "2020-13-01"},
        ]
    )
    with pytest.raises(ValidationFailed) as err:
        decode_new_requests(body)
    assert [d.location for d in err.value.details] == ["[1]", "[2]"]
    bad_code = msgspec.json.encode(
        [{"germplasmName": "y", "germplasmPUI": "p", "commonCropName": "Maize",
          "biologicalStatusOfAccessionCode": "7"}]
    )  # fmt: skip
    uow = unit_of_work_factory(engine, source="test")
    with pytest.raises(ValidationFailed) as err:
        await CreateGermplasm(uow)(principal(tenant), decode_new_requests(bad_code))
    assert err.value.details[0].location == "[0].biologicalStatusOfAccessionCode"
    with psycopg.connect(database.owner_url) as conn:
        assert conn.execute("SELECT count(*) FROM domain.germplasm WHERE tenant_id=%s", (tenant,)).fetchone() == (0,)


async def test_pagination_and_filters(engine: AsyncEngine) -> None:
    tenant = uuid.uuid4()
    uow = unit_of_work_factory(engine, source="test")
    names = [f"P{i:02d}" for i in range(7)]
    await CreateGermplasm(uow)(principal(tenant), decode_new_requests(payload(*names)))
    await CreateGermplasm(uow)(principal(tenant), decode_new_requests(payload("W1", crop="Wheat")))
    query = ListGermplasm(uow)
    seen = []
    for page_number in range(3):
        page = await query(principal(tenant), GermplasmFilter(common_crop_names=("Maize",)), PageRequest(page_number, 3))
        assert page.total_count == 7 and page.total_pages == 3
        seen += [msgspec.json.decode(d)["germplasmName"] for d in page.items]
    assert sorted(seen) == names
    beyond = await query(principal(tenant), GermplasmFilter(), PageRequest(5, 3))
    assert beyond.items == [] and beyond.total_count == 8
    by_synonym = await query(principal(tenant), GermplasmFilter(synonyms=("P03-syn",)), PageRequest())
    assert [msgspec.json.decode(d)["germplasmName"] for d in by_synonym.items] == ["P03"]
    by_ref = await query(principal(tenant), GermplasmFilter(external_reference_ids=("ext-W1",)), PageRequest())
    assert by_ref.total_count == 1


async def test_outbox_store_claims_rows_once_across_relays(engine: AsyncEngine) -> None:
    uow = unit_of_work_factory(engine, source="test")
    await CreateGermplasm(uow)(principal(uuid.uuid4()), decode_new_requests(payload("R1", "R2", "R3")))
    store = PostgresOutboxStore(engine)
    async with store.claim(10_000) as first, store.claim(10_000) as second:
        first_ids = {e.id for e in first.envelopes}
        second_ids = {e.id for e in second.envelopes}
        assert first_ids and not first_ids & second_ids
        await first.mark_published(list(first_ids))
        await second.mark_published([e.id for e in second.envelopes])
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
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
            WHERE c.relkind IN ('r', 'p') AND NOT (c.relrowsecurity AND c.relforcerowsecurity)
            """
        ).fetchall()
        assert unprotected == []
        protected = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
            "WHERE a.attname = 'tenant_id' AND c.relkind = 'r' AND c.relforcerowsecurity"
        ).fetchone()
        assert protected is not None and protected[0] >= 4
        roles = conn.execute(
            """
            SELECT r.rolname, r.rolbypassrls, r.rolsuper,
                   (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid)
            FROM pg_roles r WHERE r.rolname LIKE 'bijmantra_%'
            """
        ).fetchall()
        assert len(roles) >= 4
        for name, bypass, superuser, owned in roles:
            assert not bypass and not superuser and owned == 0, name
