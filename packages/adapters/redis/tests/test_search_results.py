"""Search results in a real Redis: an organization holds a bounded size of them (ADR 0335)."""

from __future__ import annotations

import uuid

import pytest
from bijmantra.adapters.redis.search_results import RedisSearchResultStore
from bijmantra.kernel import RateLimited, TenantId
from redis.asyncio import Redis

pytestmark = pytest.mark.integration


async def test_an_organization_holds_a_bounded_size_of_search_results(redis: Redis) -> None:
    """Each search keeps its ids for 15 minutes, and a member may search 600 times a minute:
    unbounded, one member of an organization with 100,000 records held ~35 GB of Redis, which
    every organization's sessions, revocations and limits share."""
    ids = [str(uuid.uuid4()) for _ in range(300)]  # 300 x 39 bytes, and the brackets
    size = 300 * 39 + 1
    store = RedisSearchResultStore(
        redis, prefix=f"t{uuid.uuid4().hex}", max_held_bytes=3 * size + 100
    )
    mine, theirs = TenantId(uuid.uuid4()), TenantId(uuid.uuid4())
    kept = [await store.save(mine, "germplasm", ids) for _ in range(3)]
    with pytest.raises(RateLimited) as refused:
        await store.save(mine, "germplasm", ids)
    [wait] = refused.value.details
    assert wait.location == "retryAfter"
    assert 0 < int(wait.message) <= 2 * 15 * 60
    assert await store.save(mine, "germplasm", ids[:1]), "what fits is still kept"
    with pytest.raises(RateLimited):  # one "id" of a genotyping view: its search request
        await store.save(theirs, "variant", ["x" * (4 * size)])
    assert await store.save(theirs, "germplasm", ids), "another organization has its own bound"
    assert await store.load(mine, "germplasm", kept[0]) == ids, "results kept stay readable"
