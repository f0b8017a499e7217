"""A refused bucket is answered from memory until its retry-after (ADR 0142): no Redis round
trip for a flood's 429s, and exactly the answers the shared limiter would have given."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from bijmantra.application.protection.ratelimit import Bucket, Decision, RouteClass, parse_policy
from bijmantra.application.protection.refusals import RememberedRefusals
from bijmantra.kernel import TenantId
from bijmantra.testkit.protection_fakes import FakeRateLimiter

A = TenantId(uuid.UUID("0193a000-0000-7000-8000-0000000000aa"))


class Counted:
    def __init__(self, limiter: FakeRateLimiter) -> None:
        self.limiter, self.calls = limiter, 0

    async def acquire(self, buckets: Sequence[Bucket]) -> Decision:
        self.calls += 1
        return await self.limiter.acquire(buckets)


async def test_a_refused_bucket_is_refused_locally_until_its_retry_after() -> None:
    now = [100.0]  # seconds; moved by hand
    shared = Counted(FakeRateLimiter(lambda: now[0] * 1000))
    local = RememberedRefusals(shared, now=lambda: now[0])
    policy = parse_policy("read=2/100", window_seconds=60)  # the organization: 2, then 1 / 30 s
    alice = policy.buckets(RouteClass.READ, A, "alice")
    assert [(await local.acquire(alice)).allowed for _ in range(3)] == [True, True, False]
    assert shared.calls == 3

    now[0] += 10
    again = await local.acquire(alice)
    assert not again.allowed
    assert shared.calls == 3  # answered from memory
    assert round(again.retry_after_seconds) == 20
    assert again.tightest.remaining == 0

    bob = policy.buckets(RouteClass.READ, A, "bob")  # same organization: its bucket refused
    assert not (await local.acquire(bob)).allowed
    assert shared.calls == 3  # the organization's refusal holds for every client of it

    now[0] += 20  # the retry-after has passed: the shared limiter decides again
    assert (await local.acquire(alice)).allowed
    assert shared.calls == 4


async def test_a_refused_client_does_not_refuse_its_organization() -> None:
    now = [0.0]
    shared = Counted(FakeRateLimiter(lambda: now[0] * 1000))
    local = RememberedRefusals(shared, now=lambda: now[0])
    policy = parse_policy("read=100/1", window_seconds=60)
    assert (await local.acquire(policy.buckets(RouteClass.READ, A, "alice"))).allowed
    assert not (await local.acquire(policy.buckets(RouteClass.READ, A, "alice"))).allowed
    assert (await local.acquire(policy.buckets(RouteClass.READ, A, "carol"))).allowed
