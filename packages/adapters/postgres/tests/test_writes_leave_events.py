"""Writes that used to commit without an event (review 16): each now leaves its event in the
outbox in the same transaction, on real PostgreSQL, and a partner's event becomes an entry of
the organization's audit trail with no contact's address in it (ADR 0388)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import msgspec
import psycopg
import pytest
from bijmantra.adapters.postgres import PostgresAuditStore, unit_of_work_factory
from bijmantra.application.compliance import ListActivity, RecordAuditEntry
from bijmantra.application.events.envelope import decode_envelope
from bijmantra.application.sensors import AlertRules, DeviceEnrolment
from bijmantra.kernel import FixedClock, PageRequest, Principal, TenantId, Unprocessable
from bijmantra.testkit.distribution import DistributionWorld
from bijmantra.testkit.provision import ProvisionedDatabase
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration
NOW = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)
CONTACT = "wanjiru.private@partner.example"
j = msgspec.json.encode


def manager() -> Principal:
    return Principal("manager", TenantId(uuid.uuid4()), frozenset({"data-manager", "admin"}))


def outbox(database: ProvisionedDatabase, tenant: TenantId) -> dict[str, list[str]]:
    """As the owner (the service role may not read the outbox): event types by aggregate."""
    found: dict[str, list[str]] = {}
    with psycopg.connect(database.owner_url) as conn:
        rows = conn.execute(
            "SELECT aggregate_id, type FROM domain.outbox WHERE tenant_id = %s ORDER BY seq",
            (tenant,),
        ).fetchall()
    for aggregate, kind in rows:
        found.setdefault(aggregate, []).append(kind)
    return found


async def test_a_new_partner_and_its_event_commit_together_and_reach_the_audit_trail(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    who = manager()
    world = DistributionWorld(unit_of_work_factory(engine, source="test"), FixedClock(NOW))
    partner = await world.partner(who, email=CONTACT)
    with psycopg.connect(database.owner_url) as conn:
        row = conn.execute(
            "SELECT o.envelope, o.xmin::text = r.xmin::text FROM domain.outbox o "
            "JOIN domain.distribution_records r ON r.tenant_id = o.tenant_id AND r.id::text = "
            "o.aggregate_id WHERE o.tenant_id = %s AND o.type = 'distribution.partner_created'",
            (who.tenant_id,),
        ).fetchone()
    assert row is not None, "creating a partner recorded no event"
    envelope_bytes, same_transaction = bytes(row[0]), row[1]
    assert same_transaction, "the partner and its event were written by different transactions"
    assert CONTACT.encode() not in envelope_bytes
    assert b"Wanjiru" not in envelope_bytes  # the contact's name stays in the record only
    envelope = decode_envelope(envelope_bytes, upcasting=False)
    assert envelope.data == {
        "name": "Kenya Agricultural Research",
        "country": "KE",
        "type": "research_institute",
        "contacts": 1,
    }

    store = PostgresAuditStore(engine)
    await RecordAuditEntry(store)(envelope)  # what the compliance-audit consumer does
    history = await ListActivity(store)(who, partner, PageRequest(0, 10))
    assert [(a.action, a.resource, a.actor) for a in history.items] == [
        ("distribution.partner_created", partner, "manager")
    ]


async def test_every_distribution_draft_records_its_creation_and_a_refused_one_records_nothing(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    who = manager()
    world = DistributionWorld(unit_of_work_factory(engine, source="test"), FixedClock(NOW))
    partner = await world.partner(who)
    germplasm, lot = await world.germplasm_lot(who, 100)
    request = await world.approved_request(who, partner, germplasm)
    agreement = (await world.active_agreement(who, partner, [germplasm]))["id"]
    dispatch = await world.packed_dispatch(who, request, lot, "10")
    line = {"description": "Handling", "quantity": "1", "unit_price": "5", "tax_rate": "0"}
    body = j({"partner_id": partner, "currency": "KES", "lines": [line]})
    invoice = (await world.invoices.create(who, body))["id"]
    await world.invoices.edit(who, invoice, j({"lines": [line, line]}))
    await world.invoices.act(who, invoice, j({"action": "issued"}))
    credit = (await world.invoices.credit(who, invoice))["id"]

    events = outbox(database, who.tenant_id)
    assert events[request][0] == "distribution.request_created"
    assert events[agreement][0] == "distribution.agreement_created"
    assert events[dispatch][0] == "distribution.dispatch_created"
    assert events[invoice][:2] == ["distribution.invoice_created", "distribution.invoice_edited"]
    assert events[credit] == ["distribution.invoice_created"]

    before = outbox(database, who.tenant_id)
    item = {"germplasm_id": germplasm, "quantity": "5", "units": "seeds"}
    unknown = {"partner_id": str(uuid.uuid4()), "purpose": "research", "items": [item]}
    with pytest.raises(Unprocessable):
        await world.requests.create(who, j(unknown))
    assert outbox(database, who.tenant_id) == before


async def test_a_device_profile_and_an_alert_rule_record_what_a_member_set_up(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    who = manager()
    uow = unit_of_work_factory(engine, source="test")
    profile = {
        "name": "freezer",
        "metrics": [{"name": "air_temperature", "unit": "degC", "minimum": -50, "maximum": 70}],
    }
    profile_id = (await DeviceEnrolment(uow).create_profile(who, json.dumps(profile).encode()))[
        "profileId"
    ]
    rule = {"name": "warm", "metric": "air_temperature", "profileId": profile_id}
    rule |= {"kind": "threshold", "comparison": "above", "threshold": 8, "cooldownSeconds": 0}
    rule_id = (await AlertRules(uow).create(who, json.dumps(rule).encode()))["ruleId"]
    events = outbox(database, who.tenant_id)
    assert events[profile_id] == ["sensors.profile.created"]
    assert events[rule_id] == ["sensors.alert_rule.created"]
