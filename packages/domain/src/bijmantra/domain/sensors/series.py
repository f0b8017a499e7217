"""Downsampled history: resolutions, bucket boundaries and gaps shown as gaps."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from bijmantra.kernel import FieldError, ValidationFailed

MAX_POINTS = 10_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# History is asked for between these: no reading is older than the epoch, and bucket and
# day arithmetic stays clear of the calendar's end (year 9999).
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def within_history(start: datetime, end: datetime) -> None:
    """Refuse (422) a range reaching before 1970 or past 9000."""
    if start < EPOCH or end > LATEST:
        raise ValidationFailed(
            "from and to must lie between 1970 and 9000", [FieldError("from", "out of range")]
        )


class Resolution(StrEnum):
    RAW = "raw"
    MINUTE = "1m"
    HOUR = "1h"
    DAY = "1d"

    @property
    def step(self) -> timedelta:
        return {
            Resolution.MINUTE: timedelta(minutes=1),
            Resolution.HOUR: timedelta(hours=1),
            Resolution.DAY: timedelta(days=1),
        }[self]


def bucket_start(at: datetime, resolution: Resolution) -> datetime:
    """The UTC bucket ``at`` falls in (the database truncates the same way)."""
    step = resolution.step
    return EPOCH + ((at - EPOCH) // step) * step


@dataclass(frozen=True, slots=True)
class Bucket:
    start: datetime
    minimum: float
    maximum: float
    total: float
    count: int

    @property
    def mean(self) -> float:
        return self.total / self.count


@dataclass(frozen=True, slots=True)
class Window:
    """A validated history request: ``[start, end)`` at a resolution, bounded in points."""

    start: datetime
    end: datetime
    resolution: Resolution

    @classmethod
    def of(cls, start: datetime, end: datetime, resolution: Resolution) -> Window:
        if start.tzinfo is None or end.tzinfo is None:
            raise ValidationFailed("Times need a UTC offset", [FieldError("from", "naive time")])
        if end <= start:
            raise ValidationFailed("to must be after from", [FieldError("to", "not after from")])
        within_history(start, end)
        if resolution is not Resolution.RAW:
            first = bucket_start(start, resolution)
            if (end - first) / resolution.step > MAX_POINTS:
                raise ValidationFailed(
                    f"More than {MAX_POINTS} buckets: narrow the range or coarsen the resolution",
                    [FieldError("resolution", "too fine for this range")],
                )
            start = first
        return cls(start, end, resolution)


def with_gaps(window: Window, buckets: Iterable[Bucket]) -> list[tuple[datetime, Bucket | None]]:
    """Every bucket start of the window, with its bucket or None where no reading arrived."""
    found = {b.start: b for b in buckets}
    out: list[tuple[datetime, Bucket | None]] = []
    at = window.start
    while at < window.end:
        out.append((at, found.get(at)))
        at += window.resolution.step
    return out
