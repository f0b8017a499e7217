"""Writing seasons and work items: create, edit, move on the board, change status.

Each write is one transaction that also logs the activity (old -> new) and records the
domain event, whose ``about`` lists the item, its board, plan and season so live viewers of
any of them receive it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from bijmantra.application.json_input import decode_body
from bijmantra.application.operations.dto import (
    UNSET,
    In,
    Move,
    SeasonIn,
    SeasonPatch,
    WorkItemIn,
    WorkItemPatch,
    event_data,
    item_data,
    season_data,
)
from bijmantra.application.ports import UnitOfWork
from bijmantra.application.ports.operations import OperationsRepository
from bijmantra.application.security import Action, authorize, permissions
from bijmantra.application.use_case import (
    ClockedUseCase,
    ContextEvents,
    existing,
    records_exist,
)
from bijmantra.domain.operations import (
    ActivityEntry,
    Change,
    Kind,
    Season,
    Status,
    WorkItem,
    changes,
    check_fields,
    check_if_match,
    check_placement,
    check_season,
    check_transition,
    created,
    rank_after,
    rank_between,
    renumbered,
)
from bijmantra.kernel import (
    Conflict,
    FieldError,
    Principal,
    Unprocessable,
    new_id,
)

READ, WRITE = permissions("operations", Action.READ, Action.WRITE)


async def item_or_404(
    repo: OperationsRepository, item_id: str, *, for_update: bool = False
) -> WorkItem:
    return existing(await repo.get_item(item_id, for_update=for_update), f"Work item {item_id!r}")


async def season_or_404(
    repo: OperationsRepository, season_id: str, *, for_update: bool = False
) -> Season:
    return existing(
        await repo.get_season(season_id, for_update=for_update), f"Season {season_id!r}"
    )


record = ContextEvents("operations").record


async def log(
    repo: OperationsRepository,
    principal: Principal,
    item_id: str,
    action: str,
    found: tuple[Change, ...],
    at: datetime,
) -> None:
    await repo.log(ActivityEntry(new_id(), item_id, principal.subject, action, found, at))


class OperationsWrites(ClockedUseCase[UnitOfWork]):
    """Base of the context's write use cases."""

    def written(self, principal: Principal, body: bytes, shape: type[In], what: str) -> In:
        """A write's request: the caller may write in the context, and the body decodes."""
        authorize(principal, WRITE)
        return decode_body(body, shape, what)


class SeasonCommands(OperationsWrites):
    async def create(self, principal: Principal, body: bytes) -> Season:
        request = self.written(principal, body, SeasonIn, "season")
        now = self.clock.now()
        season = Season(
            new_id(),
            principal.tenant_id,
            request.name,
            request.starts_on,
            request.ends_on,
            request.capacity_hours,
            created_at=now,
        )
        check_season(season)
        async with self.uow(principal.tenant_id) as uow:
            await uow.operations.add_season(season)
            record(uow, principal, "season.created", season.id, _season_event(season), now)
            await uow.commit()
        return season

    async def update(
        self, principal: Principal, season_id: str, body: bytes, if_match: str | None
    ) -> Season:
        patch = self.written(principal, body, SeasonPatch, "season")
        async with self.uow(principal.tenant_id) as uow:
            current = await season_or_404(uow.operations, season_id, for_update=True)
            check_if_match(if_match, current.version)
            fields = {
                k: getattr(patch, k)
                for k in ("name", "starts_on", "ends_on", "capacity_hours")
                if getattr(patch, k) is not UNSET
            }
            season = replace(current, **fields)
            if season == current:
                return current
            season = replace(season, version=current.version + 1)
            check_season(season)
            await uow.operations.save_season(season)
            record(
                uow, principal, "season.updated", season.id, _season_event(season), self.clock.now()
            )
            await uow.commit()
        return season


def _season_event(season: Season) -> dict[str, Any]:
    return {"season": event_data(season_data(season)), "about": [season.id]}


