"""A Redis that accepts connections and never answers (a real socket that stays silent, not a
mock): every store's call ends in ``Unavailable`` after its bound instead of hanging, and so
does a Redis that refuses connections. The same bounded client works against a live Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from bijmantra.adapters.redis import RedisConsoleSessions, RedisSearchResultStore
from bijmantra.adapters.redis.client import BoundedRedis, redis_client
from bijmantra.adapters.redis.idempotency import RedisIdempotencyStore
from bijmantra.adapters.redis.rate_limiter import RedisRateLimiter
from bijmantra.adapters.redis.revocations import RedisRevocationList
from bijmantra.adapters.redis.sessions import RedisBrowserSessions
from bijmantra.application.protection.ratelimit import Bucket, Quota
from bijmantra.application.revocation import TokenFacts
from bijmantra.kernel import TenantId, Unavailable
from bijmantra.testkit.servers import LocalRedis, free_port
from bijmantra.testkit.silent_server import silent_server

pytestmark = pytest.mark.integration
BOUND = 0.2  # seconds a command may take here
HUNG = 60.0  # seconds after which a call counts as hung: a failure, not a performance bound
TENANT = TenantId(uuid.uuid4())
Call = Callable[[str], Awaitable[Any]]


async def _revocation_check(url: str) -> Any:
    facts = TokenFacts("jti-1", TENANT, "member", 1.0, "sid-1")
    return await RedisRevocationList.from_url(url, command_seconds=BOUND).state(facts)


async def _console_session(url: str) -> Any:
    return await RedisConsoleSessions.from_url(url, command_seconds=BOUND).delete_all("member")


async def _browser_session(url: str) -> Any:
    return await RedisBrowserSessions.from_url(url, command_seconds=BOUND).get(b"key")


async def _search_ids(url: str) -> Any:
    store = RedisSearchResultStore(redis_client(url, command_seconds=BOUND))
    return await store.load(TENANT, "germplasm", "search-1")


async def _search_save(url: str) -> Any:  # a pipeline
    store = RedisSearchResultStore(redis_client(url, command_seconds=BOUND))
    return await store.save(TENANT, "germplasm", ["g-1"])


async def _rate_limit(url: str) -> Any:  # a Lua script
    limiter = RedisRateLimiter(redis_client(url, command_seconds=BOUND))
    return await limiter.acquire([Bucket("client", "k", Quota(10, 60.0))])


async def _idempotency(url: str) -> Any:
    store = RedisIdempotencyStore(redis_client(url, command_seconds=BOUND))
    return await store.claim("key", "fingerprint", 30)


CALLS: list[Call] = [
    _revocation_check,
    _console_session,
    _browser_session,
    _search_ids,
    _search_save,
    _rate_limit,
    _idempotency,
]


@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.__name__.strip("_"))
async def test_a_redis_that_never_answers_is_unavailable_not_a_hang(call: Call) -> None:
    async with silent_server() as address:
        async with asyncio.timeout(HUNG):
            with pytest.raises(Unavailable):
                await call(f"redis://{address}/0")


@pytest.mark.parametrize("call", CALLS[:3], ids=lambda c: c.__name__.strip("_"))
async def test_a_redis_that_refuses_connections_is_unavailable(call: Call) -> None:
    async with asyncio.timeout(HUNG):
        with pytest.raises(Unavailable):
            await call(f"redis://127.0.0.1:{free_port()}/0")


async def test_the_bounded_client_answers_from_a_live_redis(redis_url: str) -> None:
    client = redis_client(redis_url, command_seconds=BOUND)
    assert isinstance(client, BoundedRedis)
    key = f"bounded-{uuid.uuid4().hex}"
    try:
        await client.set(key, b"1", ex=60)
        async with client.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.get(key)
            assert await pipe.execute() == [2, b"2"]
        script = client.register_script("return redis.call('GET', KEYS[1])")
        assert await script(keys=[key]) == b"2"
    finally:
        await client.aclose()


async def test_a_restarted_redis_answers_the_next_command_of_every_kind(tmp_path: Path) -> None:
    """A restart closes every pooled connection. The client retries once on a fresh one
    (ADR 0336); it was given redis-py's synchronous ``Retry``, which never retried an async
    command, so the first command on each pooled connection after a restart was a 503."""
    server = LocalRedis(tmp_path / "redis")
    server.start()
    client = redis_client(server.url, command_seconds=2.0)
    script = client.register_script("return redis.call('INCR', KEYS[1])")
    try:
        for _ in range(2):  # the first round fills the pool, the second reuses it
            async with client.pipeline(transaction=True) as pipe:
                pipe.set("k", b"1")
                pipe.get("k")
                assert await pipe.execute() == [True, b"1"]
            assert await script(keys=["n"]) >= 1
            assert await client.get("k") == b"1"
            server.stop()
            server.start()  # the same port, nothing kept: every pooled connection is dead
            assert await client.get("k") is None
            assert await script(keys=["n"]) == 1  # the script is loaded again, too
            async with client.pipeline(transaction=True) as pipe:
                pipe.incr("k")
                assert await pipe.execute() == [1]
    finally:
        await client.aclose()
        server.stop()
