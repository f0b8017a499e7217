"""Ports of the operations context: its store (inside a unit of work) and the breeding data
it reads and writes through the BrAPI engine's application services."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from bijmantra.domain.operations import (
    ActivityEntry,
    Comment,
    Dependency,
    Kind,
    Ordered,
    Season,
    Status,
    TimeEntry,
    WorkItem,
)
from bijmantra.kernel import Page, PageRequest, Principal

if TYPE_CHECKING:
    from bijmantra.application.events.envelope import EventEnvelope


@dataclass(frozen=True, slots=True)
class ItemFilter:
    """A board page: every given field must match. ``parent_id`` is the board of an
    operation or plan, ``season_id`` the season's board."""

    parent_id: str | None = None
    season_id: str | None = None
    status: Status | None = None
    kind: Kind | None = None
    assignee: str | None = None


@dataclass(frozen=True, slots=True)
class SeasonTask:
    estimate_hours: float
    status: Status
    completed_at: datetime | None


class OperationsRepository(Protocol):
    """Seasons, work items and their records of the unit of work's organization."""

    async def add_season(self, season: Season) -> None: ...

    async def get_season(self, season_id: str, *, for_update: bool = False) -> Season | None: ...

    async def save_season(self, season: Season) -> None: ...

    async def seasons(self, page: PageRequest) -> Page[Season]: ...

    async def add_item(self, item: WorkItem) -> None:
        """Store a new item; it takes the next position of the dependency order."""
        ...

    async def get_item(self, item_id: str, *, for_update: bool = False) -> WorkItem | None: ...

    async def get_items(self, item_ids: Sequence[str]) -> dict[str, WorkItem]:
        """The items found among ``item_ids`` (one read for several)."""
        ...

    async def save_item(self, item: WorkItem) -> None: ...

    async def items(self, where: ItemFilter, page: PageRequest) -> Page[WorkItem]:
        """Items in board order (rank, then id)."""
        ...

    async def board_ranks(self, parent_id: str | None) -> list[tuple[str, int]]:
        """(id, rank) of every item of one board (same parent), in rank order."""
        ...

    async def set_ranks(self, ranks: dict[str, int]) -> None: ...

    async def lock_board(self, parent_id: str | None) -> None:
        """Serialize moves on one board (the children of ``parent_id``, or the roots) of the
        organization until the transaction ends: a move may renumber every item of it."""
        ...

    async def last_rank(self, parent_id: str | None) -> int | None: ...

    async def open_children(self, item_id: str) -> int: ...

    async def open_blockers(self, item_id: str) -> int: ...

    async def spent_hours(self, item_id: str) -> float:
        """Hours logged on the item and everything under it."""
        ...

    async def lock_graph(self) -> None:
        """Serialize dependency writes of the organization until the transaction ends."""
        ...

    async def orders(self, item_ids: Sequence[str]) -> dict[str, int]: ...

    async def reachable(self, start: str, *, max_order: int) -> list[Ordered]:
        """Items reachable from ``start`` (itself included) in the waiting graph (dependencies
        forward, child to parent), through items whose order is at most ``max_order``; each
        marks whether dependencies alone reach it (ADR 0344)."""
        ...

    async def reaching(self, start: str, *, min_order: int) -> list[Ordered]:
        """Items from which ``start`` (itself included) is reachable in the waiting graph
        (dependencies backward, parent to child), through items whose order is at least
        ``min_order``."""
        ...

    async def set_orders(self, orders: dict[str, int]) -> None: ...

    async def add_dependency(self, dependency: Dependency) -> bool:
        """False when the edge already exists."""
        ...

    async def remove_dependency(self, predecessor_id: str, successor_id: str) -> bool: ...

    async def dependencies(self, item_id: str, page: PageRequest) -> Page[Dependency]:
        """Edges into and out of the item."""
        ...

    async def add_comment(self, comment: Comment) -> None: ...

    async def comments(self, item_id: str, page: PageRequest) -> Page[Comment]: ...

    async def add_time_entry(self, entry: TimeEntry) -> None: ...

    async def time_entries(self, item_id: str, page: PageRequest) -> Page[TimeEntry]: ...

    async def log(self, entry: ActivityEntry) -> None: ...

    async def activity(self, item_id: str, page: PageRequest) -> Page[ActivityEntry]: ...

    async def season_tasks(self, season_id: str) -> list[SeasonTask]: ...

    async def season_hours(self, season_id: str) -> list[tuple[date, float]]:
        """(day, hours) of every time entry on the season's tasks."""
        ...

    async def first_delivery(self, consumer: str, event: EventEnvelope) -> bool:
        """Record that ``consumer`` handled the event; False when it already had."""
        ...


class BreedingRecords(Protocol):
    """Studies, plots, observations and seed lots, owned by the BrAPI contexts and reached
    only through their application services."""

    async def plots(
        self, principal: Principal, *, study_id: str | None, unit_ids: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Observation units (BrAPI documents): the given ones, or else the study's."""
        ...

    async def observed(
        self, principal: Principal, unit_ids: Sequence[str], variable_ids: Sequence[str]
    ) -> set[tuple[str, str]]:
        """(unit, variable) pairs that have at least one observation."""
        ...

    async def create_seed_lots(
        self, uow: Any, principal: Principal, lots: Sequence[tuple[str, dict[str, Any]]]
    ) -> int:
        """Create the seed lots (``(seedLotDbId, SeedLotNewRequest)``) in ``uow``'s
        transaction, skipping ids that exist; return how many were new."""
        ...
