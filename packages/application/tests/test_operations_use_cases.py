"""Operations use cases against the in-memory fakes: hierarchy, state machine guards,
ETags, dependencies, comments, time, activity, burndown and the breeding links."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from bijmantra.application.events import EventEnvelope
from bijmantra.application.operations import (
    BreedingLinks,
    Collaboration,
    OperationsQueries,
    RecordHarvest,
    SeasonCommands,
    WorkItemCommands,
    dto,
    harvest_lot_id,
)
from bijmantra.domain.operations import WorkItem
from bijmantra.kernel import (
    Conflict,
    FixedClock,
    Forbidden,
    NotFound,
    PageRequest,
    PreconditionFailed,
    Principal,
    TenantId,
    Unprocessable,
    ValidationFailed,
)
from bijmantra.testkit.fakes import InMemoryDatabase, fake_unit_of_work_factory
from bijmantra.testkit.operations import FakeBreedingRecords

TENANT = TenantId(uuid.UUID(int=1))
BREEDER = Principal("breeder", TENANT, frozenset({"breeder"}))
VIEWER = Principal("viewer", TENANT, frozenset({"viewer"}))
OUTSIDER = Principal("other", TenantId(uuid.UUID(int=2)), frozenset({"breeder"}))
CLOCK = FixedClock(datetime(2026, 6, 3, 12, tzinfo=UTC))
PAGE = PageRequest(0, 100)


class World:
    def __init__(self) -> None:
        self.db = InMemoryDatabase()
        uow = fake_unit_of_work_factory(self.db)
        self.records = FakeBreedingRecords()
        self.items = WorkItemCommands(uow, CLOCK)
        self.seasons = SeasonCommands(uow, CLOCK)
        self.collab = Collaboration(uow, CLOCK)
        self.queries = OperationsQueries(uow, CLOCK)
        self.links = BreedingLinks(uow, self.records)
        self.harvest = RecordHarvest(uow, self.records)

    async def item(self, who: Principal = BREEDER, **fields: Any) -> WorkItem:
        return await self.items.create(who, json.dumps(fields).encode())

    async def tree(self, operation_type: str = "planting", **task: Any) -> tuple[WorkItem, ...]:
        plan = await self.item(kind="plan", title="Kharif 2026")
        op = await self.item(
            kind="operation", title="Op", parent_id=plan.id, operation_type=operation_type
        )
        first = await self.item(kind="task", title="t1", parent_id=op.id, **task)
        return plan, op, first

    async def set(self, item: WorkItem, if_match: str | None = None, **fields: Any) -> WorkItem:
        return await self.items.update(BREEDER, item.id, json.dumps(fields).encode(), if_match)

    async def depend(self, before: WorkItem, after: WorkItem) -> None:
        body = {"predecessor_id": before.id, "successor_id": after.id}
        await self.collab.depend(BREEDER, json.dumps(body).encode())

    def events(self, event_type: str) -> list[EventEnvelope]:
        return [e for e in self.db.outbox if e.type == event_type]


@pytest.fixture
def world() -> World:
    return World()


async def test_the_hierarchy_is_plan_operation_task_and_tasks_inherit_their_work(
    world: World,
) -> None:
    plan, op, task = await world.tree("harvest")
    assert (task.root_id, task.parent_id, str(task.operation_type)) == (plan.id, op.id, "harvest")
    assert task.rank < (await world.item(kind="task", title="t2", parent_id=op.id)).rank
    for bad in (
        {"kind": "task", "title": "orphan"},
        {"kind": "task", "title": "x", "parent_id": plan.id},
        {"kind": "operation", "title": "x", "parent_id": plan.id},  # no operation_type
        {"kind": "plan", "title": "x", "parent_id": plan.id},
        {"kind": "operation", "title": "x", "parent_id": op.id, "operation_type": "other"},
        {"kind": "task", "title": " ", "parent_id": op.id},
        {"kind": "task", "title": "x", "parent_id": op.id, "estimate_hours": -1},
        {"kind": "task", "title": "x", "parent_id": op.id, "assignees": ["a", "a"]},
        {"kind": "task", "title": "x", "parent_id": op.id, "unit_ids": ["u"] * 10_001},
        {"kind": "task", "title": "x", "parent_id": op.id, "surprise": 1},
        {"kind": "epic", "title": "x"},
    ):
        with pytest.raises(ValidationFailed):
            await world.item(**bad)
    with pytest.raises(Unprocessable):
        await world.item(kind="task", title="x", parent_id="no-such-item")
    assert len(world.events("operations.work_item.created")) == 4


async def test_only_tasks_are_planned_into_an_existing_season(world: World) -> None:
    _, op, task = await world.tree()
    season = await world.seasons.create(
        BREEDER, b'{"name":"S1","starts_on":"2026-06-01","ends_on":"2026-06-05"}'
    )
    assert (await world.set(task, season_id=season.id)).season_id == season.id
    with pytest.raises(ValidationFailed):
        await world.set(op, season_id=season.id)
    with pytest.raises(Unprocessable):
        await world.set(task, season_id="missing")


async def test_a_blocked_start_is_refused_until_the_blocker_is_finished(world: World) -> None:
    _, op, first = await world.tree()
    second = await world.item(kind="task", title="t2", parent_id=op.id)
    await world.depend(first, second)
    with pytest.raises(Conflict, match="blocker"):
        await world.set(second, status="in_progress")
    first = await world.set(first, status="in_progress")
    await world.set(first, status="done")
    assert (await world.set(second, status="in_progress")).status.value == "in_progress"


async def test_done_needs_children_done_and_a_done_parent_takes_no_new_or_reopened_work(
    world: World,
) -> None:
    _, op, task = await world.tree()
    op = await world.set(op, status="in_progress")
    with pytest.raises(Conflict, match="children"):
        await world.set(op, status="done")
    task = await world.set(task, status="in_progress")
    task = await world.set(task, status="done")
    op = await world.set(op, status="done")
    assert op.completed_at == CLOCK.now()
    with pytest.raises(Conflict):
        await world.item(kind="task", title="late", parent_id=op.id)
    with pytest.raises(Conflict, match="parent"):
        await world.set(task, status="in_progress")
    with pytest.raises(Conflict):
        await world.set(task, status="blocked")  # done -> blocked is not in the table


async def test_a_stale_if_match_is_412_and_changes_nothing(world: World) -> None:
    _, _, task = await world.tree()
    fresh = await world.set(task, if_match=task.etag, title="renamed")
    assert fresh.version == task.version + 1
    before = (len(world.db.outbox), await world.queries.item(BREEDER, task.id))
    with pytest.raises(PreconditionFailed):
        await world.set(task, if_match=task.etag, title="lost update", status="in_progress")
    assert (len(world.db.outbox), await world.queries.item(BREEDER, task.id)) == before
    activity = await world.queries.activity(BREEDER, task.id, PAGE)
    assert activity.total_count == 2  # created, renamed: the refused write logged nothing


async def test_every_change_is_logged_with_old_and_new_values(world: World) -> None:
    _, _, task = await world.tree()
    await world.set(task, title="Sow block 3", priority="high", assignees=["ana"])
    unchanged = await world.set(task, title="Sow block 3")
    assert unchanged.version == 2  # nothing differed: no new version, no event, no entry
    page = await world.queries.activity(BREEDER, task.id, PAGE)
    last = msgspec.json.decode(page.items[-1])
    assert last["actor"] == "breeder"
    assert {c["field"]: (c["old"], c["new"]) for c in last["changes"]} == {
        "title": ("t1", "Sow block 3"),
        "priority": ("normal", "high"),
        "assignees": ([], ["ana"]),
    }
    assert page.total_count == 2
    assert len(world.events("operations.work_item.updated")) == 1


async def test_a_dependency_cycle_is_422_and_stores_nothing(world: World) -> None:
    _, op, a = await world.tree()
    b = await world.item(kind="task", title="b", parent_id=op.id)
    c = await world.item(kind="task", title="c", parent_id=op.id)
    await world.depend(a, b)
    await world.depend(b, c)
    events = len(world.db.outbox)
    for tail, head in ((c, a), (b, a), (a, a)):
        with pytest.raises(Unprocessable, match="cycle"):
            await world.depend(tail, head)
    assert len(world.db.outbox) == events
    await world.depend(a, c)  # a shortcut is not a cycle
    await world.depend(a, c)  # nor is repeating an edge: stored once, no second event
    assert len(world.events("operations.dependency.added")) == 3
    page = await world.queries.dependencies(BREEDER, a.id, PAGE)
    assert page.total_count == 2
    await world.collab.undepend(BREEDER, b.id, c.id)
    await world.depend(c, b)  # the edge is gone, so the reverse is allowed now
    with pytest.raises(NotFound):
        await world.collab.undepend(BREEDER, b.id, c.id)


async def test_time_rolls_up_to_parents_and_feeds_the_burndown(world: World) -> None:
    plan, op, task = await world.tree()
    season = await world.seasons.create(
        BREEDER,
        b'{"name":"S1","starts_on":"2026-06-01","ends_on":"2026-06-05","capacity_hours":10}',
    )
    task = await world.set(task, season_id=season.id, estimate_hours=6)
    other = await world.item(
        kind="task", title="t2", parent_id=op.id, season_id=season.id, estimate_hours=8
    )
    for item, day, hours in ((task, "2026-06-01", 2.5), (other, "2026-06-02", 4)):
        body = {"work_item_id": item.id, "day": day, "hours": hours}
        await world.collab.log_time(BREEDER, json.dumps(body).encode())
    for bad in (-1, 25, "x"):
        body = {"work_item_id": task.id, "day": "2026-06-01", "hours": bad}
        with pytest.raises(ValidationFailed):
            await world.collab.log_time(BREEDER, json.dumps(body).encode())
    spent = {}
    for item in (plan, op, task):
        document, _ = await world.queries.item(BREEDER, item.id)
        spent[item.id] = msgspec.json.decode(document)["spent_hours"]
    assert spent == {plan.id: 6.5, op.id: 6.5, task.id: 2.5}
    task = await world.set(task, status="in_progress")
    await world.set(task, status="done")
    chart = msgspec.json.decode(await world.queries.burndown(BREEDER, season.id))
    assert chart["committed_hours"] == 14
    assert chart["over_capacity"] is True
    assert [p["logged_hours"] for p in chart["points"]] == [2.5, 6.5, 6.5]
    assert [p["remaining_hours"] for p in chart["points"]] == [14, 14, 8]


async def test_comments_and_reads_are_tenant_scoped_and_role_checked(world: World) -> None:
    _, _, task = await world.tree()
    await world.collab.comment(BREEDER, task.id, b'{"body":"Rain expected"}')
    with pytest.raises(ValidationFailed):
        await world.collab.comment(BREEDER, task.id, b'{"body":""}')
    with pytest.raises(NotFound):
        await world.queries.item(OUTSIDER, task.id)
    with pytest.raises(NotFound):
        await world.collab.comment(OUTSIDER, task.id, b'{"body":"x"}')
    with pytest.raises(Forbidden):
        await world.items.update(VIEWER, task.id, b'{"title":"x"}', None)
    page = await world.queries.comments(VIEWER, task.id, PAGE)
    assert [msgspec.json.decode(c)["body"] for c in page.items] == ["Rain expected"]


async def test_moves_keep_to_the_board_and_renumber_when_the_gap_runs_out(world: World) -> None:
    _, op, a = await world.tree()
    b = await world.item(kind="task", title="b", parent_id=op.id)
    c = await world.item(kind="task", title="c", parent_id=op.id)
    for _ in range(20):  # halving the gap each time uses it up and forces a renumbering
        c = await world.set(c, move={"after": a.id})
        b = await world.set(b, move={"after": a.id})
    page = await world.queries.items(BREEDER, {"parent_id": op.id}, PAGE)
    assert [msgspec.json.decode(d)["title"] for d in page.items] == ["t1", "b", "c"]
    await world.set(a, move={"before": b.id})
    with pytest.raises(Unprocessable):
        await world.set(a, move={"after": op.id})
    with pytest.raises(ValidationFailed):
        await world.queries.items(BREEDER, {"status": "nope"}, PAGE)


def _unit(unit_id: str, x: Any, y: Any, **extra: Any) -> dict[str, Any]:
    position = {"positionCoordinateX": x, "positionCoordinateY": y}
    return {"observationUnitDbId": unit_id, "observationUnitPosition": position, **extra}


async def test_plot_order_follows_the_studys_layout(world: World) -> None:
    world.db.documents[(TENANT, "study", "st1")] = b'{"studyDbId":"st1"}'
    world.records.units[TENANT] = [
        {**_unit(f"{x}{y}", str(x), str(y)), "studyDbId": "st1"} for x in (1, 2) for y in (1, 2)
    ] + [{"observationUnitDbId": "loose", "studyDbId": "st1"}]
    _, op, _ = await world.tree("planting", study_id="st1")
    op = await world.set(op, study_id="st1")
    order = msgspec.json.decode(await world.links.plot_order(BREEDER, op.id, "serpentine"))
    assert [p["observation_unit_id"] for p in order["plots"]] == ["11", "21", "22", "12"]
    assert order["unpositioned"] == ["loose"]
    with pytest.raises(Unprocessable):
        await world.links.plot_order(BREEDER, op.id, "spiral")


async def test_a_study_or_location_an_item_names_must_be_the_organizations(world: World) -> None:
    """Another organization's study or location, or none at all, is a 422 naming the field
    (ADR 0325), on create and on edit; a harvest at such a location failed its lots later."""
    world.db.documents[(TENANT, "study", "st1")] = b'{"studyDbId":"st1"}'
    world.db.documents[(TENANT, "location", "l1")] = b'{"locationDbId":"l1"}'
    _, op, task = await world.tree("harvest", study_id="st1", location_id="l1")
    assert (task.study_id, task.location_id) == ("st1", "l1")
    outbox = len(world.db.outbox)
    with pytest.raises(Unprocessable) as refused:
        await world.item(kind="task", title="t", parent_id=op.id, study_id="x", location_id="y")
    assert [e.location for e in refused.value.details] == ["study_id", "location_id"]
    with pytest.raises(Unprocessable) as refused:
        await world.set(task, location_id="elsewhere")
    assert [e.location for e in refused.value.details] == ["location_id"]
    foreign = await world.item(OUTSIDER, kind="plan", title="Theirs")
    with pytest.raises(Unprocessable):
        await world.item(
            OUTSIDER,
            kind="operation",
            title="o",
            parent_id=foreign.id,
            operation_type="harvest",
            study_id="st1",
        )
    assert len(world.db.outbox) == outbox + 1  # only the outsider's own plan
    assert (await world.set(task, title="renamed")).location_id == "l1"  # unchanged: not re-read


def held(world: World, entity: str, *db_ids: str) -> None:
    """Records of ``entity`` the organization holds, for an item to name."""
    for db_id in db_ids:
        world.db.documents[(TENANT, entity, db_id)] = b"{}"


async def test_units_and_variables_an_item_names_are_the_organizations(world: World) -> None:
    """Another organization's (or unknown) unit and variable ids were kept (ADR 0378)."""
    held(world, "observationunit", "u1")
    held(world, "observationvariable", "height")
    _, op, task = await world.tree("phenotyping_round", unit_ids=["u1"], variable_ids=["height"])
    for fields in ({"unit_ids": ["u1", "theirs"]}, {"variable_ids": ["height", "theirs"]}):
        with pytest.raises(Unprocessable) as refused:
            await world.item(kind="task", title="x", parent_id=op.id, **fields)
        [detail] = refused.value.details
        assert (detail.location, "'theirs'" in detail.message) == (next(iter(fields)), True)
        with pytest.raises(Unprocessable):
            await world.set(task, **fields)
    assert (await world.set(task, title="renamed")).unit_ids == ("u1",)  # kept: not re-read


