"""Device profiles: which metrics a kind of device reports, in which unit, within which range."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

from bijmantra.kernel import FieldError, ValidationFailed

MAX_METRICS = 50
# A metric's range stays within this magnitude, so that summing a bucket's readings (the
# rollups keep sums) can never overflow a float8, which PostgreSQL raises as an error.
MAX_MAGNITUDE = 1e12
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One measured quantity; readings outside ``[minimum, maximum]`` are refused."""

    name: str
    unit: str
    minimum: float
    maximum: float

    def admits(self, value: float) -> bool:
        return math.isfinite(value) and self.minimum <= value <= self.maximum


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    profile_id: str
    name: str
    metrics: tuple[MetricSpec, ...]
    created_at: datetime

    def metric(self, name: str) -> MetricSpec | None:
        return next((m for m in self.metrics if m.name == name), None)


def parse_metrics(metrics: list[MetricSpec]) -> tuple[MetricSpec, ...]:
    """Check a profile's metric list: 1..50 metrics, unique snake_case names, min < max
    within ``MAX_MAGNITUDE``."""
    problems: list[FieldError] = []
    if not 1 <= len(metrics) <= MAX_METRICS:
        problems.append(FieldError("metrics", f"give 1 to {MAX_METRICS} metrics"))
    seen: set[str] = set()
    for i, m in enumerate(metrics):
        if not _NAME.match(m.name):
            problems.append(FieldError(f"metrics[{i}].name", "lower-case letters, digits, _"))
        if m.name in seen:
            problems.append(FieldError(f"metrics[{i}].name", "repeated"))
        seen.add(m.name)
        if not (0 < len(m.unit) <= 32):
            problems.append(FieldError(f"metrics[{i}].unit", "1 to 32 characters"))
        bounded = -MAX_MAGNITUDE <= m.minimum < m.maximum <= MAX_MAGNITUDE  # NaN: False
        if not bounded:
            problems.append(
                FieldError(
                    f"metrics[{i}]", f"minimum below maximum, both within ±{MAX_MAGNITUDE:g}"
                )
            )
    if problems:
        raise ValidationFailed("Invalid device profile", problems)
    return tuple(metrics)
