"""Response documents: msgspec structs (ADR 0250) against the dicts they replaced.

``/api/v1`` answers are declared as structs so the published contract can describe them;
that must not make answering slower. Measured in the same run, best of 5: encoding 10,000
work items the way domain-api answers a board page (``item_data`` -> struct -> JSON) against
the dict builder it replaced (kept below as the baseline, field for field). A ratio above 1
means the struct path is faster. (The gateway's envelope ``meta`` stays a dict literal: it
splices bytes and builds no struct on the request path.) Writes
``bench/results/documents.json``.
"""

from __future__ import annotations

import os
import platform
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import msgspec
from bijmantra.application.operations.dto import item_data
from bijmantra.domain.operations import Kind, OperationType, WorkItem
from bijmantra.kernel import TenantId

from bench.schema.bench_schema import best_seconds, write_result

ROOT = Path(__file__).resolve().parents[2]
ITEMS = 10_000
_encode = msgspec.json.encode


def _time(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


def dict_before(item: WorkItem) -> dict[str, Any]:
    """The baseline: ``item_data`` as it was before ADR 0250."""
    return {
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


def work_items(n: int) -> list[WorkItem]:
    tenant, now = TenantId(uuid.uuid4()), datetime(2026, 12, 6, 7, 0, tzinfo=UTC)
    return [
        WorkItem(
            id=str(uuid.uuid4()),
            tenant_id=tenant,
            kind=Kind.TASK,
            title=f"sow block {i}",
            operation_type=OperationType.PLANTING,
            parent_id="op",
            root_id="plan",
            assignees=("ana", "ben"),
            due=date(2027, 4, 1),
            rank=i,
            unit_ids=tuple(f"u{i}-{k}" for k in range(4)),
            created_at=now,
            updated_at=now,
        )
        for i in range(n)
    ]


def main() -> None:
    items = work_items(ITEMS)
    assert msgspec.json.decode(_encode(item_data(items[0]))) == {
        **msgspec.json.decode(_encode(dict_before(items[0]))),
        "created_at": "2026-12-06T07:00:00Z",
        "updated_at": "2026-12-06T07:00:00Z",
    }  # the same document (datetimes now in RFC 3339's Z form)
    dicts = best_seconds(lambda: [_encode(dict_before(i)) for i in items])
    structs = best_seconds(lambda: [_encode(item_data(i)) for i in items])
    result = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": os.getloadavg()[0],
        "items": ITEMS,
        "baseline": {"name": "dict builder + encode", "seconds": round(dicts, 4)},
        "speedup_over_baseline": {
            "work item: struct + encode": round(dicts / structs, 2),
        },
    }
    write_result("documents.json", result)


if __name__ == "__main__":
    main()
