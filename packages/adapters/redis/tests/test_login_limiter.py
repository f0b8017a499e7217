"""RedisLoginLimiter against a real Redis: per-(account, address) and per-address back-off."""

from __future__ import annotations

import uuid

import pytest
from bijmantra.adapters.redis.login_limiter import RedisLoginLimiter
from bijmantra.application.tenancy.throttle import BackoffPolicy
from redis.asyncio import Redis

pytestmark = pytest.mark.integration


def limiter(redis: Redis, **kwargs: BackoffPolicy) -> RedisLoginLimiter:
    return RedisLoginLimiter(redis, prefix=f"test-{uuid.uuid4().hex}", **kwargs)


def test_policy_doubles_and_caps() -> None:
    policy = BackoffPolicy(free=3, base_seconds=2, max_seconds=30)
    assert [policy.lock_seconds(n) for n in range(1, 9)] == [0, 0, 2, 4, 8, 16, 30, 30]


async def test_account_is_locked_after_the_free_failures_with_growing_back_off(
    redis: Redis,
) -> None:
    limit = limiter(redis, account_policy=BackoffPolicy(free=3, base_seconds=10))
    for _ in range(2):
        await limit.failed("Ann@Example.org", "10.0.0.1")
        assert await limit.retry_after("ann@example.org", "10.0.0.1") == 0
    await limit.failed("ann@example.org", "10.0.0.1")
    first = await limit.retry_after("ann@example.org", "10.0.0.1")
    assert 9 < first <= 10
    await limit.failed("ann@example.org", "10.0.0.1")
    second = await limit.retry_after("ann@example.org", "10.0.0.1")
    assert 19 < second <= 20
    # the account is locked at that address only; other accounts are not
    assert await limit.retry_after("ann@example.org", "192.0.2.9") == 0
    assert await limit.retry_after("bob@example.org", "10.0.0.2") == 0


async def test_someone_who_knows_an_account_cannot_lock_its_owner_out(redis: Redis) -> None:
    """Issue 17: one failure every 15 minutes kept any known account locked for good."""
    limit = limiter(redis, account_policy=BackoffPolicy(free=5, base_seconds=900))
    for _ in range(12):  # an attacker at one address, as long as they like
        await limit.failed("ann@example.org", "203.0.113.66")
    assert await limit.retry_after("ann@example.org", "203.0.113.66") > 800
    assert await limit.retry_after("ann@example.org", "198.51.100.4") == 0  # Ann, at home


async def test_success_clears_the_account_but_not_the_address(redis: Redis) -> None:
    limit = limiter(
        redis,
        account_policy=BackoffPolicy(free=2, base_seconds=10),
        address_policy=BackoffPolicy(free=3, base_seconds=10),
    )
    await limit.failed("ann@example.org", "10.0.0.1")
    await limit.failed("ann@example.org", "10.0.0.1")
    assert await limit.retry_after("ann@example.org", "10.0.0.1") > 0
    await limit.succeeded("ann@example.org", "10.0.0.1")
    assert await limit.retry_after("ann@example.org", "10.0.0.1") == 0
    await limit.failed("ann@example.org", "10.0.0.1")  # the address's third failure
    assert await limit.retry_after("someone-else@example.org", "10.0.0.1") > 0
    assert await limit.retry_after("someone-else@example.org", "10.0.0.2") == 0


async def test_an_address_spraying_many_accounts_is_locked(redis: Redis) -> None:
    limit = limiter(redis, address_policy=BackoffPolicy(free=5, base_seconds=10))
    for n in range(5):
        await limit.failed(f"user{n}@example.org", "203.0.113.7")
    assert await limit.retry_after("fresh@example.org", "203.0.113.7") > 0


async def test_counters_expire_after_the_window(redis: Redis) -> None:
    limit = limiter(redis, account_policy=BackoffPolicy(free=5, window_seconds=60))
    await limit.failed("ann@example.org", None)
    keys = [k async for k in redis.scan_iter(match=f"{limit._prefix}:fail:*")]
    assert len(keys) == 1
    assert 0 < await redis.ttl(keys[0]) <= 60
    assert b"ann" not in keys[0]  # accounts are stored hashed