async def test_a_harvest_creates_its_seed_lots_once_under_redelivery(world: World) -> None:
    held(world, "observationunit", "u1", "u2")
    world.records.units[TENANT] = [
        _unit("u1", "1", "1", germplasmDbId="g1"),
        _unit("u2", "2", "1", germplasmDbId="g2"),
    ]
    _, _, task = await world.tree("harvest", unit_ids=["u1", "u2"])
    task = await world.set(task, status="in_progress")
    await world.set(task, status="done")
    (completed,) = world.events("operations.work_item.completed")
    await world.harvest(completed)
    await world.harvest(completed)  # redelivered
    lots = world.records.seed_lots[TENANT]
    assert sorted(lots) == sorted(harvest_lot_id(task.id, u) for u in ("u1", "u2"))
    assert {lot["contentMixture"][0]["germplasmDbId"] for lot in lots.values()} == {"g1", "g2"}
    # Reopened and completed again: a new event, still no second set of lots.
    task = await world.set(task, status="in_progress")
    await world.set(task, status="done")
    await world.harvest(world.events("operations.work_item.completed")[-1])
    assert len(world.records.seed_lots[TENANT]) == 2


async def test_a_phenotyping_round_shows_progress_from_arrived_observations(world: World) -> None:
    held(world, "observationunit", "u1", "u2")
    held(world, "observationvariable", "height", "flowering")
    _, _, task = await world.tree(
        "phenotyping_round", unit_ids=["u1", "u2"], variable_ids=["height", "flowering"]
    )
    world.records.observations[TENANT] = [
        {"observationUnitDbId": "u1", "observationVariableDbId": "height"},
        {"observationUnitDbId": "u2", "observationVariableDbId": "height"},
        {"observationUnitDbId": "u2", "observationVariableDbId": "flowering"},
        {"observationUnitDbId": "u9", "observationVariableDbId": "height"},
    ]
    progress = msgspec.json.decode(await world.links.round_progress(BREEDER, task.id))
    assert (progress["expected"], progress["observed"], progress["complete"]) == (4, 3, False)
    assert progress["units_missing"] == ["u1"]


