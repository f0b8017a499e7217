"""The activity log's rule: what changed between two versions of a work item."""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from bijmantra.domain.operations.model import WorkItem

# Bookkeeping that changes with every write and says nothing about the work itself.
_NOT_LOGGED = frozenset({"version", "updated_at", "created_at", "tenant_id", "id"})


@dataclass(frozen=True, slots=True)
class Change:
    field: str
    old: Any
    new: Any


def json_ready(value: Any) -> Any:
    """``value`` as JSON sees it: enum values, ISO 8601 dates, lists, records as objects."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [json_ready(item) for item in value]
    if is_dataclass(value) and not isinstance(value, type):
        return {spec.name: json_ready(getattr(value, spec.name)) for spec in fields(value)}
    return value


def changes(old: WorkItem, new: WorkItem) -> tuple[Change, ...]:
    """Every field that differs, as JSON-ready old and new values, in declaration order."""
    found = []
    for spec in fields(WorkItem):
        if spec.name in _NOT_LOGGED:
            continue
        before, after = getattr(old, spec.name), getattr(new, spec.name)
        if before != after:
            found.append(Change(spec.name, json_ready(before), json_ready(after)))
    return tuple(found)


def created(item: WorkItem) -> tuple[Change, ...]:
    """A creation logs the fields that were set (old values all None)."""
    blank = WorkItem(item.id, item.tenant_id, item.kind, "")
    return tuple(
        Change(c.field, None, c.new) for c in changes(blank, item) if c.new not in (None, "", [])
    )
