"""The audit trail in PostgreSQL: append-once, tenant-scoped, immutable, tampering detected."""

from __future__ import annotations

import uuid

import msgspec
import psycopg
import pytest
from bijmantra.adapters.postgres import PostgresAuditStore, set_tenant
from bijmantra.application.compliance import ListActivity, RecordAuditEntry, VerifyAuditChain
from bijmantra.application.events import EventEnvelope, bulk_data, encode_envelope
from bijmantra.kernel import PageRequest, Principal, TenantId
from bijmantra.testkit.envelopes import germplasm_created as event
from bijmantra.testkit.provision import ProvisionedDatabase
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration


def auditor(tenant: uuid.UUID) -> Principal:
    return Principal(subject="auditor", tenant_id=TenantId(tenant), roles=frozenset({"admin"}))


async def trail(engine: AsyncEngine, tenant: uuid.UUID, count: int) -> list[EventEnvelope]:
    record = RecordAuditEntry(PostgresAuditStore(engine))
    events = [event(tenant, subject=f"g-{i}") for i in range(count)]
    for e in events:
        await record(e)
    return events


def tamper(owner_url: str, statement: str, *params: object) -> None:
    """What an operator with the owner role could do after switching the triggers off."""
    with psycopg.connect(owner_url) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(statement, params)


async def test_redelivered_events_are_recorded_once_and_chain_verifies(engine: AsyncEngine) -> None:
    tenant = uuid.uuid4()
    store = PostgresAuditStore(engine)
    events = await trail(engine, tenant, 5)
    assert not await store.append("compliance-audit", events[2], b"{}"), (
        "a redelivery has no second effect"
    )
    page = await store.page(TenantId(tenant), PageRequest(0, 10))
    assert [e.event_id for e in page.items] == [e.id for e in events]
    assert [e.position for e in page.items] == [1, 2, 3, 4, 5]
    assert all(b.prev_hash == a.hash for a, b in zip(page.items, page.items[1:], strict=False))
    verdict = await VerifyAuditChain(store)(auditor(tenant))
    assert verdict.valid
    assert verdict.entries_checked == 5
    assert verdict.head_position == 5
    other = await store.page(TenantId(uuid.uuid4()), PageRequest(0, 10))
    assert other.items == []
    assert other.total_count == 0


async def test_the_newest_entries_come_first_with_the_total_and_only_the_tenants_own(
    engine: AsyncEngine,
) -> None:
    tenant = uuid.uuid4()
    store = PostgresAuditStore(engine)
    await trail(engine, tenant, 7)
    await trail(engine, uuid.uuid4(), 3)  # another organization's, newer: never shown here
    first = await store.newest(TenantId(tenant), PageRequest(0, 3))
    assert [e.position for e in first.items] == [7, 6, 5]
    assert [e.subject for e in first.items] == ["g-6", "g-5", "g-4"]
    assert first.total_count == 7
    last = await store.newest(TenantId(tenant), PageRequest(2, 3))
    assert [e.position for e in last.items] == [1]
    assert (await store.newest(TenantId(tenant), PageRequest(3, 3))).items == []
    nobody = await store.newest(TenantId(uuid.uuid4()), PageRequest(0, 3))
    assert (nobody.items, nobody.total_count) == ([], 0)


@pytest.mark.parametrize(
    ("statement", "position", "expected"),
    [
        (
            "UPDATE domain.audit_log SET actor = 'someone-else' "
            "WHERE tenant_id = %s AND position = 3",
            3,
            "actor",
        ),
        (
            "UPDATE domain.audit_log SET envelope = "
            "convert_to(replace(convert_from(envelope, 'UTF8'), 'Maize', 'Rice'), 'UTF8') "
            "WHERE tenant_id = %s AND position = 2",
            2,
            "hash",
        ),
        ("DELETE FROM domain.audit_log WHERE tenant_id = %s AND position = 3", 3, "missing"),
        ("DELETE FROM domain.audit_log WHERE tenant_id = %s AND position = 5", 5, "chain head"),
    ],
)
async def test_modified_or_deleted_entries_are_detected(
    engine: AsyncEngine, database: ProvisionedDatabase, statement: str, position: int, expected: str
) -> None:
    tenant, bystander = uuid.uuid4(), uuid.uuid4()
    await trail(engine, tenant, 5)
    await trail(engine, bystander, 2)
    tamper(database.owner_url, statement, tenant)
    verify = VerifyAuditChain(PostgresAuditStore(engine))
    verdict = await verify(auditor(tenant))
    assert not verdict.valid
    assert verdict.problems[0].position == position
    assert expected in verdict.problems[0].problem
    assert (await verify(auditor(bystander))).valid, "other organizations' chains are untouched"


