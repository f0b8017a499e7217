"""Pedigree writes at PostgreSQL: as many statements for 80 nodes as for 20, progeny kept.

A write once read each node's former parents and each parent's children one query at a
time: 10,000 nodes (the bulk bound) ran past the gateway's deadline (ADR 0342). Statements
are counted at the driver (every cursor ``execute``), so the count is what crossed the wire.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable
from typing import Any

import msgspec
import pytest
from bijmantra.adapters.postgres import unit_of_work_factory
from bijmantra.application.brapi.commands import ResourceCommands
from bijmantra.application.brapi.modules import catalog
from bijmantra.application.brapi.queries import ResourceQueries
from bijmantra.domain.germplasm import find_cycle
from bijmantra.kernel import PageRequest, Principal, TenantId, Unprocessable
from bijmantra.testkit.fakes import FakeSearchResultStore
from bijmantra.testkit.statements import Recording
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration
CATALOG = catalog()
PARENT_LINK = ("parents", "*", "germplasmDbId")


def principal() -> Principal:
    return Principal("tester", TenantId(uuid.uuid4()), frozenset({"breeder"}))


async def _germplasm(commands: ResourceCommands, who: Principal, n: int) -> list[str]:
    items = [
        {"germplasmName": f"G{i}", "germplasmPUI": f"p:{i}", "commonCropName": "Rice"}
        for i in range(n)
    ]
    made = await commands.create(who, "germplasm", items)
    return [d["germplasmDbId"] for d in msgspec.json.decode(made.documents)]


def _node(ids: list[str], i: int, parents: list[int]) -> dict[str, Any]:
    types = ["FEMALE", "MALE"]
    return {
        "germplasmDbId": ids[i],
        "germplasmName": f"G{i}",
        "parents": [
            {"germplasmDbId": ids[p], "parentType": types[k % 2]} for k, p in enumerate(parents)
        ],
    }


async def _stored(queries: ResourceQueries, who: Principal) -> dict[str, dict[str, Any]]:
    page = await queries.list(who, "pedigree", {}, PageRequest(0, 1000))
    return {d["germplasmDbId"]: d for d in msgspec.json.decode(page.documents)}


def _assert_progeny_consistent(stored: dict[str, dict[str, Any]]) -> None:
    """Every node's progeny is exactly the nodes naming it as a parent, once per naming."""
    named: dict[str, list[tuple[str, str | None]]] = {}
    for child in sorted(stored):
        for link in stored[child]["parents"] or []:
            named.setdefault(link["germplasmDbId"], []).append((child, link["parentType"]))
    for db_id, node in stored.items():
        progeny = [(p["germplasmDbId"], p["parentType"]) for p in node["progeny"] or []]
        assert progeny == named.get(db_id, []), db_id


async def _write(recorded: Recording, n: int) -> tuple[int, int]:
    """Statements of a POST of ``n`` nodes, then of a PUT re-parenting all of them; checks
    the stored pedigree after each."""
    who = principal()
    factory = unit_of_work_factory(recorded.engine, source="test")
    commands = ResourceCommands(CATALOG, factory)
    queries = ResourceQueries(CATALOG, factory, FakeSearchResultStore())
    ids = await _germplasm(commands, who, n)
    rng = random.Random(n)
    first = {i: [] if i < 4 else [rng.randrange(i), rng.randrange(i)] for i in range(n)}
    recorded.sent.clear()
    await commands.create(who, "pedigree", [_node(ids, i, ps) for i, ps in first.items()])
    posted = len(recorded.sent)
    _assert_progeny_consistent(await _stored(queries, who))
    second = {i: [] if i < 4 else [rng.randrange(i)] for i in range(n)}
    body = {ids[i]: _node(ids, i, ps) for i, ps in second.items()}
    recorded.sent.clear()
    await commands.update_many(who, "pedigree", msgspec.json.encode(body))
    put = len(recorded.sent)
    stored = await _stored(queries, who)
    _assert_progeny_consistent(stored)
    for i, parents in first.items():  # former parents no longer list the child
        for gone in set(parents) - set(second[i]):
            assert ids[i] not in {p["germplasmDbId"] for p in stored[ids[gone]]["progeny"]}
    return posted, put


async def test_a_pedigree_write_makes_as_many_statements_for_80_nodes_as_for_20(
    recorded: Recording,
) -> None:
    small, large = await _write(recorded, 20), await _write(recorded, 80)
    assert small == large  # was 2 per node more: 51 and 171 for the POST
    assert large[0] <= 20


