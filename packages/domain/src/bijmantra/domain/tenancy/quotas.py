"""How much of what every organization shares one organization may take in a day (ADR 0340).

Requests are bounded and rate-limited, but over weeks one organization could still fill the
shared event stream (whose bytes limit evicts the oldest events of every organization) or the
tables of telemetry, genotypes, analysis results and uploads. Each such growth path is a
``Resource`` with a daily limit per organization, charged in the write's own transaction; a
write that would pass it is refused whole (429, with the wait until the UTC day turns) and
the other organizations never notice.

A daily limit bounds what is kept: an organization holds at most ``limit x days kept`` of a
resource that is kept for so many days (events for the stream's ``max_age``, readings for
their retention). ``event_budget`` turns the stream's size into the daily limit that keeps one
organization's events within a share of it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from bijmantra.kernel import FieldError, RateLimited

DAY = timedelta(days=1)


class Resource(StrEnum):
    """A shared resource that grows with an organization's writes, and its unit."""

    EVENT_BYTES = "event_bytes"  # bytes of domain events: outbox rows, then the stream
    TELEMETRY_READINGS = "telemetry_readings"  # sensor readings stored
    GENOTYPE_CALLS = "genotype_calls"  # calls stored by imports and extracts (variants x samples)
    ANALYSIS_RESULT_BYTES = "analysis_result_bytes"  # tables, artifacts and figures stored
    UPLOAD_BYTES = "upload_bytes"  # file contents stored beside documents (images)


_NOUNS = {
    Resource.EVENT_BYTES: "bytes of events",
    Resource.TELEMETRY_READINGS: "telemetry readings",
    Resource.GENOTYPE_CALLS: "genotype calls",
    Resource.ANALYSIS_RESULT_BYTES: "bytes of analysis results",
    Resource.UPLOAD_BYTES: "bytes of uploaded files",
}
# A sensor batch is at most 10,000 readings (domain.sensors.MAX_BATCH): a day's limit is
# well above what one batch takes.
DEFAULT_TELEMETRY_READINGS = 5_000_000
# 2 bits a call packed: 5 GB of matrices a day (100,000 samples x 200,000 variants).
DEFAULT_GENOTYPE_CALLS = 20_000_000_000
# A GRM of the most samples a 2 GiB job budget allows (ADR 0338) is ~0.4 GB: many a day.
DEFAULT_ANALYSIS_RESULT_BYTES = 8 << 30
DEFAULT_UPLOAD_BYTES = 2 << 30  # 256 of the largest images (8 MiB) a day
DEFAULT_STREAM_SHARE = 8  # one organization may hold at most 1/8 of the event stream
# What the stream stores of an event beside its payload: the subject, the headers (message id,
# tenant, type, traceparent) and the store's own record (a published event's measured size,
# ``adapters/nats/tests/test_stream_sharing.py``, is within it).
EVENT_OVERHEAD = 384


@dataclass(frozen=True, slots=True)
class DailyQuotas:
    """The deployment's limit per organization and UTC day of each bounded resource; a
    resource not named is not bounded. An organization's own limit, where an operator set
    one, replaces the deployment's (``domain.organization_quotas``)."""

    limits: Mapping[Resource, int]

    def __post_init__(self) -> None:
        for resource, limit in self.limits.items():
            if limit < 1:
                raise ValueError(f"a daily quota of {resource} needs a limit >= 1, not {limit}")

    def without(self, *resources: Resource) -> DailyQuotas:
        """These quotas but for ``resources``, which are then neither counted nor refused."""
        return DailyQuotas({r: n for r, n in self.limits.items() if r not in resources})


@dataclass(frozen=True, slots=True)
class Charge:
    resource: Resource
    amount: int
    limit: int


def period_of(now: datetime) -> date:
    """The UTC day a write at ``now`` is charged to."""
    return now.astimezone(UTC).date()


def seconds_to_next_period(now: datetime) -> int:
    """Whole seconds (at least 1) until the UTC day after ``now`` begins."""
    turn = datetime.combine(period_of(now) + DAY, datetime.min.time(), UTC)
    return max(1, math.ceil((turn - now).total_seconds()))


