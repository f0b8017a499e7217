"""The activity log's rule: what changed between two versions of a work item."""

from __future__ import annotations

from dataclasses import dataclass, fields
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


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def changes(old: WorkItem, new: WorkItem) -> tuple[Change, ...]:
    """Every field that differs, as JSON-ready old and new values, in declaration order."""
    found = []
    for spec in fields(WorkItem):
        if spec.name in _NOT_LOGGED:
            continue
        before, after = getattr(old, spec.name), getattr(new, spec.name)
        if before != after:
            found.append(Change(spec.name, _plain(before), _plain(after)))
    return tuple(found)


def created(item: WorkItem) -> tuple[Change, ...]:
    """A creation logs the fields that were set (old values all None)."""
    blank = WorkItem(item.id, item.tenant_id, item.kind, "")
    return tuple(
        Change(c.field, None, c.new) for c in changes(blank, item) if c.new not in (None, "", [])
    )
