"""Telemetry readings: which items of a batch are stored and why the others are refused."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple, cast

from bijmantra.domain.sensors.profiles import DeviceProfile

MAX_BATCH = 10_000
# A device clock may run a little fast; beyond this a timestamp is refused as in the future.
MAX_CLOCK_SKEW = timedelta(minutes=5)
# Raw readings are kept this long (whole monthly partitions are dropped after it).
RETENTION = timedelta(days=400)


class Reading(NamedTuple):
    """One value of one metric at one time. A named tuple: a batch makes 10,000 of them, and
    a frozen dataclass's ``__init__`` cost more than parsing the JSON they came from."""

    metric: str
    at: datetime
    value: float


@dataclass(frozen=True, slots=True)
class ItemError:
    """A refused batch item: its 0-based index and a reason a device operator can act on."""

    index: int
    reason: str


@dataclass(frozen=True, slots=True)
class SortedBatch:
    good: tuple[Reading, ...]
    errors: tuple[ItemError, ...]


def _all_good(
    profile: DeviceProfile, items: list[Reading | str], oldest: datetime, newest: datetime
) -> bool:
    """Whether every item is a storable reading, checked a column at a time (C loops over
    the whole batch: min, max, set) rather than item by item: a device's usual batch.

    A naive time among aware ones makes ``min``/``max`` raise; the caller then sorts item
    by item, which names it."""
    if not items or any(isinstance(item, str) for item in items):
        return False
    readings = cast("list[Reading]", items)
    by_metric: dict[str, list[float]] = {}
    for reading in readings:
        by_metric.setdefault(reading.metric, []).append(reading.value)
    try:
        times = [r.at for r in readings]
        if min(times) < oldest or max(times) > newest:
            return False
    except TypeError:
        return False
    for name, values in by_metric.items():
        spec = profile.metric(name)
        if spec is None or not all(map(math.isfinite, values)):
            return False
        if min(values) < spec.minimum or max(values) > spec.maximum:
            return False
    return len({(r.metric, r.at) for r in readings}) == len(readings)


def sort_batch(
    profile: DeviceProfile,
    items: list[Reading | str],
    now: datetime,
    *,
    retention: timedelta = RETENTION,
) -> SortedBatch:
    """Split a batch into storable readings and item errors.

    ``items`` holds parsed readings, or for an item that could not be parsed the reason why.
    A repeated (metric, time) in one batch is stored once (the first value wins), as a
    resent batch is: readings are idempotent on (device, metric, time).
    """
    if _all_good(profile, items, now - retention, now + MAX_CLOCK_SKEW):
        return SortedBatch(tuple(cast("list[Reading]", items)), ())
    good: list[Reading] = []
    errors: list[ItemError] = []
    seen: set[tuple[str, datetime]] = set()
    oldest, newest = now - retention, now + MAX_CLOCK_SKEW
    for index, item in enumerate(items):
        if isinstance(item, str):
            errors.append(ItemError(index, item))
            continue
        spec = profile.metric(item.metric)
        if spec is None:
            errors.append(ItemError(index, f"unknown metric {item.metric!r} for this profile"))
        elif item.at.tzinfo is None:
            errors.append(ItemError(index, "time must carry a UTC offset"))
        elif item.at > newest:
            errors.append(ItemError(index, "time is in the future"))
        elif item.at < oldest:
            errors.append(ItemError(index, "time is beyond the retention period"))
        elif not spec.admits(item.value):
            shown = item.value if math.isfinite(item.value) else "not finite"
            errors.append(
                ItemError(
                    index,
                    f"{item.metric} {shown} outside {spec.minimum}..{spec.maximum} {spec.unit}",
                )
            )
        elif (item.metric, item.at) not in seen:
            seen.add((item.metric, item.at))
            good.append(item)
    return SortedBatch(tuple(good), tuple(errors))
