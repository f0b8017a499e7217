"""The distribution context on real PostgreSQL: gapless invoice numbers under concurrency,
shipping that debits seed lots in the same transaction (or changes nothing), RLS."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
import psycopg
import pytest
from bijmantra.adapters.postgres import unit_of_work_factory
from bijmantra.application.brapi.modules import catalog
from bijmantra.application.brapi.queries import ResourceQueries
from bijmantra.application.console.invoices import ListInvoices
from bijmantra.application.distribution import Kind
from bijmantra.kernel import Conflict, FixedClock, NotFound, PageRequest, Principal, TenantId
from bijmantra.testkit.distribution import DistributionWorld
from bijmantra.testkit.fakes import FakeSearchResultStore
from bijmantra.testkit.provision import ProvisionedDatabase
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration
NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
j = msgspec.json.encode
LINE = {"description": "Handling", "quantity": "2", "unit_price": "9.99", "tax_rate": "0.16"}


def manager() -> Principal:
    return Principal("manager", TenantId(uuid.uuid4()), frozenset({"data-manager"}))


@pytest.fixture
def world(engine: AsyncEngine) -> DistributionWorld:
    return DistributionWorld(unit_of_work_factory(engine, source="test"), FixedClock(NOW))


async def draft_invoices(world: DistributionWorld, who: Principal, n: int) -> list[str]:
    partner = await world.partner(who)
    body = j({"partner_id": partner, "currency": "KES", "lines": [LINE]})
    return [(await world.invoices.create(who, body))["id"] for _ in range(n)]


async def test_50_concurrent_issues_number_1_to_50_and_organizations_count_apart(
    world: DistributionWorld,
) -> None:
    first, second = manager(), manager()
    ours = await draft_invoices(world, first, 50)
    theirs = await draft_invoices(world, second, 7)
    issue = j({"action": "issued"})
    issued = await asyncio.gather(
        *(world.invoices.act(first, i, issue) for i in ours),
        *(world.invoices.act(second, i, issue) for i in theirs),
    )
    numbers = sorted(d["number"] for d in issued[:50])
    assert numbers == [f"2026-{n:06d}" for n in range(1, 51)]
    assert sorted(d["number"] for d in issued[50:]) == [f"2026-{n:06d}" for n in range(1, 8)]
    # A refused issue (already issued) takes no number: the next one is 51, not 52.
    with pytest.raises(Conflict):
        await world.invoices.act(first, ours[0], issue)
    [late] = await draft_invoices(world, first, 1)
    assert (await world.invoices.act(first, late, issue))["number"] == "2026-000051"


async def test_over_shipping_is_409_and_lots_dispatch_and_outbox_are_unchanged(
    world: DistributionWorld, database: ProvisionedDatabase
) -> None:
    who = manager()
    partner = await world.partner(who)
    germplasm, lot = await world.germplasm_lot(who, 20)
    request = await world.approved_request(who, partner, germplasm)
    await world.active_agreement(who, partner, [germplasm])
    too_much = await world.packed_dispatch(who, request, lot, "25")

    async def snapshot() -> tuple[object, ...]:
        """As the owner (the service role may not read the outbox), this tenant's rows."""
        async with await psycopg.AsyncConnection.connect(database.owner_url) as conn:
            cursor = await conn.execute(
                "SELECT (SELECT string_agg(document::text, '|' ORDER BY db_id) "
                "FROM domain.resources WHERE tenant_id = %(t)s "
                "AND entity IN ('seedlot', 'seedlottransaction')), "
                "(SELECT string_agg(document::text, '|' ORDER BY id) "
                "FROM domain.distribution_records WHERE tenant_id = %(t)s), "
                "(SELECT count(*) FROM domain.outbox WHERE tenant_id = %(t)s)",
                {"t": who.tenant_id},
            )
            row = await cursor.fetchone()
            assert row is not None
            assert row[1] is not None
            return tuple(row)

    before = await snapshot()
    with pytest.raises(Conflict, match="Not enough seed"):
        await world.dispatches.act(who, too_much, j({"action": "shipped"}))
    assert await snapshot() == before

    fits = await world.packed_dispatch(who, request, lot, "20")
    shipped = await world.dispatches.act(who, fits, j({"action": "shipped"}))
    queries = ResourceQueries(catalog(), world.uow, FakeSearchResultStore())
    page = await queries.children(who, "seedlot", lot, "transactions", {}, PageRequest(0, 10))
    [transaction] = msgspec.json.decode(page.documents)
    assert transaction["transactionDbId"] == shipped["transaction_ids"][0]
    assert transaction["fromSeedLotDbId"] == lot
    assert transaction["amount"] == 20
    lot_document = msgspec.json.decode(await queries.get(who, "seedlot", lot))
    assert lot_document["amount"] == 0


