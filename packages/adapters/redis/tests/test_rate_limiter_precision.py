"""The limiter's stored time keeps Redis's microseconds: Lua's ``tostring`` keeps 14 digits,
a tenth of a millisecond of a TAT, so two calls within that tenth could read a TAT later
than the one charged, see one token fewer, and refuse a request a little early."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from bijmantra.adapters.redis.rate_limiter import RedisRateLimiter
from bijmantra.application.protection.ratelimit import Bucket, Quota
from redis.asyncio import Redis

pytestmark = pytest.mark.integration


async def test_calls_microseconds_apart_each_see_one_token_fewer(redis: Redis) -> None:
    limiter = RedisRateLimiter(redis, prefix="t")
    for _ in range(20):
        bucket = Bucket("client", uuid.uuid4().hex, Quota(25, 3600.0))
        decisions = await asyncio.gather(*(limiter.acquire([bucket]) for _ in range(25)))
        assert sorted(d.states[0].remaining for d in decisions) == list(range(25))
