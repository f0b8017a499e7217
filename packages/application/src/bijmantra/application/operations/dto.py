"""What crosses the operations boundary: request bodies in, documents out (snake_case, as
the rest of ``/api/v1``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, TypeVar

import msgspec
from bijmantra.application.json_input import check_shape, unreadable
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
from bijmantra.kernel import FieldError, ValidationFailed

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


def decode(body: bytes, kind: type[In], what: str) -> In:
    """A request body as ``kind``: a wrong field is a 422 naming it, unreadable JSON a 400."""
    check_shape(body)  # nesting depth, before the decoder recurses
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        raise ValidationFailed(f"Invalid {what}", [FieldError("body", str(exc))]) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise unreadable(exc, "JSON") from None


def _time(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


def item_data(item: WorkItem, spent_hours: float | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": item.id,
        "kind": item.kind.value,
        "title": item.title,
        "operation_type": item.operation_type.value if item.operation_type else None,
        "parent_id": item.parent_id,
        "plan_id": item.root_id,
        "season_id": item.season_id,
        "description": item.description,
        "status": item.status.value,
        "priority": item.priority.value,
        "assignees": list(item.assignees),
        "due": _time(item.due),
        "rank": item.rank,
        "estimate_hours": item.estimate_hours,
        "study_id": item.study_id,
        "location_id": item.location_id,
        "unit_ids": list(item.unit_ids),
        "variable_ids": list(item.variable_ids),
        "version": item.version,
        "etag": item.etag,
        "created_at": _time(item.created_at),
        "updated_at": _time(item.updated_at),
        "completed_at": _time(item.completed_at),
    }
    if spent_hours is not None:
        data["spent_hours"] = spent_hours
    return data


def season_data(season: Season) -> dict[str, Any]:
    return {
        "id": season.id,
        "name": season.name,
        "starts_on": season.starts_on.isoformat(),
        "ends_on": season.ends_on.isoformat(),
        "capacity_hours": season.capacity_hours,
        "version": season.version,
        "etag": season.etag,
        "created_at": _time(season.created_at),
    }


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


def encode(data: Any) -> bytes:
    return _encode(data)
