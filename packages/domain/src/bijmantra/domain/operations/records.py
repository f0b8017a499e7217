"""What people add around a work item: comments, time entries, dependencies, activity."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime

from bijmantra.domain.operations.activity import Change
from bijmantra.kernel import FieldError, ValidationFailed

MAX_COMMENT = 10_000
MAX_NOTE = 1_000
MAX_HOURS_PER_ENTRY = 24.0


@dataclass(frozen=True, slots=True)
class Comment:
    id: str
    work_item_id: str
    author: str
    body: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TimeEntry:
    """Hours one member spent on one item on one day (never negative, at most a day)."""

    id: str
    work_item_id: str
    member: str
    day: date
    hours: float
    note: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Dependency:
    """Finish-to-start: ``successor_id`` cannot start before ``predecessor_id`` finishes."""

    predecessor_id: str
    successor_id: str
    created_at: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class ActivityEntry:
    """Who did what to an item, with every changed field's old and new value."""

    id: str
    work_item_id: str
    actor: str
    action: str
    changes: tuple[Change, ...]
    at: datetime


def check_comment(body: str) -> None:
    if not body.strip() or len(body) > MAX_COMMENT:
        raise ValidationFailed(
            "Invalid comment", [FieldError("body", f"1 to {MAX_COMMENT} characters")]
        )


def check_time_entry(hours: float, note: str) -> None:
    problems = []
    if not math.isfinite(hours) or not 0 <= hours <= MAX_HOURS_PER_ENTRY:
        problems.append(FieldError("hours", f"between 0 and {MAX_HOURS_PER_ENTRY:g}"))
    if len(note) > MAX_NOTE:
        problems.append(FieldError("note", f"at most {MAX_NOTE} characters"))
    if problems:
        raise ValidationFailed("Invalid time entry", problems)
