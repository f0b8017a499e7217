"""The console's invoice list in one call (ADR 0322): totals as the API computes them, partner
names, the status filter, bounds, and only the member's own organization."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from bijmantra.application.console.invoices import ListInvoices
from bijmantra.kernel import (
    FixedClock,
    Forbidden,
    PageRequest,
    Principal,
    TenantId,
    ValidationFailed,
)
from bijmantra.testkit.distribution import DistributionWorld
from bijmantra.testkit.fakes import InMemoryDatabase, fake_unit_of_work_factory

TENANT = TenantId(uuid.UUID(int=21))
MANAGER = Principal("manager", TENANT, frozenset({"data-manager"}))
VIEWER = Principal("viewer", TENANT, frozenset({"viewer"}))
WORKER = Principal("worker", TENANT, frozenset({"analysis-worker"}))
OUTSIDER = Principal("other", TenantId(uuid.UUID(int=22)), frozenset({"data-manager"}))
LINE = {"description": "Seed handling", "quantity": "3", "unit_price": "12.345", "tax_rate": "0.19"}
PAGE = PageRequest(0, 25)


async def _listed(read: ListInvoices, who: Principal, status: str = "") -> dict[str, Any]:
    found: dict[str, Any] = msgspec.json.decode(await read(who, PAGE, status))
    return found


async def test_the_list_carries_each_invoices_gross_and_its_partners_name() -> None:
    db = InMemoryDatabase()
    world = DistributionWorld(fake_unit_of_work_factory(db), FixedClock(datetime.now(UTC)))
    read = ListInvoices(fake_unit_of_work_factory(db))
    partner = await world.partner(MANAGER)
    body = msgspec.json.encode({"partner_id": partner, "currency": "EUR", "lines": [LINE, LINE]})
    draft = await world.invoices.create(MANAGER, body)
    created = await world.invoices.create(MANAGER, body)
    issued = await world.invoices.act(MANAGER, created["id"], b'{"action": "issued"}')

    listed = await _listed(read, VIEWER)
    assert (listed["total_count"], listed["total_pages"]) == (2, 1)
    shown = {row["id"]: row for row in listed["items"]}
    for invoice in (draft, issued):
        expected = (await world.invoices.get(MANAGER, invoice["id"]))["totals"]["gross"]
        assert shown[invoice["id"]]["gross"] == expected == "88.16"
        assert shown[invoice["id"]]["partner"] == "Kenya Agricultural Research"
    assert shown[issued["id"]]["number"] == issued["number"]
    assert [r["id"] for r in (await _listed(read, VIEWER, "issued"))["items"]] == [issued["id"]]
    assert (await _listed(read, OUTSIDER))["items"] == []


async def test_a_partner_is_named_however_many_partners_came_after_it() -> None:
    db = InMemoryDatabase()
    world = DistributionWorld(fake_unit_of_work_factory(db), FixedClock(datetime.now(UTC)))
    first = await world.partner(MANAGER)
    for n in range(201):  # the list once named only the 200 newest partners
        contact = [{"name": "B", "email": f"p{n}@partner.example"}]
        later = {"name": f"Partner {n}", "country": "KE", "type": "genebank", "contacts": contact}
        await world.partners.create(MANAGER, msgspec.json.encode(later))
    body = msgspec.json.encode({"partner_id": first, "currency": "EUR", "lines": [LINE]})
    invoice = await world.invoices.create(MANAGER, body)

    [row] = (await _listed(ListInvoices(fake_unit_of_work_factory(db)), VIEWER))["items"]
    assert (row["id"], row["partner"]) == (invoice["id"], "Kenya Agricultural Research")


async def test_bad_bounds_or_status_are_refused_and_only_readers_list() -> None:
    read = ListInvoices(fake_unit_of_work_factory(InMemoryDatabase()))
    with pytest.raises(ValidationFailed):
        await read(VIEWER, PageRequest(0, 101), "")
    with pytest.raises(ValidationFailed):
        await read(VIEWER, PAGE, "lost")
    with pytest.raises(Forbidden):
        await read(WORKER, PAGE, "")  # a service token with no distribution:read