def item_event(item: WorkItem, found: tuple[Change, ...] = ()) -> dict[str, Any]:
    return {
        "item": event_data(item_data(item)),
        "about": item.about,
        "changes": [{"field": c.field, "old": c.old, "new": c.new} for c in found],
    }


def _plain(values: list[str]) -> tuple[str, ...]:
    return tuple(values)


class WorkItemCommands(OperationsWrites):
    async def create(self, principal: Principal, body: bytes) -> WorkItem:
        request = self.written(principal, body, WorkItemIn, "work item")
        now = self.clock.now()
        async with self.uow(principal.tenant_id) as uow:
            repo = uow.operations
            parent = None
            if request.parent_id is not None:
                parent = await repo.get_item(request.parent_id, for_update=True)
                if parent is None:
                    raise Unprocessable(
                        "Parent not found in this organization",
                        [FieldError("parent_id", f"unknown work item {request.parent_id!r}")],
                    )
                if parent.status.finished:
                    raise Conflict(f"The parent is {parent.status}; reopen it to add work")
            operation_type = request.operation_type
            if request.kind is Kind.TASK and operation_type is None and parent is not None:
                operation_type = parent.operation_type  # a task does its operation's kind of work
            item = WorkItem(
                id=new_id(),
                tenant_id=principal.tenant_id,
                kind=request.kind,
                title=request.title,
                operation_type=operation_type,
                parent_id=request.parent_id,
                root_id=(parent.root_id or parent.id) if parent else None,
                season_id=request.season_id,
                description=request.description,
                priority=request.priority,
                assignees=_plain(request.assignees),
                due=request.due,
                rank=rank_after(await repo.last_rank(request.parent_id)),
                estimate_hours=request.estimate_hours,
                study_id=request.study_id,
                location_id=request.location_id,
                unit_ids=_plain(request.unit_ids),
                variable_ids=_plain(request.variable_ids),
                created_at=now,
                updated_at=now,
            )
            check_fields(item)
            check_placement(item, parent)
            if item.season_id is not None:
                await _season_exists(repo, item.season_id)
            await _breeding_records_exist(uow, item, None)
            await repo.add_item(item)
            found = created(item)
            await log(repo, principal, item.id, "created", found, now)
            record(uow, principal, "work_item.created", item.id, item_event(item, found), now)
            await uow.commit()
        return item

    async def update(
        self, principal: Principal, item_id: str, body: bytes, if_match: str | None
    ) -> WorkItem:
        """Edit fields, move on the board and/or change status; a stale ``If-Match`` is a
        412 and nothing changes."""
        patch = self.written(principal, body, WorkItemPatch, "work item change")
        now = self.clock.now()
        async with self.uow(principal.tenant_id) as uow:
            repo = uow.operations
            if isinstance(patch.move, Move) and (board := await repo.get_item(item_id)):
                # Before the item's lock: a move may renumber the board, updating every item
                # of it, so two moves holding one item each deadlocked (ADR 0352).
                await repo.lock_board(board.parent_id)
            current = await item_or_404(repo, item_id, for_update=True)
            check_if_match(if_match, current.version)
            item = replace(current, **_edits(patch))
            parent = await repo.get_item(item.parent_id) if item.parent_id else None
            check_fields(item)
            check_placement(item, parent)
            if item.season_id is not None and item.season_id != current.season_id:
                await _season_exists(repo, item.season_id)
            await _breeding_records_exist(uow, item, current)
            if isinstance(patch.status, Status) and patch.status is not current.status:
                item = await self._move_status(repo, current, item, patch.status, now)
            if isinstance(patch.move, Move):
                item = replace(item, rank=await _new_rank(repo, current, patch.move))
            found = changes(current, item)
            if not found:
                return current
            item = replace(item, version=current.version + 1, updated_at=now)
            await repo.save_item(item)
            await log(repo, principal, item.id, "updated", found, now)
            record(uow, principal, "work_item.updated", item.id, item_event(item, found), now)
            if item.status is Status.DONE and current.status is not Status.DONE:
                record(uow, principal, "work_item.completed", item.id, item_event(item), now)
            await uow.commit()
        return item

    async def _move_status(
        self,
        repo: OperationsRepository,
        current: WorkItem,
        item: WorkItem,
        target: Status,
        now: datetime,
    ) -> WorkItem:
        if current.parent_id is not None and current.status.finished and not target.finished:
            parent = await item_or_404(repo, current.parent_id, for_update=True)
            if parent.status.finished:
                raise Conflict(f"The parent is {parent.status}; reopen it first")
        check_transition(
            current.status,
            target,
            open_blockers=await repo.open_blockers(current.id)
            if target is Status.IN_PROGRESS
            else 0,
            open_children=await repo.open_children(current.id) if target is Status.DONE else 0,
        )
        return item.moved(target, now)


