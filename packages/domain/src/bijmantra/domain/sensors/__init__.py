"""Sensors context: device profiles, device enrolment, readings, history and covariates."""

from bijmantra.domain.sensors.covariates import (
    DEFAULT_GDD_BASE,
    DayEnvironment,
    DayWeather,
    environment,
    growing_degree_days,
)
from bijmantra.domain.sensors.enrolment import (
    CLAIM_CODE_TTL,
    COMMISSION_WINDOW,
    Device,
    EnrolmentState,
    Placement,
)
from bijmantra.domain.sensors.profiles import DeviceProfile, MetricSpec, parse_metrics
from bijmantra.domain.sensors.readings import (
    MAX_BATCH,
    RETENTION,
    ItemError,
    Reading,
    SortedBatch,
    sort_batch,
)
from bijmantra.domain.sensors.series import (
    MAX_POINTS,
    Bucket,
    Resolution,
    Window,
    bucket_start,
    with_gaps,
)

__all__ = [
    "CLAIM_CODE_TTL",
    "COMMISSION_WINDOW",
    "DEFAULT_GDD_BASE",
    "MAX_BATCH",
    "MAX_POINTS",
    "RETENTION",
    "Bucket",
    "DayEnvironment",
    "DayWeather",
    "Device",
    "DeviceProfile",
    "EnrolmentState",
    "ItemError",
    "MetricSpec",
    "Placement",
    "Reading",
    "Resolution",
    "SortedBatch",
    "Window",
    "bucket_start",
    "environment",
    "growing_degree_days",
    "parse_metrics",
    "sort_batch",
    "with_gaps",
]