async def test_concurrent_shipments_from_one_lot_never_overdraw_it(
    world: DistributionWorld,
) -> None:
    who = manager()
    partner = await world.partner(who)
    germplasm, lot = await world.germplasm_lot(who, 30)
    await world.active_agreement(who, partner, [germplasm])
    dispatches = []
    for _ in range(4):
        request = await world.approved_request(who, partner, germplasm)
        dispatches.append(await world.packed_dispatch(who, request, lot, "10"))

    async def ship(dispatch_id: str) -> bool:
        try:
            await world.dispatches.act(who, dispatch_id, j({"action": "shipped"}))
        except Conflict:
            return False
        return True

    outcomes = await asyncio.gather(*(ship(d) for d in dispatches))
    assert outcomes.count(True) == 3


async def test_row_level_security_hides_other_organizations_records(
    world: DistributionWorld,
) -> None:
    owner, other = manager(), manager()
    [invoice] = await draft_invoices(world, owner, 1)
    with pytest.raises(NotFound):
        await world.invoices.get(other, invoice)
    async with world.uow(other.tenant_id) as uow:
        assert await uow.distribution.matching(Kind.INVOICE, {}, 100) == []
        assert await uow.distribution.take_invoice_numbers(2026, 2) == [1, 2]


async def test_the_console_invoice_list_pages_filters_and_totals_its_own_organizations(
    world: DistributionWorld, engine: AsyncEngine
) -> None:
    """Through the driver (ADR 0322): newest first, counted past the last page too, the
    status filter, each gross amount, and nothing of another organization's."""
    owner, other = manager(), manager()
    ids = await draft_invoices(world, owner, 3)
    await draft_invoices(world, other, 2)
    issued = await world.invoices.act(owner, ids[0], j({"action": "issued"}))
    read = ListInvoices(unit_of_work_factory(engine, source="test"))

    async def listed(page: PageRequest, status: str = "") -> dict[str, Any]:
        found: dict[str, Any] = msgspec.json.decode(await read(owner, page, status))
        return found

    first = await listed(PageRequest(0, 2))
    assert [r["id"] for r in first["items"]] == [ids[2], ids[1]]
    assert (first["total_count"], first["total_pages"]) == (3, 2)
    assert {r["gross"] for r in first["items"]} == {"23.18"}  # 2 x 9.99 + 16 % tax
    past = await listed(PageRequest(5, 2))
    assert (past["items"], past["total_count"]) == ([], 3)
    only_issued = await listed(PageRequest(0, 10), "issued")
    assert [(r["id"], r["number"]) for r in only_issued["items"]] == [(ids[0], issued["number"])]
    assert {r["partner"] for r in first["items"]} == {"Kenya Agricultural Research"}
    async with world.uow(other.tenant_id) as uow:
        assert len(await uow.distribution.matching(Kind.INVOICE, {}, 100)) == 2
        [theirs] = await uow.distribution.matching(Kind.PARTNER, {}, 10)
    async with world.uow(owner.tenant_id) as uow:
        [mine] = await uow.distribution.matching(Kind.PARTNER, {}, 10)
        # By id, in one read: another organization's partner is not among them (RLS).
        assert await uow.distribution.get_many(Kind.PARTNER, [mine["id"], theirs["id"]]) == [mine]
        assert await uow.distribution.get_many(Kind.PARTNER, []) == []
