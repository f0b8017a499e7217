"""Work items and seasons of work: the typed values and the status state machine.

A season plan holds operations, an operation holds tasks (``HIERARCHY``). Status moves only
along ``TRANSITIONS``; starting needs every blocker finished and finishing needs every child
finished. Each change bumps ``version``, which is the item's ETag.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum

from bijmantra.kernel import Conflict, FieldError, PreconditionFailed, TenantId, ValidationFailed

MAX_TITLE = 200
MAX_DESCRIPTION = 20_000
MAX_ASSIGNEES = 50
MAX_UNITS = 10_000
MAX_VARIABLES = 200
MAX_REFERENCE = 256
MAX_CAPACITY_HOURS = 1_000_000.0


class Kind(StrEnum):
    PLAN = "plan"
    OPERATION = "operation"
    TASK = "task"


# What each kind may sit under: a plan is a root, operations live in plans, tasks in operations.
HIERARCHY: dict[Kind, Kind | None] = {
    Kind.PLAN: None,
    Kind.OPERATION: Kind.PLAN,
    Kind.TASK: Kind.OPERATION,
}


class OperationType(StrEnum):
    PLANTING = "planting"
    SPRAYING = "spraying"
    IRRIGATION = "irrigation"
    SAMPLING = "sampling"
    PHENOTYPING_ROUND = "phenotyping_round"
    HARVEST = "harvest"
    OTHER = "other"

    @property
    def has_plot_order(self) -> bool:
        return self in (OperationType.PLANTING, OperationType.HARVEST)


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Status(StrEnum):
    TODO = "todo"
    IN_PROGRESS = "in_progress"
    BLOCKED = "blocked"
    DONE = "done"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """Finished work no longer blocks its successors or its parent."""
        return self in (Status.DONE, Status.CANCELLED)


# The state machine, declared once: every move not listed here is refused.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.TODO: frozenset({Status.IN_PROGRESS, Status.BLOCKED, Status.CANCELLED}),
    Status.IN_PROGRESS: frozenset({Status.TODO, Status.BLOCKED, Status.DONE, Status.CANCELLED}),
    Status.BLOCKED: frozenset({Status.TODO, Status.IN_PROGRESS, Status.CANCELLED}),
    Status.DONE: frozenset({Status.IN_PROGRESS}),
    Status.CANCELLED: frozenset({Status.TODO}),
}


def check_transition(
    current: Status, target: Status, *, open_blockers: int, open_children: int
) -> None:
    """Raise ``Conflict`` unless ``current -> target`` is allowed now."""
    if target not in TRANSITIONS[current]:
        raise Conflict(
            f"A work item cannot move from {current} to {target}",
            [
                FieldError(
                    "status", f"allowed from {current}: {', '.join(sorted(TRANSITIONS[current]))}"
                )
            ],
        )
    if target is Status.IN_PROGRESS and open_blockers:
        raise Conflict(
            "A work item cannot start while a blocker is open",
            [FieldError("status", f"{open_blockers} unfinished predecessor(s)")],
        )
    if target is Status.DONE and open_children:
        raise Conflict(
            "A work item is done only when its children are done",
            [FieldError("status", f"{open_children} unfinished child item(s)")],
        )


def etag(version: int) -> str:
    """The strong ETag of a version (quoted, as HTTP writes it)."""
    return f'"{version}"'


def check_if_match(if_match: str | None, version: int) -> None:
    """A conditional write goes ahead only on the current ETag (``*`` matches any)."""
    if if_match is None:
        return
    candidates = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    if "*" not in candidates and etag(version) not in candidates:
        raise PreconditionFailed(
            "The work item changed since it was read",
            [FieldError("If-Match", f"current ETag is {etag(version)}")],
        )


@dataclass(frozen=True, slots=True)
class WorkItem:
    id: str
    tenant_id: TenantId
    kind: Kind
    title: str
    operation_type: OperationType | None = None
    parent_id: str | None = None
    root_id: str | None = None  # the season plan at the top of the hierarchy
    season_id: str | None = None
    description: str = ""
    status: Status = Status.TODO
    priority: Priority = Priority.NORMAL
    assignees: tuple[str, ...] = ()
    due: date | None = None
    rank: int = 0
    estimate_hours: float = 0.0
    study_id: str | None = None
    location_id: str | None = None
    unit_ids: tuple[str, ...] = ()
    variable_ids: tuple[str, ...] = ()
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None
    completed_at: datetime | None = None

    @property
    def etag(self) -> str:
        return etag(self.version)

    @property
    def about(self) -> list[str]:
        """Everything a live viewer may follow this item through: itself, its board (parent),
        its plan and its season."""
        scopes = [self.id, self.parent_id, self.root_id, self.season_id]
        return list(dict.fromkeys(s for s in scopes if s))

    def moved(self, target: Status, at: datetime) -> WorkItem:
        completed = at if target is Status.DONE else None
        return replace(self, status=target, completed_at=completed)


def check_placement(item: WorkItem, parent: WorkItem | None) -> None:
    """The hierarchy, the season rule (only tasks are planned into a season) and the type."""
    problems: list[FieldError] = []
    wanted = HIERARCHY[item.kind]
    if wanted is None and parent is not None:
        problems.append(FieldError("parent_id", "a season plan has no parent"))
    if wanted is not None and (parent is None or parent.kind is not wanted):
        problems.append(FieldError("parent_id", f"a {item.kind} belongs to a {wanted}"))
    if item.season_id is not None and item.kind is not Kind.TASK:
        problems.append(FieldError("season_id", "only tasks are planned into a season"))
    if item.kind is Kind.PLAN and item.operation_type is not None:
        problems.append(FieldError("operation_type", "a season plan has no operation type"))
    if item.kind is Kind.OPERATION and item.operation_type is None:
        problems.append(FieldError("operation_type", "required for an operation"))
    if problems:
        raise ValidationFailed("Invalid work item placement", problems)


def check_fields(item: WorkItem) -> None:
    """Bounds of every free-form field, all reported at once."""
    problems: list[FieldError] = []
    if not item.title.strip() or len(item.title) > MAX_TITLE:
        problems.append(FieldError("title", f"1 to {MAX_TITLE} characters"))
    if len(item.description) > MAX_DESCRIPTION:
        problems.append(FieldError("description", f"at most {MAX_DESCRIPTION} characters"))
    if len(item.assignees) > MAX_ASSIGNEES or len(set(item.assignees)) != len(item.assignees):
        problems.append(FieldError("assignees", f"at most {MAX_ASSIGNEES}, no repeats"))
    if len(item.unit_ids) > MAX_UNITS:
        problems.append(FieldError("unit_ids", f"at most {MAX_UNITS}"))
    if len(item.variable_ids) > MAX_VARIABLES:
        problems.append(FieldError("variable_ids", f"at most {MAX_VARIABLES}"))
    if not 0 <= item.estimate_hours <= MAX_CAPACITY_HOURS:
        problems.append(FieldError("estimate_hours", f"between 0 and {MAX_CAPACITY_HOURS:g}"))
    references = (item.assignees, item.unit_ids, item.variable_ids)
    singles = (item.study_id, item.location_id)
    if any(not r or len(r) > MAX_REFERENCE for group in references for r in group) or any(
        s is not None and (not s or len(s) > MAX_REFERENCE) for s in singles
    ):
        problems.append(FieldError("references", f"ids have 1 to {MAX_REFERENCE} characters"))
    if problems:
        raise ValidationFailed("Invalid work item", problems)


@dataclass(frozen=True, slots=True)
class Season:
    """A time-boxed season of work (the sprint of the seeds) with a capacity in hours."""

    id: str
    tenant_id: TenantId
    name: str
    starts_on: date
    ends_on: date
    capacity_hours: float
    version: int = 1
    created_at: datetime | None = None

    @property
    def etag(self) -> str:
        return etag(self.version)


def check_season(season: Season) -> None:
    problems: list[FieldError] = []
    if not season.name.strip() or len(season.name) > MAX_TITLE:
        problems.append(FieldError("name", f"1 to {MAX_TITLE} characters"))
    if season.ends_on < season.starts_on:
        problems.append(FieldError("ends_on", "on or after starts_on"))
    elif (season.ends_on - season.starts_on).days > 366:
        problems.append(FieldError("ends_on", "a season lasts at most 367 days"))
    if not 0 <= season.capacity_hours <= MAX_CAPACITY_HOURS:
        problems.append(FieldError("capacity_hours", f"between 0 and {MAX_CAPACITY_HOURS:g}"))
    if problems:
        raise ValidationFailed("Invalid season", problems)
