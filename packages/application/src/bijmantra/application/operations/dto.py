"""What crosses the operations boundary: request bodies in, documents out (snake_case, as
the rest of ``/api/v1``). The ``*Document`` structs are the read models the published contract
describes (ADR 0250): work items and seasons are built as structs; the records that are sent
as ``json_ready`` values (comments, time entries, dependencies, activity, burndown points) are
declared here and checked against what is sent by the use-case tests."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal, TypeVar

import msgspec
from bijmantra.domain.operations import (
    BurndownPoint,
    Dependency,
    Kind,
    OperationType,
    Priority,
    Season,
    Status,
    WorkItem,
    json_ready,
)

UNSET: Any = msgspec.UNSET
Unset = msgspec.UnsetType
MAX_BODY_IDS = 10_000
_encode = msgspec.json.encode


class _In(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class SeasonIn(_In):
    name: str
    starts_on: date
    ends_on: date
    capacity_hours: float = 0.0


class SeasonPatch(_In):
    name: str | Unset = UNSET
    starts_on: date | Unset = UNSET
    ends_on: date | Unset = UNSET
    capacity_hours: float | Unset = UNSET


class WorkItemIn(_In):
    kind: Kind
    title: str
    parent_id: str | None = None
    operation_type: OperationType | None = None
    season_id: str | None = None
    description: str = ""
    priority: Priority = Priority.NORMAL
    assignees: list[str] = []
    due: date | None = None
    estimate_hours: float = 0.0
    study_id: str | None = None
    location_id: str | None = None
    unit_ids: list[str] = []
    variable_ids: list[str] = []


class Move(_In):
    """Place the item between two items of its board (either side may be left out)."""

    after: str | None = None
    before: str | None = None


class WorkItemPatch(_In):
    title: str | Unset = UNSET
    description: str | Unset = UNSET
    status: Status | Unset = UNSET
    priority: Priority | Unset = UNSET
    assignees: list[str] | Unset = UNSET
    due: date | Unset | None = UNSET
    estimate_hours: float | Unset = UNSET
    season_id: str | Unset | None = UNSET
    study_id: str | Unset | None = UNSET
    location_id: str | Unset | None = UNSET
    unit_ids: list[str] | Unset = UNSET
    variable_ids: list[str] | Unset = UNSET
    move: Move | Unset = UNSET


class CommentIn(_In):
    body: str


class TimeEntryIn(_In):
    work_item_id: str
    day: date
    hours: float
    note: str = ""


class DependencyIn(_In):
    predecessor_id: str
    successor_id: str


In = TypeVar("In", bound=_In)


class _Out(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A document out: its published schema is closed, so an undeclared key fails the tests."""


class SeasonDocument(_Out):
    id: str
    name: str
    starts_on: date
    ends_on: date
    capacity_hours: float
    version: int
    etag: str
    created_at: datetime | None


class WorkItemDocument(_Out, rename={"root_id": "plan_id"}):
    """A work item as ``/api/v1/work-items`` answers it; ``plan_id`` is the season plan at the
    top of its hierarchy; ``spent_hours`` (the rolled-up time entries) only on a single item."""

    id: str
    kind: Kind
    title: str
    operation_type: OperationType | None
    parent_id: str | None
    root_id: str | None
    season_id: str | None
    description: str
    status: Status
    priority: Priority
    assignees: list[str]
    due: date | None
    rank: int
    estimate_hours: float
    study_id: str | None
    location_id: str | None
    unit_ids: list[str]
    variable_ids: list[str]
    version: int
    etag: str
    created_at: datetime | None
    updated_at: datetime | None
    completed_at: datetime | None
    spent_hours: float | Unset = UNSET


class CommentDocument(_Out):
    id: str
    work_item_id: str
    author: str
    body: str
    created_at: datetime


class TimeEntryDocument(_Out):
    id: str
    work_item_id: str
    member: str
    day: date
    hours: float
    note: str
    created_at: datetime


class DependencyDocument(_Out):
    predecessor_id: str
    successor_id: str
    type: Literal["finish_to_start"]
    created_at: datetime
    created_by: str


class RemovedDependency(_Out):
    predecessor_id: str
    successor_id: str
    removed: bool


class FieldChange(_Out):
    field: str
    old: Any
    new: Any


class WorkItemActivityDocument(_Out):
    id: str
    work_item_id: str
    actor: str
    action: str
    changes: list[FieldChange]
    at: datetime


class BurndownDay(_Out):
    day: date
    remaining_tasks: int
    remaining_hours: float
    ideal_hours: float
    logged_hours: float


class BurndownDocument(_Out):
    season: SeasonDocument
    committed_hours: float
    over_capacity: bool
    points: list[BurndownDay]


class PlotStop(_Out):
    position: int
    observation_unit_id: str
    x: float
    y: float


class PlotOrderDocument(_Out):
    """The order a crew walks an item's plots; ``unpositioned``: units without coordinates."""

    work_item_id: str
    study_id: str
    pattern: str
    plots: list[PlotStop]
    unpositioned: list[str]


class RoundProgressDocument(_Out):
    work_item_id: str
    expected: int
    observed: int
    fraction: float
    complete: bool
    units_missing: list[str]
    units_missing_count: int


def item_data(item: WorkItem, spent_hours: float | None = None) -> WorkItemDocument:
    """Read straight from the domain value's attributes (msgspec's C converter)."""
    document = msgspec.convert(item, WorkItemDocument, from_attributes=True)
    if spent_hours is None:
        return document
    return msgspec.structs.replace(document, spent_hours=spent_hours)


def season_data(season: Season) -> SeasonDocument:
    return msgspec.convert(season, SeasonDocument, from_attributes=True)


def dependency_data(dependency: Dependency) -> dict[str, Any]:
    data: dict[str, Any] = json_ready(dependency)
    return {**data, "type": "finish_to_start"}


def burndown_data(season: Season, points: list[BurndownPoint], committed: float) -> dict[str, Any]:
    return {
        "season": season_data(season),
        "committed_hours": committed,
        "over_capacity": committed > season.capacity_hours,
        "points": json_ready(points),
    }


def event_data(document: msgspec.Struct) -> dict[str, Any]:
    """A document inside an event's JSON ``data`` (plain values: strings, numbers, lists)."""
    plain: dict[str, Any] = msgspec.to_builtins(document)
    return plain


def encode(data: Any) -> bytes:
    return _encode(data)
