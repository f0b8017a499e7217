"""Around a work item: comments, time entries and finish-to-start dependencies.

Adding a dependency checks the new edge's neighbourhood only (see
``bijmantra.domain.operations.graph``): the store searches the affected region of the
waiting graph's order (dependencies and parent links, ADR 0344), never the whole graph, and
the edge is refused when its successor already has to finish before its predecessor can: a
cycle of dependencies, or a deadlock with the hierarchy.
"""

from __future__ import annotations

from datetime import datetime

from bijmantra.application.operations.dto import (
    CommentIn,
    DependencyIn,
    TimeEntryIn,
    dependency_data,
)
from bijmantra.application.operations.items import (
    WRITE,
    OperationsWrites,
    item_or_404,
    log,
    record,
)
from bijmantra.application.ports import UnitOfWork
from bijmantra.application.ports.operations import OperationsRepository
from bijmantra.application.use_case import organization_unit
from bijmantra.domain.operations import (
    Change,
    Comment,
    Dependency,
    TimeEntry,
    WorkItem,
    check_comment,
    check_time_entry,
    json_ready,
    needs_search,
    refuse_cycle,
    refuse_deadlock,
    reorder,
)
from bijmantra.kernel import (
    FieldError,
    NotFound,
    Principal,
    Unprocessable,
    new_id,
)


async def _referenced(repo: OperationsRepository, item_id: str, location: str) -> WorkItem:
    item = await repo.get_item(item_id)
    if item is None:
        raise Unprocessable(
            "Work item not found in this organization",
            [FieldError(location, f"unknown work item {item_id!r}")],
        )
    return item


async def _both(
    repo: OperationsRepository, tail_id: str, head_id: str
) -> tuple[WorkItem, WorkItem]:
    """Both ends of a new dependency in one read; a missing one is a 422 naming it."""
    found = await repo.get_items([tail_id, head_id])
    problems = [
        FieldError(location, f"unknown work item {item_id!r}")
        for location, item_id in (("predecessor_id", tail_id), ("successor_id", head_id))
        if item_id not in found
    ]
    if problems:
        raise Unprocessable("Work item not found in this organization", problems)
    return found[tail_id], found[head_id]


async def add_edge(repo: OperationsRepository, predecessor: str, successor: str) -> None:
    """Keep the waiting graph's order valid for the new edge, or refuse it (422) as a cycle of
    dependencies or as a deadlock with the hierarchy (ADR 0344), before anything is written."""
    orders = await repo.orders([predecessor, successor])
    low, high = orders[successor], orders[predecessor]
    if not needs_search(predecessor, successor, high, low):
        return
    forward = await repo.reachable(successor, max_order=high)
    refuse_cycle(predecessor, successor, forward)
    refuse_deadlock(predecessor, successor, forward)
    backward = await repo.reaching(predecessor, min_order=low)
    await repo.set_orders(reorder(forward, backward))


def _record_added(
    uow: UnitOfWork,
    principal: Principal,
    item: WorkItem,
    name: str,
    added: Comment | TimeEntry,
    at: datetime,
) -> None:
    """``<name>.added`` for a record added to ``item``, reaching whoever watches the item."""
    data = {name: json_ready(added), "about": item.about}
    record(uow, principal, f"{name}.added", item.id, data, at)


class Collaboration(OperationsWrites):
    async def comment(self, principal: Principal, item_id: str, body: bytes) -> Comment:
        request = self.written(principal, body, CommentIn, "comment")
        check_comment(request.body)
        now = self.clock.now()
        async with self.uow(principal.tenant_id) as uow:
            item = await item_or_404(uow.operations, item_id)
            comment = Comment(new_id(), item.id, principal.subject, request.body, now)
            await uow.operations.add_comment(comment)
            await log(
                uow.operations,
                principal,
                item.id,
                "commented",
                (Change("comment", None, comment.id),),
                now,
            )
            _record_added(uow, principal, item, "comment", comment, now)
            await uow.commit()
        return comment

    async def log_time(self, principal: Principal, body: bytes) -> TimeEntry:
        """The caller's own hours on an item (non-negative, at most a day per entry)."""
        request = self.written(principal, body, TimeEntryIn, "time entry")
        check_time_entry(request.hours, request.note)
        now = self.clock.now()
        async with self.uow(principal.tenant_id) as uow:
            item = await _referenced(uow.operations, request.work_item_id, "work_item_id")
            entry = TimeEntry(
                new_id(), item.id, principal.subject, request.day, request.hours, request.note, now
            )
            await uow.operations.add_time_entry(entry)
            found = (Change("time_entry", None, {"hours": entry.hours, "day": str(entry.day)}),)
            await log(uow.operations, principal, item.id, "time_logged", found, now)
            _record_added(uow, principal, item, "time_entry", entry, now)
            await uow.commit()
        return entry

    async def depend(self, principal: Principal, body: bytes) -> Dependency:
        request = self.written(principal, body, DependencyIn, "dependency")
        now = self.clock.now()
        async with self.uow(principal.tenant_id) as uow:
            repo = uow.operations
            await repo.lock_graph()
            tail, head = await _both(repo, request.predecessor_id, request.successor_id)
            dependency = Dependency(tail.id, head.id, now, principal.subject)
            await add_edge(repo, tail.id, head.id)
            if not await repo.add_dependency(dependency):
                return dependency  # already there: nothing changes, no event
            await self._logged(uow, principal, "dependency.added", tail, head, dependency)
            await uow.commit()
        return dependency

    async def undepend(self, principal: Principal, predecessor_id: str, successor_id: str) -> None:
        async with organization_unit(self.uow, principal, WRITE) as uow:
            repo = uow.operations
            await repo.lock_graph()
            if not await repo.remove_dependency(predecessor_id, successor_id):
                raise NotFound("Dependency not found")
            tail = await item_or_404(repo, predecessor_id)
            head = await item_or_404(repo, successor_id)
            gone = Dependency(tail.id, head.id, self.clock.now(), principal.subject)
            await self._logged(uow, principal, "dependency.removed", tail, head, gone)
            await uow.commit()

    async def _logged(
        self,
        uow: UnitOfWork,
        principal: Principal,
        event_type: str,
        tail: WorkItem,
        head: WorkItem,
        dependency: Dependency,
    ) -> None:
        added = event_type.endswith("added")
        now = dependency.created_at
        for item, other, name in ((tail, head, "successor"), (head, tail, "predecessor")):
            change = Change(name, None, other.id) if added else Change(name, other.id, None)
            await log(uow.operations, principal, item.id, event_type, (change,), now)
        data = {
            "dependency": dependency_data(dependency),
            "about": list(dict.fromkeys([*head.about, *tail.about])),
        }
        record(uow, principal, event_type, head.id, data, now)