async def test_postgres_itself_refuses_to_change_or_unlink_the_trail(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    tenant = uuid.uuid4()
    await trail(engine, tenant, 2)
    for statement in (
        "UPDATE domain.audit_log SET actor = 'x'",
        "DELETE FROM domain.audit_log",
        "UPDATE domain.audit_chain_heads SET position = 1",
        "DELETE FROM domain.audit_chain_heads",
    ):
        async with engine.connect() as conn, conn.begin():  # the service role
            await set_tenant(conn, TenantId(tenant))
            with pytest.raises(DBAPIError):
                await conn.execute(text(statement))
    with psycopg.connect(database.owner_url) as conn:  # even the owner, while triggers are on
        for statement in ("UPDATE domain.audit_log SET actor = 'x'", "TRUNCATE domain.audit_log"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(statement)
        forged = conn.execute(
            "SELECT event_id, event_type, subject, occurred_at, envelope FROM domain.audit_log "
            "WHERE tenant_id = %s AND position = 2",
            (tenant,),
        ).fetchone()
        assert forged is not None
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation), conn.transaction():
            conn.execute(
                "INSERT INTO domain.audit_log "
                "VALUES (%s, 3, %s, %s, %s, NULL, %s, now(), %s, %s, %s)",
                (
                    tenant,
                    uuid.uuid4(),
                    forged[1],
                    forged[2],
                    forged[3],
                    forged[4],
                    b"\x01" * 32,
                    b"\x02" * 32,
                ),
            )


async def test_a_batch_spanning_tenants_appends_each_new_event_once(engine: AsyncEngine) -> None:
    store = PostgresAuditStore(engine)
    first, second = uuid.uuid4(), uuid.uuid4()
    [already] = await trail(engine, first, 1)
    batch = [event(first, "g-a"), event(second, "g-b"), event(first, "g-c")]
    encoded = [
        (e, encode_envelope(e)) for e in [already, *batch, batch[0]]
    ]  # a redelivery and a repeat
    assert await store.append_many("compliance-audit", encoded) == 3
    assert await store.append_many("compliance-audit", encoded) == 0
    mine = await store.page(TenantId(first), PageRequest(0, 10))
    assert [e.subject for e in mine.items] == ["g-0", "g-a", "g-c"]
    assert [e.subject for e in (await store.page(TenantId(second), PageRequest(0, 10))).items] == [
        "g-b"
    ]
    for tenant in (first, second):
        assert (await VerifyAuditChain(store)(auditor(tenant))).valid


async def test_a_resources_activity_includes_the_bulk_events_it_was_an_item_of(
    engine: AsyncEngine,
) -> None:
    tenant = uuid.uuid4()
    store = PostgresAuditStore(engine)
    items = [("o-1", {"observationDbId": "o-1"}), ("o-2", {"observationDbId": "o-2"})]
    created = msgspec.structs.replace(
        event(tenant, subject="o-1"), type="observation.created.bulk", data=bulk_data(items)
    )
    updated = msgspec.structs.replace(
        event(tenant, subject="o-2", actor="curator"), type="observation.updated"
    )
    unrelated = event(tenant, subject="o-3")
    for e in (created, updated, unrelated):
        await RecordAuditEntry(store)(e)
    activity = ListActivity(store)
    history = await activity(auditor(tenant), "o-2", PageRequest(0, 10))
    assert [(a.event_id, a.action, a.resource, a.actor) for a in history.items] == [
        (created.id, "observation.created", "o-2", "user-1"),
        (updated.id, "observation.updated", "o-2", "curator"),
    ]
    assert history.total_count == 2
    assert [
        a.event_id for a in (await activity(auditor(tenant), "o-1", PageRequest(0, 10))).items
    ] == [created.id]
    elsewhere = await activity(auditor(uuid.uuid4()), "o-2", PageRequest(0, 10))
    assert elsewhere.items == []
    assert elsewhere.total_count == 0
    assert (await VerifyAuditChain(store)(auditor(tenant))).valid