def _edits(patch: WorkItemPatch) -> dict[str, Any]:
    names = (
        "title",
        "description",
        "priority",
        "assignees",
        "due",
        "estimate_hours",
        "season_id",
        "study_id",
        "location_id",
        "unit_ids",
        "variable_ids",
    )
    edits = {name: getattr(patch, name) for name in names if getattr(patch, name) is not UNSET}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in edits.items()}


async def _season_exists(repo: OperationsRepository, season_id: str) -> None:
    if await repo.get_season(season_id) is None:
        raise Unprocessable(
            "Season not found in this organization",
            [FieldError("season_id", f"unknown season {season_id!r}")],
        )


async def _breeding_records_exist(
    uow: UnitOfWork, item: WorkItem, current: WorkItem | None
) -> None:
    """The study, location, units and variables an item names (newly) are the organization's
    (``records_exist``). Unchecked, a harvest task at another organization's or a mistyped
    location failed its seed lots after completion; another organization's units and
    variables were kept, and found by nothing (ADR 0378)."""
    named = [
        (name, entity, value)
        for name, entity, value in (
            ("study_id", "study", item.study_id),
            ("location_id", "location", item.location_id),
        )
        if current is None or value != getattr(current, name)
    ]
    listed = [
        (name, entity, sorted(set(getattr(item, name)) - set(getattr(current, name, ()))))
        for name, entity in (
            ("unit_ids", "observationunit"),
            ("variable_ids", "observationvariable"),
        )
    ]
    await records_exist(uow.resources, named, listed)


async def _new_rank(repo: OperationsRepository, item: WorkItem, move: Move) -> int:
    """A rank just after ``move.after`` / just before ``move.before`` on the item's board (the
    top when neither is given); renumbers the board when that gap is used up."""
    board = [(i, r) for i, r in await repo.board_ranks(item.parent_id) if i != item.id]
    ids = [i for i, _ in board]
    problems = [
        FieldError(f"move.{where}", f"{other!r} is not on this board")
        for where, other in (("after", move.after), ("before", move.before))
        if other is not None and other not in ids
    ]
    if problems:
        raise Unprocessable("Moves stay on the item's board", problems)
    slot = 0
    if move.after is not None:
        slot = ids.index(move.after) + 1
    elif move.before is not None:
        slot = ids.index(move.before)
    if move.before is not None and ids.index(move.before) != slot:
        raise Unprocessable(
            "after and before must be neighbours on the board",
            [FieldError("move", "give adjacent items, or only one of them")],
        )
    previous = board[slot - 1][1] if slot > 0 else None
    following = board[slot][1] if slot < len(board) else None
    rank = rank_between(previous, following)
    if rank is not None:
        return rank
    ranks = renumbered([*ids[:slot], item.id, *ids[slot:]])
    await repo.set_ranks({k: v for k, v in ranks.items() if k != item.id})
    return ranks[item.id]
