"""The operations store against real PostgreSQL: the order-bounded cycle check (recursive
CTEs) against plain reachability, ETags, roll-ups, tenant isolation and the harvest
consumer creating BrAPI seed lots once through the germplasm use cases."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import msgspec
import psycopg
import pytest
from bijmantra.adapters.postgres import create_engine, unit_of_work_factory
from bijmantra.application.brapi.commands import ResourceCommands
from bijmantra.application.brapi.modules import catalog
from bijmantra.application.brapi.queries import ResourceQueries
from bijmantra.application.events.envelope import decode_envelope
from bijmantra.application.operations import (
    BrapiBreedingRecords,
    Collaboration,
    OperationsQueries,
    RecordHarvest,
    WorkItemCommands,
)
from bijmantra.domain.operations import WorkItem
from bijmantra.kernel import (
    NotFound,
    PageRequest,
    PreconditionFailed,
    Principal,
    TenantId,
    Unprocessable,
)
from bijmantra.testkit.fakes import FakeSearchResultStore
from bijmantra.testkit.operations import deadlocks, reaches
from bijmantra.testkit.provision import ProvisionedDatabase
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration
PAGE = PageRequest(0, 100)


class Stack:
    def __init__(self, engine: AsyncEngine, owner_url: str) -> None:
        self.owner_url = owner_url
        uow = unit_of_work_factory(engine, source="test")
        self.items = WorkItemCommands(uow)
        self.collab = Collaboration(uow)
        self.queries = OperationsQueries(uow)
        brapi = catalog()
        self.resource_queries = ResourceQueries(brapi, uow, FakeSearchResultStore())
        self.resource_commands = ResourceCommands(brapi, uow)
        records = BrapiBreedingRecords(self.resource_queries, self.resource_commands)
        self.harvest = RecordHarvest(uow, records)

    async def item(self, who: Principal, **fields: Any) -> WorkItem:
        return await self.items.create(who, json.dumps(fields).encode())

    async def operation(self, who: Principal, kind: str = "other") -> WorkItem:
        plan = await self.item(who, kind="plan", title="plan")
        return await self.item(
            who, kind="operation", title="op", parent_id=plan.id, operation_type=kind
        )

    async def depend(self, who: Principal, tail: str, head: str) -> None:
        body = {"predecessor_id": tail, "successor_id": head}
        await self.collab.depend(who, json.dumps(body).encode())

    def outbox(self, aggregate_id: str, event_type: str | None = None) -> list[bytes]:
        with psycopg.connect(self.owner_url) as conn:
            rows = conn.execute(
                "SELECT envelope FROM domain.outbox WHERE aggregate_id = %s "
                "AND (%s::text IS NULL OR type = %s) ORDER BY seq",
                (aggregate_id, event_type, event_type),
            ).fetchall()
        return [bytes(r[0]) for r in rows]

    def orders(self, ids: list[str]) -> dict[str, int]:
        with psycopg.connect(self.owner_url) as conn:
            rows = conn.execute(
                "SELECT id, topo FROM domain.ops_work_items WHERE id = ANY(%s)", (ids,)
            ).fetchall()
        return dict(rows)


def _member(roles: str = "breeder") -> Principal:
    return Principal("ana", TenantId(uuid.uuid4()), frozenset({roles}))


@pytest.fixture(scope="module")
async def stack(engine: AsyncEngine, database: ProvisionedDatabase) -> Stack:
    return Stack(engine, database.owner_url)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=18))
def test_the_sql_cycle_check_agrees_with_plain_reachability(
    database: ProvisionedDatabase, proposed: list[tuple[int, int]]
) -> None:
    asyncio.run(_cycle_case(database, proposed))


async def _cycle_case(database: ProvisionedDatabase, proposed: list[tuple[int, int]]) -> None:
    engine = create_engine(database.domain_url, pool_size=1)
    try:
        stack, who = Stack(engine, database.owner_url), _member()
        op = await stack.operation(who)
        tasks = [
            (await stack.item(who, kind="task", title=f"t{n}", parent_id=op.id)).id
            for n in range(7)
        ]
        accepted: set[tuple[int, int]] = set()
        for tail, head in proposed:
            if tail == head or reaches(accepted, head, tail):
                with pytest.raises(Unprocessable):
                    await stack.depend(who, tasks[tail], tasks[head])
            else:
                await stack.depend(who, tasks[tail], tasks[head])
                accepted.add((tail, head))
        order = stack.orders(tasks)
        assert all(order[tasks[t]] < order[tasks[h]] for t, h in accepted)
        stored = set()
        for task in tasks:
            page = await stack.queries.dependencies(who, task, PAGE)
            for document in page.items:
                edge = msgspec.json.decode(document)
                stored.add((tasks.index(edge["predecessor_id"]), tasks.index(edge["successor_id"])))
        assert stored == accepted
    finally:
        await engine.dispose()


# Two plans: 0 holds operations 1 and 2; 1 holds tasks 3 and 4, 2 holds 5 and 6; 7 is bare.
_PARENTS: dict[int, int | None] = {0: None, 1: 0, 2: 0, 3: 1, 4: 1, 5: 2, 6: 2, 7: None}


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7)), min_size=1, max_size=14))
def test_the_sql_check_refuses_exactly_what_the_event_graph_calls_a_deadlock(
    database: ProvisionedDatabase, proposed: list[tuple[int, int]]
) -> None:
    asyncio.run(_deadlock_case(database, proposed))


async def _deadlock_case(database: ProvisionedDatabase, proposed: list[tuple[int, int]]) -> None:
    engine = create_engine(database.domain_url, pool_size=1)
    try:
        stack, who = Stack(engine, database.owner_url), _member()
        ids: list[str] = []
        for n, parent in _PARENTS.items():
            kind = ("plan", "operation", "task")[0 if parent is None else 1 + (n > 2)]
            fields: dict[str, Any] = {"kind": kind, "title": f"w{n}"}
            if parent is not None:
                fields["parent_id"] = ids[parent]
            if kind == "operation":
                fields["operation_type"] = "other"
            ids.append((await stack.item(who, **fields)).id)
        accepted: set[tuple[int, int]] = set()
        for tail, head in proposed:
            if tail == head or deadlocks(_PARENTS, {*accepted, (tail, head)}):
                # A plain cycle of dependencies is named so; anything else is a deadlock.
                named = "cycle" if tail == head or reaches(accepted, head, tail) else "deadlock"
                with pytest.raises(Unprocessable, match=named):
                    await stack.depend(who, ids[tail], ids[head])
            else:
                await stack.depend(who, ids[tail], ids[head])
                accepted.add((tail, head))
            # The order stays one of the waiting graph: dependencies and child -> parent.
            order = stack.orders(ids)
            assert all(order[ids[t]] < order[ids[h]] for t, h in accepted)
            assert all(order[ids[c]] < order[ids[p]] for c, p in _PARENTS.items() if p is not None)
        stored = set()
        for item in ids:
            page = await stack.queries.dependencies(who, item, PAGE)
            for document in page.items:
                edge = msgspec.json.decode(document)
                stored.add((ids.index(edge["predecessor_id"]), ids.index(edge["successor_id"])))
        assert stored == accepted
    finally:
        await engine.dispose()


async def test_a_dependency_that_would_deadlock_the_hierarchy_is_422_and_stores_nothing(
    stack: Stack,
) -> None:
    who = _member()
    o1, o2 = await stack.operation(who), await stack.operation(who)
    plan = o1.parent_id or ""
    o3 = await stack.item(who, kind="operation", title="o3", parent_id=plan, operation_type="other")
    t1 = await stack.item(who, kind="task", title="t1", parent_id=o1.id)
    t2 = await stack.item(who, kind="task", title="t2", parent_id=o2.id)
    t3 = await stack.item(who, kind="task", title="t3", parent_id=o3.id)
    await stack.depend(who, o1.id, t2.id)  # across plans: o1 before t2 starts
    before = {i.id: stack.outbox(i.id) for i in (o1, o2, o3, t1, t2, t3)}
    refused = [
        (plan, t1.id),  # a plan before its own task
        (plan, o1.id),  # a plan before its own operation
        (o1.id, t1.id),  # an operation before its own task
        (o2.id, t1.id),  # o2 waits for t2, which waits for o1, which waits for t1
        (t2.id, t1.id),  # t1 -> o1 -> t2 in the waiting graph
        (o2.id, o1.id),  # o1 -> t2 -> o2
    ]
    for tail, head in refused:
        with pytest.raises(Unprocessable, match="deadlock") as caught:
            await stack.depend(who, tail, head)
        assert [e.location for e in caught.value.details] == ["successor_id"]
    assert {i: stack.outbox(i) for i in before} == before
    for item in (o1, t1, t2):
        page = await stack.queries.dependencies(who, item.id, PAGE)
        assert page.total_count == (1 if item is not t1 else 0)
    # What waits on nothing that waits on it stays allowed.
    for tail, head in (
        (t1.id, t3.id),  # task -> task across operations
        (o1.id, o3.id),  # operation -> operation
        (t3.id, o2.id),  # a task -> another plan's operation
        (t1.id, o1.id),  # a task before its own operation starts
        (o3.id, plan),  # an operation before its own plan starts
        (t1.id, t2.id),  # a shortcut beside o1 -> t2
    ):
        await stack.depend(who, tail, head)


async def test_a_stale_if_match_is_refused_and_nothing_is_written(stack: Stack) -> None:
    who = _member()
    op = await stack.operation(who)
    task = await stack.item(who, kind="task", title="spray", parent_id=op.id)
    renamed = await stack.items.update(who, task.id, b'{"title":"spray block 3"}', task.etag)
    events = stack.outbox(task.id)
    with pytest.raises(PreconditionFailed):
        await stack.items.update(who, task.id, b'{"title":"lost"}', task.etag)
    document, etag = await stack.queries.item(who, task.id)
    assert etag == renamed.etag
    assert msgspec.json.decode(document)["title"] == "spray block 3"
    assert stack.outbox(task.id) == events
    activity = await stack.queries.activity(who, task.id, PAGE)
    assert activity.total_count == 2


async def test_hours_roll_up_and_another_organization_sees_nothing(stack: Stack) -> None:
    who, other = _member(), _member()
    op = await stack.operation(who)
    task = await stack.item(who, kind="task", title="score", parent_id=op.id)
    for hours in (1.5, 2.0):
        body = {"work_item_id": task.id, "day": "2026-06-01", "hours": hours}
        await stack.collab.log_time(who, json.dumps(body).encode())
    document, _ = await stack.queries.item(who, op.parent_id or "")
    assert msgspec.json.decode(document)["spent_hours"] == 3.5
    with pytest.raises(NotFound):
        await stack.queries.item(other, task.id)
    page = await stack.queries.items(other, {}, PAGE)
    assert page.total_count == 0
    with pytest.raises(Unprocessable):  # another organization's item is not a reference here
        await stack.depend(other, task.id, op.id)


async def test_a_completed_harvest_task_creates_seed_lots_once(stack: Stack) -> None:
    who = _member()
    germplasm = await stack.resource_commands.create(
        who,
        "germplasm",
        [
            {
                "germplasmName": "IR64",
                "germplasmPUI": f"doi:ops/{uuid.uuid4()}",
                "commonCropName": "Rice",
            }
        ],
    )
    germplasm_id = msgspec.json.decode(germplasm.documents)[0]["germplasmDbId"]
    study = await stack.resource_commands.create(who, "study", [{"studyName": "Harvest 2026"}])
    study_id = msgspec.json.decode(study.documents)[0]["studyDbId"]
    units = await stack.resource_commands.create(
        who,
        "observationunit",
        [
            {
                "observationUnitName": f"plot-{n}",
                "germplasmDbId": germplasm_id,
                "studyDbId": study_id,
                "observationUnitPosition": {
                    "positionCoordinateX": str(n),
                    "positionCoordinateY": "1",
                },
            }
            for n in (1, 2, 3)
        ],
    )
    unit_ids = [d["observationUnitDbId"] for d in msgspec.json.decode(units.documents)]
    op = await stack.operation(who, "harvest")
    task = await stack.item(who, kind="task", title="bag seed", parent_id=op.id, unit_ids=unit_ids)
    task = await stack.items.update(who, task.id, b'{"status":"in_progress"}', None)
    await stack.items.update(who, task.id, b'{"status":"done"}', None)
    (completed,) = stack.outbox(task.id, "operations.work_item.completed")
    event = decode_envelope(completed)
    await stack.harvest(event)
    await stack.harvest(event)  # redelivered
    lots = await stack.resource_queries.list(who, "seedlot", {}, PAGE)
    assert lots.total_count == 3
    documents = msgspec.json.decode(lots.documents)
    assert {d["contentMixture"][0]["germplasmDbId"] for d in documents} == {germplasm_id}
    assert sorted(d["additionalInfo"]["observationUnitDbId"] for d in documents) == sorted(unit_ids)


async def test_board_pages_count_every_item_on_any_page(stack: Stack) -> None:
    who = _member()
    op = await stack.operation(who)
    for n in range(5):
        await stack.item(who, kind="task", title=f"t{n}", parent_id=op.id)
    for number, expected in ((0, ["t0", "t1"]), (2, ["t4"]), (7, [])):
        page = await stack.queries.items(who, {"parent_id": op.id}, PageRequest(number, 2))
        assert [msgspec.json.decode(d)["title"] for d in page.items] == expected
        assert (page.total_count, page.total_pages) == (5, 3)
    small = await stack.queries.items(who, {"parent_id": op.id}, PageRequest(0, 10))
    assert small.total_count == 5


async def test_two_moves_that_renumber_one_board_take_turns(stack: Stack) -> None:
    """Two moves to one place at once both read the board before either wrote: they took
    the same rank, or, where the gap was used up and each renumbered the board, each held
    its own item and updated the other's, and PostgreSQL ended one as a deadlock (a 500
    through the gateway). Moves take the board's turn first (ADR 0352)."""
    who = _member()
    op = await stack.operation(who)
    tasks = [await stack.item(who, kind="task", title=f"t{i}", parent_id=op.id) for i in range(24)]
    anchor = tasks[0].id
    after = json.dumps({"move": {"after": anchor}}).encode()
    for _ in range(3):
        for task in tasks[1:18]:  # each halves the gap after the anchor, then it is gone
            await stack.items.update(who, task.id, after, None)
        ended = await asyncio.gather(
            stack.items.update(who, tasks[20].id, after, None),
            stack.items.update(who, tasks[21].id, after, None),
            return_exceptions=True,
        )
        assert [e for e in ended if isinstance(e, BaseException)] == []
    with psycopg.connect(stack.owner_url) as conn:
        ranks = conn.execute(
            "SELECT rank FROM domain.ops_work_items WHERE parent_id = %s", (op.id,)
        ).fetchall()
    assert len({r[0] for r in ranks}) == len(tasks)  # every item its own place
