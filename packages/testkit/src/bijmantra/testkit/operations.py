"""In-memory ``OperationsRepository`` and ``BreedingRecords`` for use-case tests.

The repository works on a copy of the tenant's state and writes it back only on commit,
as a transaction would; region searches follow the same bounded-order contract as the
PostgreSQL CTEs.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from bijmantra.application.events import EventEnvelope
from bijmantra.application.ports.operations import ItemFilter, SeasonTask
from bijmantra.domain.operations import (
    ActivityEntry,
    Comment,
    Dependency,
    Ordered,
    Season,
    TimeEntry,
    WorkItem,
)
from bijmantra.domain.operations.graph import reachable
from bijmantra.kernel import Page, PageRequest, Principal, TenantId

T = TypeVar("T")


@dataclass
class OperationsState:
    seasons: dict[str, Season] = field(default_factory=dict)
    items: dict[str, WorkItem] = field(default_factory=dict)
    order: dict[str, int] = field(default_factory=dict)
    edges: dict[tuple[str, str], Dependency] = field(default_factory=dict)
    comments: list[Comment] = field(default_factory=list)
    time: list[TimeEntry] = field(default_factory=list)
    activity: list[ActivityEntry] = field(default_factory=list)
    processed: set[tuple[str, str]] = field(default_factory=set)


def _page(items: list[T], page: PageRequest) -> Page[T]:
    return Page(items[page.offset : page.offset + page.page_size], page, len(items))


def reaches(edges: Iterable[tuple[int, int]], start: int, goal: int) -> bool:
    """Plain reachability over a list of edges: the oracle the cycle checks are tested by."""
    successors: dict[int, set[int]] = {}
    for tail, head in edges:
        successors.setdefault(tail, set()).add(head)
    return goal in reachable(start, lambda n: successors.get(n, ()), lambda _: True)


def deadlocks(parents: dict[int, int | None], dependencies: Iterable[tuple[int, int]]) -> bool:
    """The oracle of the hierarchy-aware check, from the rules themselves: whether the graph
    of events (``(item, "start")``, ``(item, "finish")``) with ``P.finish -> S.start`` per
    dependency, ``X.start -> X.finish`` and ``child.finish -> parent.finish`` has a cycle
    (plain three-colour DFS, sharing no code with the check)."""
    after: dict[tuple[int, str], list[tuple[int, str]]] = {}
    for item, parent in parents.items():
        after.setdefault((item, "start"), []).append((item, "finish"))
        if parent is not None:
            after.setdefault((item, "finish"), []).append((parent, "finish"))
    for tail, head in dependencies:
        after.setdefault((tail, "finish"), []).append((head, "start"))
    colour: dict[tuple[int, str], int] = {}  # absent: new, 1: on the stack, 2: done
    for root in list(after):
        if root in colour:
            continue
        colour[root], stack = 1, [(root, iter(after.get(root, ())))]
        while stack:
            node, rest = stack[-1]
            nxt = next(rest, None)
            if nxt is None:
                colour[node] = 2
                stack.pop()
            elif colour.get(nxt) == 1:
                return True
            elif nxt not in colour:
                colour[nxt] = 1
                stack.append((nxt, iter(after.get(nxt, ()))))
    return False


class FakeOperationsRepository:
    def __init__(self, tenants: dict[TenantId, OperationsState], tenant: TenantId) -> None:
        self._tenants, self._tenant = tenants, tenant
        self.state = copy.deepcopy(tenants.get(tenant, OperationsState()))
        self.graph_locked = False
        self.boards_locked: list[str | None] = []

    def commit(self) -> None:
        self._tenants[self._tenant] = self.state

    async def add_season(self, season: Season) -> None:
        self.state.seasons[season.id] = season

    async def get_season(self, season_id: str, *, for_update: bool = False) -> Season | None:
        return self.state.seasons.get(season_id)

    async def save_season(self, season: Season) -> None:
        self.state.seasons[season.id] = season

    async def seasons(self, page: PageRequest) -> Page[Season]:
        ordered = sorted(self.state.seasons.values(), key=lambda s: (s.starts_on, s.id))
        return _page(ordered, page)

    async def add_item(self, item: WorkItem) -> None:
        assert item.tenant_id == self._tenant, "row-level security would reject this"
        self.state.items[item.id] = item
        # Below every other item: a new item's only edge is to its parent (ADR 0344).
        self.state.order[item.id] = min(self.state.order.values(), default=0) - 1

    async def get_item(self, item_id: str, *, for_update: bool = False) -> WorkItem | None:
        return self.state.items.get(item_id)

    async def get_items(self, item_ids: Sequence[str]) -> dict[str, WorkItem]:
        return {i: self.state.items[i] for i in item_ids if i in self.state.items}

    async def save_item(self, item: WorkItem) -> None:
        self.state.items[item.id] = item

    async def items(self, where: ItemFilter, page: PageRequest) -> Page[WorkItem]:
        def keep(i: WorkItem) -> bool:
            return (
                (where.parent_id is None or i.parent_id == where.parent_id)
                and (where.season_id is None or i.season_id == where.season_id)
                and (where.status is None or i.status is where.status)
                and (where.kind is None or i.kind is where.kind)
                and (where.assignee is None or where.assignee in i.assignees)
            )

        found = sorted(
            (i for i in self.state.items.values() if keep(i)), key=lambda i: (i.rank, i.id)
        )
        return _page(found, page)

    async def board_ranks(self, parent_id: str | None) -> list[tuple[str, int]]:
        board = [i for i in self.state.items.values() if i.parent_id == parent_id]
        return [(i.id, i.rank) for i in sorted(board, key=lambda i: (i.rank, i.id))]

    async def set_ranks(self, ranks: dict[str, int]) -> None:
        for item_id, rank in ranks.items():
            item = self.state.items[item_id]
            assert item.parent_id in self.boards_locked, "a renumbering holds its board's lock"
            self.state.items[item_id] = dataclasses.replace(
                item, rank=rank, version=item.version + 1
            )

    async def last_rank(self, parent_id: str | None) -> int | None:
        return max((r for _, r in await self.board_ranks(parent_id)), default=None)

    async def open_children(self, item_id: str) -> int:
        return sum(
            1 for i in self.state.items.values() if i.parent_id == item_id and not i.status.finished
        )

    async def open_blockers(self, item_id: str) -> int:
        return sum(
            1
            for (tail, head) in self.state.edges
            if head == item_id and not self.state.items[tail].status.finished
        )

    async def spent_hours(self, item_id: str) -> float:
        under = {
            i.id for i in self.state.items.values() if item_id in (i.id, i.parent_id, i.root_id)
        }
        return round(sum(e.hours for e in self.state.time if e.work_item_id in under), 6)

    async def lock_graph(self) -> None:
        self.graph_locked = True

    async def lock_board(self, parent_id: str | None) -> None:
        self.boards_locked.append(parent_id)

    async def orders(self, item_ids: Sequence[str]) -> dict[str, int]:
        return {i: self.state.order[i] for i in item_ids if i in self.state.order}

    def _step(self, forward: bool) -> Callable[[str], list[str]]:
        """One step in the waiting graph: dependencies and the parent link, or their reverse."""
        items = self.state.items

        def step(node: str) -> list[str]:
            if forward:
                above = items[node].parent_id
                return [h for (t, h) in self.state.edges if t == node] + (
                    [above] if above is not None else []
                )
            below = [i.id for i in items.values() if i.parent_id == node]
            return [t for (t, h) in self.state.edges if h == node] + below

        return step

    async def reachable(self, start: str, *, max_order: int) -> list[Ordered]:
        order = self.state.order

        def inside(n: str) -> bool:
            return order[n] <= max_order

        by_dependencies = reachable(
            start, lambda n: [h for (t, h) in self.state.edges if t == n], inside
        )
        found = reachable(start, self._step(True), inside)
        return [Ordered(n, order[n], n in by_dependencies) for n in found]

    async def reaching(self, start: str, *, min_order: int) -> list[Ordered]:
        order = self.state.order
        found = reachable(start, self._step(False), lambda n: order[n] >= min_order)
        return [Ordered(n, order[n]) for n in found]

    async def set_orders(self, orders: dict[str, int]) -> None:
        self.state.order.update(orders)

    async def add_dependency(self, dependency: Dependency) -> bool:
        assert self.graph_locked, "dependency writes hold the graph lock"
        key = (dependency.predecessor_id, dependency.successor_id)
        if key in self.state.edges:
            return False
        self.state.edges[key] = dependency
        return True

    async def remove_dependency(self, predecessor_id: str, successor_id: str) -> bool:
        return self.state.edges.pop((predecessor_id, successor_id), None) is not None

    async def dependencies(self, item_id: str, page: PageRequest) -> Page[Dependency]:
        found = [d for k, d in self.state.edges.items() if item_id in k]
        return _page(sorted(found, key=lambda d: (d.created_at, d.predecessor_id)), page)

    async def add_comment(self, comment: Comment) -> None:
        self.state.comments.append(comment)

    async def comments(self, item_id: str, page: PageRequest) -> Page[Comment]:
        return _page([c for c in self.state.comments if c.work_item_id == item_id], page)

    async def add_time_entry(self, entry: TimeEntry) -> None:
        self.state.time.append(entry)

    async def time_entries(self, item_id: str, page: PageRequest) -> Page[TimeEntry]:
        return _page([e for e in self.state.time if e.work_item_id == item_id], page)

    async def log(self, entry: ActivityEntry) -> None:
        self.state.activity.append(entry)

    async def activity(self, item_id: str, page: PageRequest) -> Page[ActivityEntry]:
        return _page([a for a in self.state.activity if a.work_item_id == item_id], page)

    async def season_tasks(self, season_id: str) -> list[SeasonTask]:
        return [
            SeasonTask(i.estimate_hours, i.status, i.completed_at)
            for i in self.state.items.values()
            if i.season_id == season_id
        ]

    async def season_hours(self, season_id: str) -> list[tuple[date, float]]:
        tasks = {i.id for i in self.state.items.values() if i.season_id == season_id}
        return [(e.day, e.hours) for e in self.state.time if e.work_item_id in tasks]

    async def first_delivery(self, consumer: str, event: EventEnvelope) -> bool:
        key = (consumer, event.id)
        if key in self.state.processed:
            return False
        self.state.processed.add(key)
        return True


@dataclass
class FakeBreedingRecords:
    """Observation units, observations and seed lots kept in memory per tenant."""

    units: dict[TenantId, list[dict[str, Any]]] = field(default_factory=dict)
    observations: dict[TenantId, list[dict[str, Any]]] = field(default_factory=dict)
    seed_lots: dict[TenantId, dict[str, dict[str, Any]]] = field(default_factory=dict)

    async def plots(
        self, principal: Principal, *, study_id: str | None, unit_ids: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        mine = self.units.get(principal.tenant_id, [])
        if unit_ids:
            wanted = set(unit_ids)
            return [u for u in mine if u["observationUnitDbId"] in wanted]
        return [u for u in mine if study_id is not None and u.get("studyDbId") == study_id]

    async def observed(
        self, principal: Principal, unit_ids: Sequence[str], variable_ids: Sequence[str]
    ) -> set[tuple[str, str]]:
        units, variables = set(unit_ids), set(variable_ids)
        return {
            (o["observationUnitDbId"], o["observationVariableDbId"])
            for o in self.observations.get(principal.tenant_id, [])
            if o["observationUnitDbId"] in units and o["observationVariableDbId"] in variables
        }

    async def create_seed_lots(
        self, uow: Any, principal: Principal, lots: Sequence[tuple[str, dict[str, Any]]]
    ) -> int:
        mine = self.seed_lots.setdefault(principal.tenant_id, {})
        fresh = [(i, d) for i, d in lots if i not in mine]
        mine.update(fresh)
        return len(fresh)
