"""The operations context's store: ``domain.ops_*`` tables, scoped by row-level security.

Every statement also names the tenant, so indexes lead with it; RLS would confine a query
that forgot. The dependency graph's searches are in ``operations_graph``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
from bijmantra.adapters.postgres.inbox import first_delivery
from bijmantra.adapters.postgres.operations_graph import REACHABLE, REACHING
from bijmantra.adapters.postgres.rows import parameters
from bijmantra.application.events import EventEnvelope
from bijmantra.application.ports.operations import ItemFilter, SeasonTask
from bijmantra.domain.operations import (
    ActivityEntry,
    Change,
    Comment,
    Dependency,
    Kind,
    OperationType,
    Ordered,
    Priority,
    Season,
    Status,
    TimeEntry,
    WorkItem,
)
from bijmantra.kernel import Page, PageRequest, TenantId
from sqlalchemy import Text, TextClause, column, func, select, table, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")
R = TypeVar("R", bound="DataclassInstance")
_encode = msgspec.json.encode
_changes = msgspec.json.Decoder(list[tuple[str, Any, Any]])
_ITEM_NAMES = (
    "id",
    "kind",
    "title",
    "operation_type",
    "parent_id",
    "root_id",
    "season_id",
    "description",
    "status",
    "priority",
    "assignees",
    "due",
    "rank",
    "estimate_hours",
    "study_id",
    "location_id",
    "unit_ids",
    "variable_ids",
    "version",
    "created_at",
    "updated_at",
    "completed_at",
)
_INSERT_ITEM = text(
    "INSERT INTO domain.ops_work_items (tenant_id, id, kind, title, operation_type, parent_id, "
    "root_id, season_id, description, status, priority, assignees, due, rank, estimate_hours, "
    "study_id, location_id, unit_ids, variable_ids, version, created_at, updated_at, "
    "completed_at) VALUES (:tenant_id, :id, :kind, :title, :operation_type, :parent_id, "
    ":root_id, :season_id, :description, :status, :priority, :assignees, :due, :rank, "
    ":estimate_hours, :study_id, :location_id, :unit_ids, :variable_ids, :version, :created_at, "
    ":updated_at, :completed_at)"
)
_UPDATE_ITEM = text(
    "UPDATE domain.ops_work_items SET kind = :kind, title = :title, operation_type = "
    ":operation_type, parent_id = :parent_id, root_id = :root_id, season_id = :season_id, "
    "description = :description, status = :status, priority = :priority, assignees = "
    ":assignees, due = :due, rank = :rank, estimate_hours = :estimate_hours, study_id = "
    ":study_id, location_id = :location_id, unit_ids = :unit_ids, variable_ids = :variable_ids, "
    "version = :version, created_at = :created_at, updated_at = :updated_at, completed_at = "
    ":completed_at WHERE tenant_id = :tenant_id AND id = :id"
)
_ITEM = text(
    "SELECT id, kind, title, operation_type, parent_id, root_id, season_id, description, "
    "status, priority, assignees, due, rank, estimate_hours, study_id, location_id, unit_ids, "
    "variable_ids, version, created_at, updated_at, completed_at FROM domain.ops_work_items "
    "WHERE tenant_id = :t AND id = :id"
)
_ITEM_FOR_UPDATE = text(
    "SELECT id, kind, title, operation_type, parent_id, root_id, season_id, description, "
    "status, priority, assignees, due, rank, estimate_hours, study_id, location_id, unit_ids, "
    "variable_ids, version, created_at, updated_at, completed_at FROM domain.ops_work_items "
    "WHERE tenant_id = :t AND id = :id FOR UPDATE"
)
_ITEMS = text(
    "SELECT id, kind, title, operation_type, parent_id, root_id, season_id, description, "
    "status, priority, assignees, due, rank, estimate_hours, study_id, location_id, unit_ids, "
    "variable_ids, version, created_at, updated_at, completed_at FROM domain.ops_work_items "
    "WHERE tenant_id = :t AND id = ANY(CAST(:ids AS text[]))"
)
# The item list's optional filters combine freely: composed with SQLAlchemy Core.
_WORK_ITEMS = table(
    "ops_work_items",
    column("tenant_id"),
    *(column(name) for name in _ITEM_NAMES if name != "assignees"),
    column("assignees", ARRAY(Text)),
    schema="domain",
)
_ITEM_COLUMNS = [_WORK_ITEMS.c[name] for name in _ITEM_NAMES]
_SEASON_NAMES = ("id", "name", "starts_on", "ends_on", "capacity_hours", "version", "created_at")
_SEASON = text(
    "SELECT id, name, starts_on, ends_on, capacity_hours, version, created_at FROM "
    "domain.ops_seasons WHERE tenant_id = :t AND id = :id"
)
_SEASON_FOR_UPDATE = text(
    "SELECT id, name, starts_on, ends_on, capacity_hours, version, created_at FROM "
    "domain.ops_seasons WHERE tenant_id = :t AND id = :id FOR UPDATE"
)
_SEASONS = text(
    "SELECT id, name, starts_on, ends_on, capacity_hours, version, created_at, count(*) OVER () "
    "AS total FROM domain.ops_seasons WHERE tenant_id = :t ORDER BY starts_on, id LIMIT :limit "
    "OFFSET :offset"
)


def _item_row(item: WorkItem) -> dict[str, Any]:
    row = {n: getattr(item, n) for n in _ITEM_NAMES}
    for name in ("kind", "operation_type", "status", "priority"):
        row[name] = row[name].value if row[name] is not None else None
    for name in ("assignees", "unit_ids", "variable_ids"):
        row[name] = list(row[name])
    row["tenant_id"] = item.tenant_id
    return row


def _item(tenant: TenantId, row: Any) -> WorkItem:
    values = row._asdict()
    values.pop("total", None)
    values["kind"] = Kind(values["kind"])
    values["status"] = Status(values["status"])
    values["priority"] = Priority(values["priority"])
    if values["operation_type"] is not None:
        values["operation_type"] = OperationType(values["operation_type"])
    for name in ("assignees", "unit_ids", "variable_ids"):
        values[name] = tuple(values[name])
    return WorkItem(tenant_id=tenant, **values)


def _season(tenant: TenantId, row: Any) -> Season:
    values = row._asdict()
    values.pop("total", None)
    return Season(tenant_id=tenant, **values)


class PostgresOperationsRepository:
    def __init__(self, connection: AsyncConnection, tenant_id: TenantId) -> None:
        self._connection = connection
        self._tenant = tenant_id

    async def _rows(self, sql: str | TextClause, **params: Any) -> list[Any]:
        statement = text(sql) if isinstance(sql, str) else sql
        result = await self._connection.execute(statement, {"t": self._tenant, **params})
        return list(result)

    async def _page(
        self, sql: str | TextClause, page: PageRequest, build: Callable[[Any], T], **params: Any
    ) -> Page[T]:
        """``sql`` selects ``count(*) OVER () AS total`` beside its columns and ends in
        ``LIMIT :limit OFFSET :offset``; ``build`` makes a record of a row."""
        rows = await self._rows(sql, limit=page.page_size, offset=page.offset, **params)
        if not rows and page.page > 0:  # past the end: the first row still carries the total
            rows = await self._rows(sql, limit=1, offset=0, **params)
            return Page([], page, rows[0].total if rows else 0)
        return Page([build(row) for row in rows], page, rows[0].total if rows else 0)

    # Seasons
    async def add_season(self, season: Season) -> None:
        await self._rows(
            "INSERT INTO domain.ops_seasons (tenant_id, id, name, starts_on, ends_on, "
            "capacity_hours, version, created_at) VALUES (:t, :id, :name, :starts_on, "
            ":ends_on, :capacity_hours, :version, :created_at) RETURNING id",
            **_season_row(season),
        )

    async def get_season(self, season_id: str, *, for_update: bool = False) -> Season | None:
        """``for_update`` locks the row until the transaction ends."""
        rows = await self._rows(_SEASON_FOR_UPDATE if for_update else _SEASON, id=season_id)
        return _season(self._tenant, rows[0]) if rows else None

    async def save_season(self, season: Season) -> None:
        await self._rows(
            "UPDATE domain.ops_seasons SET name = :name, starts_on = :starts_on, "
            "ends_on = :ends_on, capacity_hours = :capacity_hours, version = :version "
            "WHERE tenant_id = :t AND id = :id RETURNING id",
            **_season_row(season),
        )

    async def seasons(self, page: PageRequest) -> Page[Season]:
        return await self._page(_SEASONS, page, lambda row: _season(self._tenant, row))

    # Work items
    async def add_item(self, item: WorkItem) -> None:
        await self._connection.execute(_INSERT_ITEM, _item_row(item))

    async def get_item(self, item_id: str, *, for_update: bool = False) -> WorkItem | None:
        rows = await self._rows(_ITEM_FOR_UPDATE if for_update else _ITEM, id=item_id)
        return _item(self._tenant, rows[0]) if rows else None

    async def get_items(self, item_ids: Sequence[str]) -> dict[str, WorkItem]:
        rows = await self._rows(_ITEMS, ids=list(item_ids))
        return {r.id: _item(self._tenant, r) for r in rows}

    async def save_item(self, item: WorkItem) -> None:
        await self._connection.execute(_UPDATE_ITEM, _item_row(item))

    async def items(self, where: ItemFilter, page: PageRequest) -> Page[WorkItem]:
        items = _WORK_ITEMS.c
        conditions = [items.tenant_id == self._tenant]
        if where.parent_id is not None:
            conditions.append(items.parent_id == where.parent_id)
        if where.season_id is not None:
            conditions.append(items.season_id == where.season_id)
        if where.status is not None:
            conditions.append(items.status == where.status.value)
        if where.kind is not None:
            conditions.append(items.kind == where.kind.value)
        if where.assignee is not None:
            conditions.append(items.assignees.contains([where.assignee]))
        # Two statements, not a window count: a season board holds thousands of items, and
        # count(*) OVER () would read every one of them for each page of 100.
        listed = (
            select(*_ITEM_COLUMNS)
            .where(*conditions)
            .order_by(items.rank, items.id)
            .limit(page.page_size)
            .offset(page.offset)
        )
        rows = list(await self._connection.execute(listed))
        if page.page == 0 and len(rows) < page.page_size:
            total = len(rows)
        else:
            counted = select(func.count()).select_from(_WORK_ITEMS).where(*conditions)
            total = (await self._connection.execute(counted)).scalar_one()
        return Page([_item(self._tenant, r) for r in rows], page, total)

    async def board_ranks(self, parent_id: str | None) -> list[tuple[str, int]]:
        rows = await self._rows(
            "SELECT id, rank FROM domain.ops_work_items WHERE tenant_id = :t "
            "AND parent_id IS NOT DISTINCT FROM :parent ORDER BY rank, id",
            parent=parent_id,
        )
        return [(r.id, r.rank) for r in rows]

    async def _set_each(self, update: str, values: dict[str, int]) -> None:
        """Run ``update`` once over ``values`` (item id -> number) as two arrays."""
        if values:
            await self._rows(update, ids=list(values), values=list(values.values()))

    async def set_ranks(self, ranks: dict[str, int]) -> None:
        await self._set_each(
            "UPDATE domain.ops_work_items AS w SET rank = r.rank, version = w.version + 1 "
            "FROM unnest(CAST(:ids AS text[]), CAST(:values AS bigint[])) AS r(id, rank) "
            "WHERE w.tenant_id = :t AND w.id = r.id RETURNING w.id",
            ranks,
        )

    async def last_rank(self, parent_id: str | None) -> int | None:
        rows = await self._rows(
            "SELECT max(rank) AS last FROM domain.ops_work_items WHERE tenant_id = :t "
            "AND parent_id IS NOT DISTINCT FROM :parent",
            parent=parent_id,
        )
        last = rows[0].last
        return None if last is None else int(last)

    async def open_children(self, item_id: str) -> int:
        rows = await self._rows(
            "SELECT count(*) AS n FROM domain.ops_work_items WHERE tenant_id = :t "
            "AND parent_id = :id AND status IN ('todo', 'in_progress', 'blocked')",
            id=item_id,
        )
        return int(rows[0].n)

    async def open_blockers(self, item_id: str) -> int:
        rows = await self._rows(
            "SELECT count(*) AS n FROM domain.ops_dependencies d "
            "JOIN domain.ops_work_items w ON w.tenant_id = d.tenant_id AND w.id = d.predecessor_id "
            "WHERE d.tenant_id = :t AND d.successor_id = :id "
            "AND w.status IN ('todo', 'in_progress', 'blocked')",
            id=item_id,
        )
        return int(rows[0].n)

    async def spent_hours(self, item_id: str) -> float:
        rows = await self._rows(
            "SELECT coalesce(sum(e.hours), 0) AS hours FROM domain.ops_time_entries e "
            "JOIN domain.ops_work_items w ON w.tenant_id = e.tenant_id AND w.id = e.work_item_id "
            "WHERE e.tenant_id = :t AND (w.id = :id OR w.parent_id = :id OR w.root_id = :id)",
            id=item_id,
        )
        return round(float(rows[0].hours), 6)

    async def lock_board(self, parent_id: str | None) -> None:
        await self._rows(
            "SELECT pg_advisory_xact_lock(hashtext('bijmantra.ops_board'), "
            "hashtext(CAST(:t AS text) || '/' || coalesce(:parent, '')))",
            parent=parent_id,
        )

    # Dependencies
    async def lock_graph(self) -> None:
        await self._rows(
            "SELECT pg_advisory_xact_lock(hashtext('bijmantra.ops_graph'), "
            "hashtext(CAST(:t AS text)))"
        )

    async def orders(self, item_ids: Sequence[str]) -> dict[str, int]:
        rows = await self._rows(
            "SELECT id, topo FROM domain.ops_work_items WHERE tenant_id = :t "
            "AND id = ANY(CAST(:ids AS text[]))",
            ids=list(item_ids),
        )
        return {r.id: r.topo for r in rows}

    async def reachable(self, start: str, *, max_order: int) -> list[Ordered]:
        return await self._region(REACHABLE, start, max_order)

    async def reaching(self, start: str, *, min_order: int) -> list[Ordered]:
        return await self._region(REACHING, start, min_order)

    async def _region(self, walk: TextClause, start: str, bound: int) -> list[Ordered]:
        params = {"t": self._tenant, "start": start, "bound": bound}
        rows = await self._connection.execute(walk, params)
        return [Ordered(r.id, r.topo, r.by_dependencies) for r in rows]

    async def set_orders(self, orders: dict[str, int]) -> None:
        await self._set_each(
            "UPDATE domain.ops_work_items AS w SET topo = o.topo "
            "FROM unnest(CAST(:ids AS text[]), CAST(:values AS bigint[])) AS o(id, topo) "
            "WHERE w.tenant_id = :t AND w.id = o.id RETURNING w.id",
            orders,
        )

    async def add_dependency(self, dependency: Dependency) -> bool:
        rows = await self._rows(
            "INSERT INTO domain.ops_dependencies (tenant_id, predecessor_id, successor_id, "
            "created_at, created_by) VALUES (:t, :predecessor_id, :successor_id, :created_at, "
            ":created_by) ON CONFLICT DO NOTHING RETURNING predecessor_id",
            **parameters(dependency),
        )
        return bool(rows)

    async def remove_dependency(self, predecessor_id: str, successor_id: str) -> bool:
        rows = await self._rows(
            "DELETE FROM domain.ops_dependencies WHERE tenant_id = :t AND predecessor_id = :p "
            "AND successor_id = :s RETURNING predecessor_id",
            p=predecessor_id,
            s=successor_id,
        )
        return bool(rows)

    async def dependencies(self, item_id: str, page: PageRequest) -> Page[Dependency]:
        return await self._page(
            "SELECT predecessor_id, successor_id, created_at, created_by, "
            "count(*) OVER () AS total FROM domain.ops_dependencies WHERE tenant_id = :t "
            "AND (predecessor_id = :id OR successor_id = :id) "
            "ORDER BY created_at, predecessor_id, successor_id LIMIT :limit OFFSET :offset",
            page,
            _record(Dependency),
            id=item_id,
        )

    # Comments, time, activity: rows whose columns are the record's fields
    async def add_comment(self, comment: Comment) -> None:
        await self._rows(_INSERT_COMMENT, **dataclasses.asdict(comment))

    async def comments(self, item_id: str, page: PageRequest) -> Page[Comment]:
        return await self._page(_ITEM_COMMENTS, page, _record(Comment), id=item_id)

    async def add_time_entry(self, entry: TimeEntry) -> None:
        await self._rows(_INSERT_TIME_ENTRY, **dataclasses.asdict(entry))

    async def time_entries(self, item_id: str, page: PageRequest) -> Page[TimeEntry]:
        return await self._page(_ITEM_TIME_ENTRIES, page, _record(TimeEntry), id=item_id)

    async def log(self, entry: ActivityEntry) -> None:
        changes = [(c.field, c.old, c.new) for c in entry.changes]
        await self._rows(
            "INSERT INTO domain.ops_activity (tenant_id, id, work_item_id, actor, action, "
            "changes, at) VALUES (:t, :id, :item, :actor, :action, CAST(:changes AS jsonb), :at) "
            "RETURNING id",
            id=entry.id,
            item=entry.work_item_id,
            actor=entry.actor,
            action=entry.action,
            changes=_encode(changes).decode(),
            at=entry.at,
        )

    async def activity(self, item_id: str, page: PageRequest) -> Page[ActivityEntry]:
        return await self._page(
            "SELECT id, work_item_id, actor, action, CAST(changes AS text) AS changes, at, "
            "count(*) OVER () AS total FROM domain.ops_activity "
            "WHERE tenant_id = :t AND work_item_id = :id ORDER BY id LIMIT :limit OFFSET :offset",
            page,
            lambda r: ActivityEntry(
                r.id,
                r.work_item_id,
                r.actor,
                r.action,
                tuple(Change(*c) for c in _changes.decode(r.changes)),
                r.at,
            ),
            id=item_id,
        )

    async def season_tasks(self, season_id: str) -> list[SeasonTask]:
        rows = await self._rows(
            "SELECT estimate_hours, status, completed_at FROM domain.ops_work_items "
            "WHERE tenant_id = :t AND season_id = :id",
            id=season_id,
        )
        return [SeasonTask(r.estimate_hours, Status(r.status), r.completed_at) for r in rows]

    async def season_hours(self, season_id: str) -> list[tuple[date, float]]:
        rows = await self._rows(
            "SELECT e.day, sum(e.hours) AS hours FROM domain.ops_time_entries e "
            "JOIN domain.ops_work_items w ON w.tenant_id = e.tenant_id AND w.id = e.work_item_id "
            "WHERE e.tenant_id = :t AND w.season_id = :id GROUP BY e.day ORDER BY e.day",
            id=season_id,
        )
        return [(r.day, float(r.hours)) for r in rows]

    async def first_delivery(self, consumer: str, event: EventEnvelope) -> bool:
        return await first_delivery(self._connection, consumer, event, schema="domain")


_INSERT_COMMENT = (
    "INSERT INTO domain.ops_comments (tenant_id, id, work_item_id, author, body, created_at) "
    "VALUES (:t, :id, :work_item_id, :author, :body, :created_at) RETURNING id"
)
_ITEM_COMMENTS = (
    "SELECT id, work_item_id, author, body, created_at, count(*) OVER () AS total "
    "FROM domain.ops_comments WHERE tenant_id = :t AND work_item_id = :id ORDER BY id "
    "LIMIT :limit OFFSET :offset"
)
_INSERT_TIME_ENTRY = (
    "INSERT INTO domain.ops_time_entries (tenant_id, id, work_item_id, member, day, hours, "
    "note, created_at) VALUES (:t, :id, :work_item_id, :member, :day, :hours, :note, "
    ":created_at) RETURNING id"
)
_ITEM_TIME_ENTRIES = (
    "SELECT id, work_item_id, member, day, hours, note, created_at, count(*) OVER () AS total "
    "FROM domain.ops_time_entries WHERE tenant_id = :t AND work_item_id = :id ORDER BY id "
    "LIMIT :limit OFFSET :offset"
)


def _record(record: type[R]) -> Callable[[Any], R]:
    """Builds ``record`` from a row that has a column for each of its fields."""
    names = [field.name for field in dataclasses.fields(record)]
    return lambda row: record(**{name: getattr(row, name) for name in names})


def _season_row(season: Season) -> dict[str, Any]:
    return {n: getattr(season, n) for n in _SEASON_NAMES}