async def test_a_cycle_is_found_through_stored_ancestors_and_nothing_is_stored(
    engine: AsyncEngine,
) -> None:
    """The check reads the ancestry of the written nodes' parents only: a cycle closed by a
    node whose stored ancestors lead back to it is found there."""
    who = principal()
    factory = unit_of_work_factory(engine, source="test")
    commands = ResourceCommands(CATALOG, factory)
    queries = ResourceQueries(CATALOG, factory, FakeSearchResultStore())
    ids = await _germplasm(commands, who, 6)
    chain = [_node(ids, i, [i - 1] if i else []) for i in range(5)]  # 0 <- 1 <- ... <- 4
    await commands.create(who, "pedigree", chain)
    before = await _stored(queries, who)
    with pytest.raises(Unprocessable, match="ancestor"):
        await commands.update_many(
            who, "pedigree", msgspec.json.encode({ids[0]: _node(ids, 0, [4])})
        )
    assert await _stored(queries, who) == before
    await commands.update_many(who, "pedigree", msgspec.json.encode({ids[0]: _node(ids, 0, [5])}))
    _assert_progeny_consistent(await _stored(queries, who))


async def test_reachable_reads_only_the_ancestry_and_ends_on_a_stored_cycle(
    engine: AsyncEngine,
) -> None:
    who = principal()
    factory = unit_of_work_factory(engine, source="test")

    def node(db_id: str, *parents: str) -> tuple[str, dict[str, Any]]:
        return db_id, {"germplasmDbId": db_id, "parents": [{"germplasmDbId": p} for p in parents]}

    other = principal()  # another organization's d names z: never followed from ours
    async with factory(other.tenant_id) as uow:
        await uow.resources.insert("pedigree", [node("d", "z"), node("z")])
        await uow.commit()
    async with factory(who.tenant_id) as uow:  # rolled back; a, b, c in a cycle; d above a; e apart
        await uow.resources.insert(
            "pedigree",
            [node("a", "b", "d"), node("b", "c"), node("c", "a"), node("d"), node("e", "a")],
        )
        found = await uow.resources.reachable("pedigree", ["a", "x"], PARENT_LINK)
        assert sorted(found) == ["a", "b", "c", "d"]
        assert await uow.resources.reachable("pedigree", [], PARENT_LINK) == {}


async def _race(*writes: Awaitable[object]) -> list[str]:
    """How each of concurrent writes ended: ``ok`` or the error's class name."""
    ended = await asyncio.gather(*writes, return_exceptions=True)
    return sorted("ok" if not isinstance(e, BaseException) else type(e).__name__ for e in ended)


async def test_concurrent_pedigree_writes_take_turns_so_none_closes_a_cycle_or_fails(
    engine: AsyncEngine,
) -> None:
    """Two writes each naming the other's node as parent, at once: each checked for cycles
    before the other had written, so both could be stored (a cycle), and where both created
    or locked the two nodes in opposite order PostgreSQL ended one as a deadlock (a 500
    through the gateway, 5 times in 5 on a dev stack). They take turns (ADR 0352): the second
    sees the first and is refused as a cycle. The same holds for one new node posted twice."""
    who = principal()
    factory = unit_of_work_factory(engine, source="test")
    commands = ResourceCommands(CATALOG, factory)
    queries = ResourceQueries(CATALOG, factory, FakeSearchResultStore())
    for _ in range(4):
        ids = await _germplasm(commands, who, 4)
        posted = await _race(
            commands.create(who, "pedigree", [_node(ids, 0, [1])]),
            commands.create(who, "pedigree", [_node(ids, 1, [0])]),
        )
        assert posted == ["Unprocessable", "ok"]
        await commands.create(who, "pedigree", [_node(ids, 2, []), _node(ids, 3, [])])
        put = await _race(
            commands.update_many(
                who, "pedigree", msgspec.json.encode({ids[2]: _node(ids, 2, [3])})
            ),
            commands.update_many(
                who, "pedigree", msgspec.json.encode({ids[3]: _node(ids, 3, [2])})
            ),
        )
        assert put == ["Unprocessable", "ok"]
    again = await _germplasm(commands, who, 2)
    twice = await _race(*(commands.create(who, "pedigree", [_node(again, 0, [1])]) for _ in "ab"))
    assert twice == ["Conflict", "ok"]
    stored = await _stored(queries, who)
    _assert_progeny_consistent(stored)
    graph = {k: [p["germplasmDbId"] for p in v["parents"] or []] for k, v in stored.items()}
    assert find_cycle(graph) is None
