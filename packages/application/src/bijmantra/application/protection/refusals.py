"""Refusals a worker answers itself (ADR 0142).

A bucket that refused a request with ``retry_after`` cannot admit another before that time:
its TAT only moves later (other replicas can only charge it further). So until then every
request naming that bucket would be refused by Redis too, and the worker refuses it from
memory instead: a flooding organization's 429s cost no Redis round trip. Exact, not an
approximation, and per bucket: a refused client does not refuse its organization.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from bijmantra.application.protection.ratelimit import Bucket, BucketState, Decision, RateLimiter

_PRUNE_ABOVE = 4096  # remembered buckets before expired ones are swept


class RememberedRefusals:
    """A ``RateLimiter`` in front of another, answering known refusals locally."""

    def __init__(self, limiter: RateLimiter, now: Callable[[], float] = time.monotonic) -> None:
        self._limiter, self._now = limiter, now
        self._refused: dict[str, tuple[float, float]] = {}  # bucket key: (until, full again at)

    async def acquire(self, buckets: Sequence[Bucket]) -> Decision:
        now = self._now()
        for bucket in buckets:
            remembered = self._refused.get(bucket.key)
            if remembered is None:
                continue
            until, reset_at = remembered
            if now < until:
                return Decision((BucketState(bucket, 0, reset_at - now, until - now),))
            del self._refused[bucket.key]
        decision = await self._limiter.acquire(buckets)
        if not decision.allowed:
            self._remember(decision, self._now())
        return decision

    def _remember(self, decision: Decision, now: float) -> None:
        if len(self._refused) > _PRUNE_ABOVE:
            self._refused = {k: v for k, v in self._refused.items() if v[0] > now}
        for state in decision.states:
            if state.retry_after_seconds > 0:
                until = now + state.retry_after_seconds
                self._refused[state.bucket.key] = (until, now + state.reset_seconds)
