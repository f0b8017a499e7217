"""The BrAPI engine on real PostgreSQL: seed-lot ledgers under concurrency, paging totals."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import msgspec
import pytest
from bijmantra.adapters.postgres import unit_of_work_factory
from bijmantra.application.brapi.commands import ResourceCommands
from bijmantra.application.brapi.modules import catalog
from bijmantra.application.brapi.queries import ResourceQueries
from bijmantra.kernel import Conflict, PageRequest, Principal, TenantId
from bijmantra.testkit.fakes import FakeSearchResultStore
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration
CATALOG = catalog()
BOUNDED = settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def principal() -> Principal:
    return Principal(
        subject="tester", tenant_id=TenantId(uuid.uuid4()), roles=frozenset({"breeder"})
    )


def documents(page: bytes) -> list[dict[str, Any]]:
    return msgspec.json.decode(page)


transfers = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(1, 60)).filter(
        lambda t: t[0] != t[1]
    ),
    min_size=1,
    max_size=12,
)


@BOUNDED
@given(moves=transfers, stock=st.lists(st.integers(0, 100), min_size=3, max_size=3))
async def test_concurrent_transactions_never_take_a_lot_below_zero(
    engine: AsyncEngine, moves: list[tuple[int, int, int]], stock: list[int]
) -> None:
    who = principal()
    commands = ResourceCommands(CATALOG, unit_of_work_factory(engine, source="test"))
    lots = documents(
        (
            await commands.create(
                who,
                "seedlot",
                [
                    {"seedLotName": f"L{i}", "amount": amount, "units": "seeds"}
                    for i, amount in enumerate(stock)
                ],
            )
        ).documents
    )
    ids = [lot["seedLotDbId"] for lot in lots]

    async def move(source: int, target: int, amount: int) -> tuple[int, int, int] | None:
        body = [{"fromSeedLotDbId": ids[source], "toSeedLotDbId": ids[target], "amount": amount}]
        try:
            await commands.create(who, "seedlottransaction", body)
        except Conflict:
            return None
        return source, target, amount

    applied = [m for m in await asyncio.gather(*(move(*m) for m in moves)) if m is not None]
    queries = ResourceQueries(
        CATALOG, unit_of_work_factory(engine, source="test"), FakeSearchResultStore()
    )
    stored = {
        d["seedLotDbId"]: d["amount"]
        for d in documents((await queries.list(who, "seedlot", {}, PageRequest())).documents)
    }
    expected = list(stock)
    for source, target, amount in applied:
        expected[source] -= amount
        expected[target] += amount
    assert [stored[i] for i in ids] == expected  # every applied transfer moved exactly its amount
    assert min(expected) >= 0
    assert sum(expected) == sum(stock)
    recorded = await queries.list(who, "seedlottransaction", {}, PageRequest())
    assert recorded.total_count == len(applied)  # refused transfers left no transaction behind


@BOUNDED
@given(
    crops=st.lists(st.sampled_from(["Maize", "Rice", "Teff"]), min_size=0, max_size=40),
    page_size=st.integers(1, 9),
    crop=st.sampled_from(["Maize", "Rice", "Teff"]),
)
async def test_pages_cover_every_match_once_with_correct_totals(
    engine: AsyncEngine, crops: list[str], page_size: int, crop: str
) -> None:
    who = principal()
    uow = unit_of_work_factory(engine, source="test")
    if crops:
        await ResourceCommands(CATALOG, uow).create(
            who,
            "germplasm",
            [
                {"germplasmName": f"G{i}", "germplasmPUI": f"p:{i}", "commonCropName": c}
                for i, c in enumerate(crops)
            ],
        )
    queries = ResourceQueries(CATALOG, uow, FakeSearchResultStore())
    matching = sorted(f"G{i}" for i, c in enumerate(crops) if c == crop)
    pages = -(-len(matching) // page_size)
    seen = []
    for number in range(pages + 1):  # one page past the end, which must be empty
        page = await queries.list(
            who, "germplasm", {"commonCropName": [crop]}, PageRequest(number, page_size)
        )
        assert page.total_count == len(matching)
        assert page.total_pages == pages
        names = [d["germplasmName"] for d in documents(page.documents)]
        assert (
            page.count
            == len(names)
            == (min(page_size, len(matching) - number * page_size) if number < pages else 0)
        )
        seen += names
    assert sorted(seen) == matching
    assert len(set(seen)) == len(seen)
    search_id = await queries.search(
        who, "germplasm", msgspec.json.encode({"commonCropNames": [crop]})
    )
    results = await queries.search_results(
        who, "germplasm", search_id, PageRequest(0, max(len(matching), 1))
    )
    assert results.total_count == len(matching)


async def test_a_page_version_changes_exactly_when_a_write_to_its_entity_commits(
    engine: AsyncEngine,
) -> None:
    who, other = principal(), principal()
    uow = unit_of_work_factory(engine, source="test")
    commands = ResourceCommands(CATALOG, uow)
    queries = ResourceQueries(CATALOG, uow, FakeSearchResultStore())
    first_page = PageRequest(0, 10)

    async def current(known: int) -> bool:
        changed = await queries.list_if_changed(
            who, "germplasm", {}, first_page, known_version=known
        )
        return changed is None

    created = await commands.create(
        who, "germplasm", [{"germplasmName": "A", "germplasmPUI": "p:a", "commonCropName": "Rice"}]
    )
    db_id = documents(created.documents)[0]["germplasmDbId"]
    kept = await queries.list(who, "germplasm", {}, first_page)
    assert kept.version > 0
    assert await current(kept.version)
    # Writes to another entity, or by another organization, leave the page current.
    await commands.create(who, "seedlot", [{"seedLotName": "L", "amount": 1, "units": "seeds"}])
    await commands.create(
        other,
        "germplasm",
        [{"germplasmName": "B", "germplasmPUI": "p:b", "commonCropName": "Rice"}],
    )
    assert await current(kept.version)
    # A transaction that writes and rolls back changes nothing.
    async with uow(who.tenant_id) as work:
        await work.resources.insert("germplasm", [("uncommitted", {"germplasmDbId": "x"})])
    assert await current(kept.version)
    # A committed update gives a new version, and the page read with it has the update.
    renamed = b'{"germplasmName": "A2", "germplasmPUI": "p:a", "commonCropName": "Rice"}'
    await commands.update(who, "germplasm", db_id, renamed)
    assert not await current(kept.version)
    fresh = await queries.list_if_changed(
        who, "germplasm", {}, first_page, known_version=kept.version
    )
    assert fresh is not None
    assert [d["germplasmName"] for d in documents(fresh.documents)] == ["A2"]
    assert await current(fresh.version)
    # Each organization has its own versions; neither can be mistaken for the other's.
    theirs = await queries.list(other, "germplasm", {}, first_page)
    assert theirs.version not in (0, kept.version, fresh.version)
    assert [d["germplasmName"] for d in documents(theirs.documents)] == ["B"]
