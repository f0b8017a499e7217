"""Rate limits per organization and per client, per route class (ADR 0140).

The limiter is a generic cell rate algorithm (GCRA): each bucket keeps one number, its
theoretical arrival time (TAT). A quota of ``limit`` requests per ``window`` lets a burst of
``limit`` through and then one request every ``window / limit``. ``gcra_step`` is the rule;
the Redis adapter runs the same arithmetic in one Lua script so replicas share buckets.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from bijmantra.kernel import TenantId


class RouteClass(enum.Enum):
    """What a request costs the platform; each class has its own budget."""

    READ = "read"
    WRITE = "write"
    SEARCH = "search"
    UPLOAD = "upload"


_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_WRITE_TYPES = (
    "application/json",
    "application/ld+json",
    "application/merge-patch+json",
    "application/x-www-form-urlencoded",
)


def classify(method: str, path: str, content_type: str) -> RouteClass:
    """Reads by method; a POST under a ``/search/`` path searches; a write whose body is not
    JSON or a url-encoded form (the console's forms) is an upload: multipart, an image, a
    VCF."""
    if method in _READ_METHODS:
        return RouteClass.READ
    if method == "POST" and "/search/" in path:
        return RouteClass.SEARCH
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type and not media_type.startswith(_WRITE_TYPES):
        return RouteClass.UPLOAD
    return RouteClass.WRITE


@dataclass(frozen=True, slots=True)
class Quota:
    """``limit`` requests per ``window_seconds``, burst included."""

    limit: int
    window_seconds: float

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window_seconds <= 0:
            raise ValueError(f"a quota needs limit >= 1 and a positive window: {self}")

    @property
    def window_ms(self) -> float:
        return self.window_seconds * 1000.0

    @property
    def interval_ms(self) -> float:
        """The emission interval: one request's share of the window."""
        return self.window_ms / self.limit


@dataclass(frozen=True, slots=True)
class ClassQuotas:
    organization: Quota
    client: Quota


@dataclass(frozen=True, slots=True)
class RateLimitPolicy:
    quotas: Mapping[RouteClass, ClassQuotas]

    def buckets(self, route_class: RouteClass, tenant: TenantId, subject: str) -> list[Bucket]:
        """The organization's bucket and the client's (scoped to its organization)."""
        quotas = self.quotas[route_class]
        name = route_class.value
        return [
            Bucket("organization", f"{name}:org:{tenant}", quotas.organization),
            Bucket("client", f"{name}:client:{tenant}:{subject}", quotas.client),
        ]


def default_policy(window_seconds: float = 60.0) -> RateLimitPolicy:
    """Generous per-minute budgets: a busy field app stays far below, a flood does not."""
    per_window = {
        RouteClass.READ: (12_000, 6_000),
        RouteClass.WRITE: (3_000, 1_200),
        RouteClass.SEARCH: (1_200, 600),
        RouteClass.UPLOAD: (120, 60),
    }
    return RateLimitPolicy(
        {
            route_class: ClassQuotas(
                Quota(organization, window_seconds), Quota(client, window_seconds)
            )
            for route_class, (organization, client) in per_window.items()
        }
    )


@dataclass(frozen=True, slots=True)
class Bucket:
    policy: str  # the name clients see in RateLimit-Policy: "organization" or "client"
    key: str
    quota: Quota


@dataclass(frozen=True, slots=True)
class GcraResult:
    allowed: bool
    tat_ms: float  # the bucket's new TAT when allowed, else the unchanged one
    remaining: int
    reset_ms: float  # until the bucket is full again
    retry_after_ms: float  # until one more request would pass (0 when allowed)


# Sums of float milliseconds drift by ~1e-13: a request exactly one interval late must pass.
SLACK_MS = 1e-6


def gcra_step(tat_ms: float | None, now_ms: float, quota: Quota) -> GcraResult:
    """One request against one bucket (the Lua script in the Redis adapter mirrors this)."""
    tat = now_ms if tat_ms is None else max(tat_ms, now_ms)
    new_tat = tat + quota.interval_ms
    if new_tat - now_ms > quota.window_ms + SLACK_MS:
        return GcraResult(
            allowed=False,
            tat_ms=tat,
            remaining=0,
            reset_ms=tat - now_ms,
            retry_after_ms=new_tat - now_ms - quota.window_ms,
        )
    remaining = math.floor((quota.window_ms - (new_tat - now_ms)) / quota.interval_ms)
    return GcraResult(True, new_tat, remaining, new_tat - now_ms, 0.0)


@dataclass(frozen=True, slots=True)
class BucketState:
    bucket: Bucket
    remaining: int
    reset_seconds: float
    retry_after_seconds: float


@dataclass(frozen=True, slots=True)
class Decision:
    """All buckets pass together or none is charged."""

    states: tuple[BucketState, ...]

    @property
    def allowed(self) -> bool:
        return all(state.retry_after_seconds == 0 for state in self.states)

    @property
    def retry_after_seconds(self) -> float:
        return max((state.retry_after_seconds for state in self.states), default=0.0)

    @property
    def tightest(self) -> BucketState:
        """The bucket the client should pace itself by: a refusing one, else the fullest."""
        return max(self.states, key=lambda s: (s.retry_after_seconds, -s.remaining))


def decide(
    tats: Sequence[float | None], now_ms: float, buckets: Sequence[Bucket]
) -> tuple[Decision, list[float]]:
    """Every bucket's step; the new TATs to store (only when every bucket allowed)."""
    results = [gcra_step(tat, now_ms, b.quota) for tat, b in zip(tats, buckets, strict=True)]
    decision = Decision(
        tuple(
            BucketState(b, r.remaining, r.reset_ms / 1000, r.retry_after_ms / 1000)
            for b, r in zip(buckets, results, strict=True)
        )
    )
    return decision, [r.tat_ms for r in results]


class RateLimiter(Protocol):
    """Charges one request to every bucket at once, atomically, shared by all replicas."""

    async def acquire(self, buckets: Sequence[Bucket]) -> Decision: ...


def parse_policy(text: str, window_seconds: float = 60.0) -> RateLimitPolicy:
    """``read=12000/6000,write=…``: per route class, the organization's and the client's
    requests per window; classes not named keep their defaults."""
    quotas = dict(default_policy(window_seconds).quotas)
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, limits = item.partition("=")
        organization, _, client = limits.partition("/")
        try:
            route_class = RouteClass(name.strip())
            quotas[route_class] = ClassQuotas(
                Quota(int(organization), window_seconds), Quota(int(client), window_seconds)
            )
        except ValueError as error:
            raise ValueError(
                f"rate limits: {item!r} is not <read|write|search|upload>=<org>/<client>"
            ) from error
    return RateLimitPolicy(quotas)