def charges(quotas: DailyQuotas, usage: Mapping[Resource, int]) -> tuple[Charge, ...]:
    """What a write costs, of bounded resources only and in one order (two writes charging the
    same resources lock their rows in the same order, so they never deadlock)."""
    return tuple(
        Charge(resource, amount, quotas.limits[resource])
        for resource, amount in sorted(usage.items())
        if amount > 0 and resource in quotas.limits
    )


def event_bytes(payload_sizes: Iterable[int]) -> int:
    """What events of these payload sizes take of the stream."""
    return sum(size + EVENT_OVERHEAD for size in payload_sizes)


def quota_refusal(resource: Resource, limit: int, now: datetime) -> RateLimited:
    """429 with ``Retry-After``: the organization's day of ``resource`` is used up."""
    noun = _NOUNS[resource]
    return RateLimited(
        f"This organization's daily quota of {noun} ({limit:,}) would be passed: the write "
        "was not stored; the quota renews at 00:00 UTC",
        [
            FieldError("retryAfter", str(seconds_to_next_period(now))),
            FieldError("quota", resource.value),
        ],
    )


@dataclass(frozen=True, slots=True)
class DayStanding:
    """What an organization has used of a bounded resource on the current UTC day (all its
    shards, committed) and its limit there, read before a heavy write starts."""

    resource: Resource
    used: int
    limit: int


class EarlyQuotaRefusal(RateLimited):
    """The quota's 429 given before a heavy write did its work (``early_refusal``). The same
    answer as a refusal at commit; its own class so that it is counted once, where it leaves
    the service (the gRPC edge), while a refusal at commit is counted where its charge fails:
    a request refused early never reaches the commit, one refused at commit passed early."""

    def __init__(self, resource: Resource, limit: int, now: datetime) -> None:
        refusal = quota_refusal(resource, limit, now)
        super().__init__(refusal.message, refusal.details)
        self.resource = resource


def early_refusal(
    standing: DayStanding | None, now: datetime, known: int = 0
) -> EarlyQuotaRefusal | None:
    """The 429 a heavy write (an import, an upload, an analysis) gets before it does its work:
    the day is used up, or ``known`` (what the write will charge, when known up front: an
    upload's declared length) would pass the limit. ``None`` (start): the resource is not
    bounded, or there is room. Advisory: the standing may be stale by the writes in flight,
    and the charge at commit still decides."""
    if known < 0:
        raise ValueError(f"a write charges a non-negative amount, not {known}")
    if standing is None:
        return None
    if standing.used >= standing.limit or standing.used + known > standing.limit:
        return EarlyQuotaRefusal(standing.resource, standing.limit, now)
    return None


def event_budget(stream_bytes: int, max_age: timedelta, share: int) -> int:
    """Daily event bytes that keep one organization within ``1/share`` of the stream.

    The stream keeps events for ``max_age``, which spans at most ``ceil(max_age / day) + 1``
    UTC days; an organization that writes its whole budget every day holds no more than
    ``stream_bytes / share`` at any moment, so it alone never reaches the stream's limit and
    never evicts another organization's events."""
    if stream_bytes < 1 or share < 1 or max_age <= timedelta(0):
        raise ValueError("a stream of some bytes, a positive age and a share >= 1")
    days = math.ceil(max_age / DAY) + 1
    return max(1, stream_bytes // (share * days))


def deployment_quotas(
    stream_bytes: int,
    max_age: timedelta,
    *,
    share: int,
    event_bytes: int,
    readings: int,
    calls: int = DEFAULT_GENOTYPE_CALLS,
    results: int = DEFAULT_ANALYSIS_RESULT_BYTES,
    uploads: int = DEFAULT_UPLOAD_BYTES,
) -> DailyQuotas:
    """A deployment's quotas: ``event_bytes`` a day, or when 0 the budget of ``share``."""
    budget = event_bytes or event_budget(stream_bytes, max_age, share)
    return DailyQuotas(
        {
            Resource.EVENT_BYTES: budget,
            Resource.TELEMETRY_READINGS: readings,
            Resource.GENOTYPE_CALLS: calls,
            Resource.ANALYSIS_RESULT_BYTES: results,
            Resource.UPLOAD_BYTES: uploads,
        }
    )
