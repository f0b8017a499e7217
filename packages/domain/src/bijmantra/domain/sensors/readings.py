"""Telemetry readings: which items of a batch are stored and why the others are refused."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import compress, islice
from operator import attrgetter, lt
from typing import NamedTuple, Protocol, cast

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


class ReadingLike(Protocol):
    """What the rules read of a reading: ``Reading``, or a decoded batch item as it comes
    (building a ``Reading`` per item cost more than decoding the JSON)."""

    @property
    def metric(self) -> str: ...

    @property
    def at(self) -> datetime: ...

    @property
    def value(self) -> float: ...


_metric, _at, _value = attrgetter("metric"), attrgetter("at"), attrgetter("value")
Columns = tuple[list[str], list[datetime], list[float]]


class CheckedReadings(tuple[ReadingLike, ...]):
    """A batch's storable readings with their columns, taken once when the batch was checked:
    the store, the event's summary and the rules read the same columns (three passes over
    10,000 items before). The columns are shared: readers do not change them."""

    columns: Columns

    def __new__(cls, readings: Sequence[ReadingLike], taken: Columns) -> CheckedReadings:
        checked = super().__new__(cls, readings)
        checked.columns = taken
        return checked


def columns(readings: Sequence[ReadingLike]) -> Columns:
    """Metrics, times and values of the readings, each a column (C loops, no per-item code);
    a checked batch's own columns as they are."""
    if isinstance(readings, CheckedReadings):
        return readings.columns
    return (
        list(map(_metric, readings)),
        list(map(_at, readings)),
        list(map(_value, readings)),
    )


@dataclass(frozen=True, slots=True)
class MetricSummary:
    """What a batch held of one metric: how many readings, their span, their extremes and
    the newest reading (the one a rule's watch ends on). The telemetry event carries these
    instead of every reading (ADR 0304)."""

    metric: str
    count: int
    first: datetime
    last: datetime
    minimum: float
    maximum: float
    last_value: float


def summarize(readings: Sequence[ReadingLike]) -> tuple[MetricSummary, ...]:
    """One summary per metric, in the order metrics first appear. ``last_value`` belongs to
    the newest reading; of two at the same time, the greater value (the order ``observe``
    sorts them in, so a watch fed only the newest reading ends where it would have)."""
    metrics, times, values = columns(readings)
    names = dict.fromkeys(metrics)  # a profile's few metrics; usually one a batch
    summaries = []
    for metric in names:
        own_times, own_values = times, values
        if len(names) > 1:
            own = list(map(metric.__eq__, metrics))
            own_times, own_values = list(compress(times, own)), list(compress(values, own))
        last = max(own_times)
        last_value = max(compress(own_values, map(last.__eq__, own_times)))
        summaries.append(
            MetricSummary(
                metric,
                len(own_times),
                min(own_times),
                last,
                min(own_values),
                max(own_values),
                last_value,
            )
        )
    return tuple(summaries)


def _increasing(times: list[datetime]) -> bool:
    return all(map(lt, times, islice(times, 1, None)))


@dataclass(frozen=True, slots=True)
class ItemError:
    """A refused batch item: its 0-based index and a reason a device operator can act on."""

    index: int
    reason: str


@dataclass(frozen=True, slots=True)
class SortedBatch:
    good: tuple[ReadingLike, ...]
    errors: tuple[ItemError, ...]


def _good_columns(
    profile: DeviceProfile, items: Sequence[ReadingLike | str], oldest: datetime, newest: datetime
) -> Columns | None:
    """The batch's columns when every item is a storable reading, checked a column at a
    time (C loops over the whole batch: min, max, comparisons of neighbours) rather than
    item by item: a device's usual batch. Times increasing per metric rule out a repeated
    (metric, time) without hashing each; otherwise a set decides. ``None`` when any is not.

    A naive time among aware ones makes ``min``/``max`` raise; the caller then sorts item
    by item, which names it."""
    if not items or str in set(map(type, items)):  # an item that did not parse
        return None
    taken = columns(cast("Sequence[ReadingLike]", items))
    metrics, times, values = taken
    names = set(metrics)
    if len(names) == 1:
        by_metric = {metrics[0]: (times, values)}
    else:
        grouped: dict[str, tuple[list[datetime], list[float]]] = {n: ([], []) for n in names}
        for name, at, value in zip(metrics, times, values, strict=True):
            group = grouped[name]
            group[0].append(at)
            group[1].append(value)
        by_metric = grouped
    try:
        if min(times) < oldest or max(times) > newest:
            return None
    except TypeError:
        return None
    for name, (_, metric_values) in by_metric.items():
        spec = profile.metric(name)
        if spec is None or not all(map(math.isfinite, metric_values)):
            return None
        if min(metric_values) < spec.minimum or max(metric_values) > spec.maximum:
            return None
    if all(_increasing(metric_times) for metric_times, _ in by_metric.values()):
        return taken
    return taken if len(set(zip(metrics, times, strict=True))) == len(items) else None


def sort_batch(
    profile: DeviceProfile,
    items: Sequence[ReadingLike | str],
    now: datetime,
    *,
    retention: timedelta = RETENTION,
) -> SortedBatch:
    """Split a batch into storable readings and item errors.

    ``items`` holds parsed readings, or for an item that could not be parsed the reason why.
    A repeated (metric, time) in one batch is stored once (the first value wins), as a
    resent batch is: readings are idempotent on (device, metric, time).
    """
    taken = _good_columns(profile, items, now - retention, now + MAX_CLOCK_SKEW)
    if taken is not None:
        return SortedBatch(CheckedReadings(cast("Sequence[ReadingLike]", items), taken), ())
    good: list[ReadingLike] = []
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
    return SortedBatch(CheckedReadings(good, columns(good)), tuple(errors))