async def test_every_answer_is_the_document_the_contract_publishes(world: World) -> None:
    """What each query answers decodes strictly into the struct ``/openapi.json`` publishes for
    it (``operations.dto``): a key added to a record but not declared there fails here."""
    _, op, task = await world.tree()
    season = await world.seasons.create(
        BREEDER, b'{"name":"S1","starts_on":"2026-06-01","ends_on":"2026-06-05"}'
    )
    task = await world.set(task, season_id=season.id, estimate_hours=6, due="2026-06-04")
    other = await world.item(kind="task", title="t2", parent_id=op.id, season_id=season.id)
    time = {"work_item_id": task.id, "day": "2026-06-01", "hours": 2.5}
    await world.collab.log_time(BREEDER, json.dumps(time).encode())
    await world.collab.comment(BREEDER, task.id, b'{"body":"Rain expected"}')
    edge = {"predecessor_id": task.id, "successor_id": other.id}
    await world.collab.depend(BREEDER, json.dumps(edge).encode())
    pages = {
        dto.CommentDocument: world.queries.comments,
        dto.TimeEntryDocument: world.queries.time_entries,
        dto.DependencyDocument: world.queries.dependencies,
        dto.WorkItemActivityDocument: world.queries.activity,
    }
    for kind, read in pages.items():
        page = await read(BREEDER, task.id, PAGE)
        assert [msgspec.json.decode(document, type=kind) for document in page.items]
    document, _ = await world.queries.item(BREEDER, task.id)
    assert msgspec.json.decode(document, type=dto.WorkItemDocument).spent_hours == 2.5
    listed = await world.queries.items(BREEDER, {"parent_id": op.id}, PAGE)
    assert [msgspec.json.decode(d, type=dto.WorkItemDocument) for d in listed.items]
    chart = await world.queries.burndown(BREEDER, season.id)
    assert msgspec.json.decode(chart, type=dto.BurndownDocument).points
    with pytest.raises(msgspec.ValidationError):  # the check can fail
        msgspec.json.decode(b'{"body":"x"}', type=dto.CommentDocument)
