"""The rate limiter and the idempotency store against a real Redis, raced like replicas do."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from bijmantra.adapters.redis.idempotency import RedisIdempotencyStore
from bijmantra.adapters.redis.rate_limiter import RedisRateLimiter
from bijmantra.application.protection.idempotency import ClaimOutcome, StoredResponse
from bijmantra.application.protection.ratelimit import Bucket, Quota, gcra_step
from bijmantra.kernel import Unavailable
from redis.asyncio import Redis

pytestmark = pytest.mark.integration


def bucket(limit: int, window: float = 60.0, policy: str = "client") -> Bucket:
    return Bucket(policy, uuid.uuid4().hex, Quota(limit, window))


async def test_concurrent_requests_from_two_clients_share_one_budget(
    redis: Redis, redis_url: str
) -> None:
    """Two limiters on two connection pools (two replicas): exactly ``limit`` pass. The window
    refills a token every 144 s, so however slowly a loaded host runs the 60 calls, none can
    refill meanwhile (at 60 s a token came back every 2.4 s, and a 26th call passed)."""
    other = Redis.from_url(redis_url)
    replicas = [RedisRateLimiter(redis, prefix="t"), RedisRateLimiter(other, prefix="t")]
    shared = bucket(25, window=3600.0)
    try:
        decisions = await asyncio.gather(*(replicas[i % 2].acquire([shared]) for i in range(60)))
    finally:
        await other.aclose()
    allowed = [d for d in decisions if d.allowed]
    assert len(allowed) == 25
    refused = [d for d in decisions if not d.allowed]
    assert all(0 < d.retry_after_seconds <= 3600 / 25 + 0.01 for d in refused)
    assert sorted(d.states[0].remaining for d in allowed) == list(range(25))


async def test_a_refusing_bucket_charges_no_other_bucket(redis: Redis) -> None:
    limiter = RedisRateLimiter(redis, prefix="t")
    organization, client = bucket(100, policy="organization"), bucket(3)
    for _ in range(3):
        assert (await limiter.acquire([organization, client])).allowed
    refused = await limiter.acquire([organization, client])
    assert not refused.allowed
    assert refused.tightest.bucket.policy == "client"
    # the organization was charged 3 times, not 4: 96 left after one more charge of it alone
    assert (await limiter.acquire([organization])).states[0].remaining == 96


async def test_redis_arithmetic_matches_the_rule(redis: Redis) -> None:
    """Burst then steady pacing: the Lua script and ``gcra_step`` agree on each answer."""
    limiter = RedisRateLimiter(redis, prefix="t")
    quota = Quota(5, 0.5)  # one request per 100 ms
    shared = Bucket("client", uuid.uuid4().hex, quota)
    answers = [(await limiter.acquire([shared])).allowed for _ in range(7)]
    assert answers == [True] * 5 + [False] * 2
    tat, now = None, 0.0
    expected = []
    for _ in range(7):
        step = gcra_step(tat, now, quota)
        tat = step.tat_ms if step.allowed else tat
        expected.append(step.allowed)
    assert answers == expected
    await asyncio.sleep(0.25)  # two intervals refill two requests
    later = [(await limiter.acquire([shared])).allowed for _ in range(3)]
    assert later == [True, True, False]


async def test_an_unreachable_redis_is_unavailable_not_a_crash() -> None:
    dead = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    try:
        with pytest.raises(Unavailable):
            await RedisRateLimiter(dead).acquire([bucket(1)])
        with pytest.raises(Unavailable):
            await RedisIdempotencyStore(dead).claim("k", "f", 10)
        with pytest.raises(Unavailable):
            await RedisIdempotencyStore(dead).recorded("k")
    finally:
        await dead.aclose()


async def test_a_redis_that_never_answers_is_unavailable_within_the_timeout() -> None:
    """A peer that accepts and stays silent (a hung Redis): each call gives up by itself,
    though the client has no socket timeout, and the connection is not reused half-read."""
    accepted: list[asyncio.StreamWriter] = []

    async def silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    hung = Redis(host="127.0.0.1", port=port, socket_timeout=None, socket_connect_timeout=1)
    try:
        with pytest.raises(Unavailable):
            await RedisRateLimiter(hung, timeout=0.2).acquire([bucket(1)])
        with pytest.raises(Unavailable):
            await RedisIdempotencyStore(hung, timeout=0.2).claim("k", "f", 10)
        assert accepted  # it did connect: the timeout, not the connection, gave up
    finally:
        await hung.aclose()
        server.close()
        for writer in accepted:
            writer.close()


async def test_one_claim_wins_a_race_and_only_its_token_completes(redis: Redis) -> None:
    store = RedisIdempotencyStore(redis, prefix=f"t-{uuid.uuid4().hex}")
    claims = await asyncio.gather(*(store.claim("key", "fp", 30) for _ in range(20)))
    winners = [c for c in claims if c.outcome is ClaimOutcome.CLAIMED]
    assert len(winners) == 1
    assert {c.outcome for c in claims} == {ClaimOutcome.CLAIMED, ClaimOutcome.IN_PROGRESS}
    response = StoredResponse(201, (("content-type", "application/json"),), b'{"id":1}')
    await store.complete("key", "not-the-token", response, 60)
    assert (await store.claim("key", "fp", 30)).outcome is ClaimOutcome.IN_PROGRESS
    await store.release("key", "not-the-token")
    assert (await store.claim("key", "fp", 30)).outcome is ClaimOutcome.IN_PROGRESS
    await store.complete("key", winners[0].token, response, 60)
    replay = await store.claim("key", "fp", 30)
    assert replay.outcome is ClaimOutcome.REPLAY
    assert replay.response == response
    assert (await store.claim("key", "other-body", 30)).outcome is ClaimOutcome.MISMATCH


async def test_a_released_or_expired_claim_can_be_claimed_again(redis: Redis) -> None:
    store = RedisIdempotencyStore(redis, prefix=f"t-{uuid.uuid4().hex}")
    first = await store.claim("key", "fp", 30)
    await store.release("key", first.token)
    again = await store.claim("key", "fp", 1)
    assert again.outcome is ClaimOutcome.CLAIMED
    await asyncio.sleep(1.1)  # the pending record's lock lifetime ran out (a replica died)
    assert (await store.claim("key", "fp", 30)).outcome is ClaimOutcome.CLAIMED
    response = StoredResponse(200, (), b"x", body_kept=True)
    await store.complete("key", again.token, response, 60)  # the dead claimant's late answer
    assert (await store.claim("key", "fp", 30)).outcome is ClaimOutcome.IN_PROGRESS


async def test_a_key_is_recorded_from_its_claim_until_released(redis: Redis) -> None:
    """``recorded``: what the gateway reads before spooling a keyed body (ADR 0347)."""
    store = RedisIdempotencyStore(redis, prefix=f"t-{uuid.uuid4().hex}")
    assert not await store.recorded("key")
    claim = await store.claim("key", "fp", 30)
    assert await store.recorded("key")  # running
    await store.complete("key", claim.token, StoredResponse(201, (), b"x"), 60)
    assert await store.recorded("key")  # done: to be replayed
    assert not await store.recorded("other")
    again = await store.claim("other", "fp", 30)
    await store.release("other", again.token)
    assert not await store.recorded("other")


async def test_an_organization_keeps_a_bounded_size_of_responses(redis: Redis) -> None:
    """Each kept response lives a day, and a client may write 1,200 times a minute: unbounded,
    1 MiB answers (a 400 listing 10,000 problems, which stores nothing) filled the shared
    Redis at 1.2 GB a minute. Past the bound a response is kept without its body (ADR 0335)."""
    store = RedisIdempotencyStore(redis, prefix=f"t-{uuid.uuid4().hex}", max_kept_bytes=2500)
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    answer = StoredResponse(400, (("content-type", "application/json"),), b"x" * 1000)

    async def kept(tenant: uuid.UUID) -> StoredResponse | None:
        key = f"{tenant}:{uuid.uuid4().hex}"
        claim = await store.claim(key, "fp", 30)
        await store.complete(key, claim.token, answer, 60)
        return (await store.claim(key, "fp", 30)).response

    assert [await kept(mine), await kept(mine)] == [answer, answer]
    over = await kept(mine)
    assert over == StoredResponse(400, answer.headers, b"", body_kept=False), "status, no body"
    assert await kept(theirs) == answer, "another organization keeps its own"
