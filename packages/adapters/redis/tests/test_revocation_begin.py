"""Beginning the revocation list (ADR 0339) on a Redis of its own: a Redis that may evict is
refused, since an evicted entry would revive its token unseen; one that never evicts begins
the list once, at its own now."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from bijmantra.adapters.redis.client import redis_client
from bijmantra.adapters.redis.revocations import EvictingRedis, RedisRevocationList
from bijmantra.testkit.servers import LocalRedis

pytestmark = pytest.mark.integration


async def test_a_redis_that_may_evict_is_refused_and_one_that_never_does_begins_once(
    tmp_path: Path,
) -> None:
    server = LocalRedis(tmp_path / "redis")
    server.start()
    try:
        redis = redis_client(server.url)
        revocations = RedisRevocationList(redis)
        await redis.config_set("maxmemory", "64mb")
        await redis.config_set("maxmemory-policy", "volatile-lru")
        with pytest.raises(EvictingRedis, match="noeviction"):
            await revocations.begin()
        assert await redis.get("revoked:since") is None
        await redis.config_set("maxmemory-policy", "noeviction")
        before = time.time()
        since = await revocations.begin()
        assert before - 1 < since <= time.time()
        assert await revocations.begin() == since  # kept, not moved
        await redis.config_set("maxmemory", "0")  # no bound: nothing is ever evicted
        await redis.config_set("maxmemory-policy", "allkeys-lru")
        assert await revocations.begin() == since
        await revocations.close()
    finally:
        server.stop()
