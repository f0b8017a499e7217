"""Reading the operations context: items with their rolled-up hours, board pages, seasons
with their burndown, and an item's comments, time entries, dependencies and activity."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from bijmantra.application.operations.dto import (
    burndown_data,
    dependency_data,
    encode,
    item_data,
    season_data,
)
from bijmantra.application.operations.items import READ, item_or_404, season_or_404
from bijmantra.application.ports import UnitOfWork
from bijmantra.application.ports.operations import ItemFilter, OperationsRepository
from bijmantra.application.use_case import ClockedUseCase, organization_unit
from bijmantra.domain.operations import (
    Kind,
    PlannedTask,
    Status,
    burndown,
    json_ready,
)
from bijmantra.domain.operations.burndown import committed_hours
from bijmantra.kernel import (
    FieldError,
    Page,
    PageRequest,
    Principal,
    ValidationFailed,
)

T = TypeVar("T")
ItemRecords = Callable[[str, PageRequest], Awaitable[Page[T]]]
FILTERS = ("parent_id", "season_id", "status", "kind", "assignee")
MAX_FILTER = 256


def item_filter(query: Mapping[str, str]) -> ItemFilter:
    """Query parameters of a board page; unknown or bad values are a 422 naming them."""
    problems = [FieldError(k, "unknown filter") for k in query if k not in FILTERS]
    problems += [
        FieldError(k, f"1 to {MAX_FILTER} characters")
        for k, v in query.items()
        if not v or len(v) > MAX_FILTER
    ]
    values: dict[str, Any] = {k: v for k, v in query.items() if k in FILTERS}
    for name, kind in (("status", Status), ("kind", Kind)):
        if name in values:
            try:
                values[name] = kind(values[name])
            except ValueError:
                problems.append(FieldError(name, f"one of {[m.value for m in kind]}"))
    if problems:
        raise ValidationFailed("Invalid work item filter", problems)
    return ItemFilter(**values)


def _documents(page: Page[T], render: Callable[[T], Any]) -> Page[bytes]:
    return Page([encode(render(x)) for x in page.items], page.request, page.total_count)


ItemListing = Callable[["OperationsQueries", Principal, str, PageRequest], Awaitable[Page[bytes]]]


def _item_listing(
    records: Callable[[OperationsRepository], ItemRecords[T]],
    render: Callable[[T], dict[str, Any]] = json_ready,
) -> ItemListing:
    """A query of what hangs off one item, a page at a time; a missing item is a 404, not
    an empty page."""

    async def listing(
        self: OperationsQueries, principal: Principal, item_id: str, page: PageRequest
    ) -> Page[bytes]:
        async def read(repo: OperationsRepository) -> Page[bytes]:
            await item_or_404(repo, item_id)
            return _documents(await records(repo)(item_id, page), render)

        return await self._read(principal, read)

    return listing


class OperationsQueries(ClockedUseCase[UnitOfWork]):
    async def _read(
        self, principal: Principal, read: Callable[[OperationsRepository], Awaitable[T]]
    ) -> T:
        async with organization_unit(self.uow, principal, READ) as uow:
            return await read(uow.operations)

    async def item(self, principal: Principal, item_id: str) -> tuple[bytes, str]:
        """The item's document (with hours rolled up from everything under it) and ETag."""

        async def read(repo: OperationsRepository) -> tuple[bytes, str]:
            item = await item_or_404(repo, item_id)
            return encode(item_data(item, await repo.spent_hours(item.id))), item.etag

        return await self._read(principal, read)

    async def items(
        self, principal: Principal, query: Mapping[str, str], page: PageRequest
    ) -> Page[bytes]:
        where = item_filter(query)

        async def read(repo: OperationsRepository) -> Page[bytes]:
            return _documents(await repo.items(where, page), item_data)

        return await self._read(principal, read)

    async def season(self, principal: Principal, season_id: str) -> tuple[bytes, str]:
        async def read(repo: OperationsRepository) -> tuple[bytes, str]:
            season = await season_or_404(repo, season_id)
            return encode(season_data(season)), season.etag

        return await self._read(principal, read)

    async def seasons(self, principal: Principal, page: PageRequest) -> Page[bytes]:
        async def read(repo: OperationsRepository) -> Page[bytes]:
            return _documents(await repo.seasons(page), season_data)

        return await self._read(principal, read)

    async def burndown(self, principal: Principal, season_id: str) -> bytes:
        """Remaining tasks and hours per day, the ideal line and the hours logged."""
        today = self.clock.now().date()

        async def read(repo: OperationsRepository) -> bytes:
            season = await season_or_404(repo, season_id)
            tasks = [
                t for t in await repo.season_tasks(season_id) if t.status is not Status.CANCELLED
            ]
            planned = [
                PlannedTask(
                    t.estimate_hours,
                    t.completed_at.date() if t.completed_at and t.status is Status.DONE else None,
                )
                for t in tasks
            ]
            points = burndown(season, planned, await repo.season_hours(season_id), today=today)
            committed = committed_hours(t.estimate_hours for t in tasks)
            return encode(burndown_data(season, points, committed))

        return await self._read(principal, read)

    comments = _item_listing(lambda repo: repo.comments)
    time_entries = _item_listing(lambda repo: repo.time_entries)
    activity = _item_listing(lambda repo: repo.activity)
    dependencies = _item_listing(lambda repo: repo.dependencies, dependency_data)
