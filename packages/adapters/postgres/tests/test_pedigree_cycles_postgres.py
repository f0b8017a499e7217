"""Pedigree writes at PostgreSQL against a plain reference, and the work their lookups do.

The cycle check walks the stored ancestry of a write's parents in SQL and the progeny upkeep
looks nodes up by their links (ADR 0349): hypothesis runs batches of writes through both and
compares with reachability over the whole graph. The walk's work is read from its plan
(rows its scans of ``domain.resources`` produce or drop), never from a clock.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import msgspec
import pytest
from bijmantra.adapters.postgres import create_engine, unit_of_work_factory
from bijmantra.application.brapi.commands import ResourceCommands
from bijmantra.application.brapi.modules import catalog
from bijmantra.application.brapi.queries import ResourceQueries
from bijmantra.kernel import PageRequest, Principal, TenantId, Unprocessable
from bijmantra.testkit.fakes import FakeSearchResultStore
from bijmantra.testkit.provision import ProvisionedDatabase
from bijmantra.testkit.reachability import reaches
from bijmantra.testkit.statements import Recording
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.integration
CATALOG = catalog()
PARENT_LINK = ("parents", "*", "germplasmDbId")
NODES = 7


def principal() -> Principal:
    return Principal("tester", TenantId(uuid.uuid4()), frozenset({"breeder"}))


def _cyclic(graph: dict[int, list[int]]) -> bool:
    """Plain reference: some parent reaches its own child through the whole graph."""

    return any(reaches(graph, parent, child) for child, ps in graph.items() for parent in ps)


_batch = st.dictionaries(
    st.integers(0, NODES - 1), st.lists(st.integers(0, NODES - 1), max_size=2), max_size=4
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_batch, min_size=1, max_size=5))
def test_batched_pedigree_writes_are_refused_exactly_when_the_whole_graph_has_a_cycle(
    database: ProvisionedDatabase, batches: list[dict[int, list[int]]]
) -> None:
    asyncio.run(_batches_case(database, batches))


async def _batches_case(database: ProvisionedDatabase, batches: list[dict[int, list[int]]]) -> None:
    engine = create_engine(database.domain_url, pool_size=1)
    try:
        who = principal()
        factory = unit_of_work_factory(engine, source="test")
        commands = ResourceCommands(CATALOG, factory)
        queries = ResourceQueries(CATALOG, factory, FakeSearchResultStore())
        made = await commands.create(
            who,
            "germplasm",
            [
                {"germplasmName": f"G{i}", "germplasmPUI": f"p:{i}", "commonCropName": "Rice"}
                for i in range(NODES)
            ],
        )
        ids = [d["germplasmDbId"] for d in msgspec.json.decode(made.documents)]
        accepted: dict[int, list[int]] = {}
        for batch in batches:
            body = {
                ids[child]: {
                    "germplasmDbId": ids[child],
                    "germplasmName": f"G{child}",
                    "parents": [
                        {"germplasmDbId": ids[p], "parentType": ("FEMALE", "MALE")[k]}
                        for k, p in enumerate(parents)
                    ],
                }
                for child, parents in batch.items()
            }
            if _cyclic({**accepted, **batch}):
                with pytest.raises(Unprocessable, match="ancestor"):
                    await commands.update_many(who, "pedigree", msgspec.json.encode(body))
            elif batch:
                await commands.update_many(who, "pedigree", msgspec.json.encode(body))
                accepted |= batch
        page = await queries.list(who, "pedigree", {}, PageRequest(0, 1000))
        stored = {d["germplasmDbId"]: d for d in msgspec.json.decode(page.documents)}
        for child, parents in accepted.items():
            assert [p["germplasmDbId"] for p in stored[ids[child]]["parents"]] == [
                ids[p] for p in parents
            ]
        named: dict[str, list[tuple[str, str | None]]] = {}
        for child in sorted(stored):
            for link in stored[child]["parents"] or []:
                named.setdefault(link["germplasmDbId"], []).append((child, link["parentType"]))
        for db_id, node in stored.items():  # each parent lists exactly the children naming it
            progeny = [(p["germplasmDbId"], p["parentType"]) for p in node["progeny"] or []]
            assert progeny == named.get(db_id, []), db_id
    finally:
        await engine.dispose()


def _resources_rows(plan: dict[str, Any]) -> int:
    """Rows the plan's scans of ``domain.resources`` produced or dropped, over all loops."""
    rows = 0
    if plan.get("Relation Name") == "resources":
        kept = plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)
        rows += (kept + plan.get("Rows Removed by Index Recheck", 0)) * plan["Actual Loops"]
    return rows + sum(_resources_rows(child) for child in plan.get("Plans", ()))


async def test_the_ancestry_walk_reads_each_ancestor_once_however_deep(
    recorded: Recording,
) -> None:
    """A 300-deep chain beside 500 founders: the walk's work grows with the 800 nodes it
    reaches, each read by key, even with nested loops made dear. The former join could be
    planned to scan the organization's pedigree once per generation (34 s for a 10,000-deep
    chain, ADR 0349); at this size the planner did not, so this guards the shape only."""
    depth, founders = 300, 500

    def node(db_id: str, *parents: str) -> tuple[str, dict[str, Any]]:
        return db_id, {"germplasmDbId": db_id, "parents": [{"germplasmDbId": p} for p in parents]}

    chain = [node(f"c{i}", f"c{i - 1}") if i else node("c0") for i in range(depth)]
    roots = [f"c{depth - 1}", *(f"f{i}" for i in range(founders))]
    who = principal()
    factory = unit_of_work_factory(recorded.engine, source="test")
    async with factory(who.tenant_id) as uow:
        await uow.resources.insert("pedigree", [*chain, *(node(f) for f in roots[1:])])
        await uow.commit()
    async with factory(who.tenant_id) as uow:
        recorded.sent.clear()
        await uow.resources.reachable("pedigree", [], PARENT_LINK)
        await uow.resources.documents("pedigree", ["c0"])
        [(_, _, connection)] = recorded.sent
        await connection.execute("SET LOCAL enable_nestloop = off")
        recorded.sent.clear()
        found = await uow.resources.reachable("pedigree", roots, PARENT_LINK)
        assert len(found) == depth + founders
        assert found["c1"] == ["c0"]
        assert found["c0"] == []
        [(statement, params, connection)] = recorded.sent
        explained = await connection.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", params)
        [[[plan]]] = await explained.fetchall()
        assert _resources_rows(plan["Plan"]) <= 3 * (depth + founders)


async def test_a_lookup_by_many_db_ids_is_never_prepared(recorded: Recording) -> None:
    """psycopg prepares a statement run 5 times on a connection, and PostgreSQL may then
    plan it once for every list: that plan tested each row against the whole list (73 s for
    10,000 DbIds against 110,000 rows, where a plan for the list took 0.2 s)."""
    who = principal()
    async with unit_of_work_factory(recorded.engine, source="test")(who.tenant_id) as uow:
        await uow.resources.insert("pedigree", [("a", {"germplasmDbId": "a", "parents": []})])
        for _ in range(8):
            assert list(await uow.resources.documents("pedigree", ["a", "b"])) == ["a"]
            await uow.resources.linking_ids("pedigree", PARENT_LINK, ["a"])
            await uow.resources.reachable("pedigree", ["a"], PARENT_LINK)
        connection = recorded.sent[-1][2]
        prepared = await connection.execute("SELECT statement FROM pg_prepared_statements")
        assert [row async for row in prepared if "ANY(CAST" in row[0]] == []
