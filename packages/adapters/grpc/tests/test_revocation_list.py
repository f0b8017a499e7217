"""``JwtVerifier`` with the Redis revocation list (real Redis): a listed token, a logged-out
session, a member stamp and an erased organization each stop a token that verifies; an
unreachable list fails closed; a Redis that lost everything refuses what it cannot vouch for."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from bijmantra.adapters.grpc.auth import JwtVerifier
from bijmantra.adapters.redis.client import redis_client
from bijmantra.adapters.redis.revocations import RedisRevocationList
from bijmantra.adapters.redis.tenant_keys import erase_tenant_keys
from bijmantra.application.revocation import millisecond_stamp
from bijmantra.kernel import TenantId, Unauthorized, Unavailable
from bijmantra.testkit.servers import LocalRedis, free_port
from bijmantra.testkit.silent_server import silent_server
from redis.asyncio import Redis

from .test_token_attacks import AUDIENCE, ISSUER, SIGNING_KEY, TENANT, KeySource, claims, sign

pytestmark = pytest.mark.integration


@pytest.fixture
async def revocations(redis_url: str) -> RedisRevocationList:
    # A key prefix of its own per test: nothing another test listed can match. Its list is
    # complete since ever (tokens here are backdated, perhaps to before this Redis started).
    redis = Redis.from_url(redis_url)
    prefix = f"test-{uuid.uuid4().hex}"
    await redis.set(f"{prefix}:since", "0")
    return RedisRevocationList(redis, prefix=prefix)


def now() -> float:
    """A token's ``iat`` as identity writes it (to the millisecond)."""
    return millisecond_stamp(time.time())


def verifier(revocations: RedisRevocationList, recheck: float = 0.0) -> JwtVerifier:
    return JwtVerifier(
        KeySource(SIGNING_KEY), issuer=ISSUER, audience=AUDIENCE,
        revocations=revocations, recheck=recheck,
    )  # fmt: skip


async def test_a_listed_token_is_refused_and_another_is_not(
    revocations: RedisRevocationList,
) -> None:
    check = verifier(revocations)
    listed, other = sign(claims()), sign(claims())
    principal = await check.verify(listed)  # cached as valid first: the list still wins
    assert principal.token_id is not None
    await revocations.revoke_token(principal.token_id, 60)
    with pytest.raises(Unauthorized, match="revoked"):
        await check.verify(listed)
    assert (await check.verify(other)).subject == "user-1"


async def test_a_member_stamp_ends_tokens_issued_up_to_it_in_that_organization_only(
    revocations: RedisRevocationList,
) -> None:
    check = verifier(revocations)
    now = int(time.time())
    before = sign(claims(iat=now - 5, nbf=now - 5))
    later = sign(claims(iat=now + 1, nbf=now - 5))
    other_tenant = sign(claims(iat=now - 5, nbf=now - 5, tid=str(uuid.uuid4())))
    await revocations.revoke_member(TenantId(TENANT), "user-1", now, 60)
    with pytest.raises(Unauthorized):
        await check.verify(before)
    assert (await check.verify(later)).subject == "user-1"
    assert (await check.verify(other_tenant)).subject == "user-1"


async def test_a_token_minted_just_after_a_member_stamp_in_the_same_second_is_accepted(
    revocations: RedisRevocationList,
) -> None:
    """ADR 0324: stamps and ``iat`` to the millisecond. To the second, the member promoted at
    .2 who signed in at .7 got a token refused as revoked."""
    stamp = int(time.time()) - 5 + 0.2
    before, after = stamp - 0.15, stamp + 0.5  # both in the stamp's second
    held = sign(claims(iat=before, nbf=int(before)))
    minted = sign(claims(iat=after, nbf=int(before)))
    await revocations.revoke_member(TenantId(TENANT), "user-1", stamp, 60)
    with pytest.raises(Unauthorized, match="revoked"):
        await verifier(revocations).verify(held)
    assert (await verifier(revocations).verify(minted)).subject == "user-1"


async def test_a_logged_out_session_ends_its_tokens_only(
    revocations: RedisRevocationList,
) -> None:
    check = verifier(revocations)
    in_session, no_session = sign(claims(sid="s-1")), sign(claims())
    await revocations.revoke_session("s-1", 60)
    with pytest.raises(Unauthorized):
        await check.verify(in_session)
    assert (await check.verify(no_session)).subject == "user-1"


async def test_the_answer_is_rechecked_after_the_interval_and_entries_expire(
    revocations: RedisRevocationList, redis_url: str
) -> None:
    check = verifier(revocations, recheck=0.5)
    token = sign(claims())
    principal = await check.verify(token)
    assert principal.token_id is not None
    await revocations.revoke_token(principal.token_id, 60)
    await check.verify(token)  # within the recheck interval: still the cached answer
    await asyncio.sleep(0.6)
    with pytest.raises(Unauthorized):
        await check.verify(token)
    redis = Redis.from_url(redis_url)
    try:
        ttls = [
            await redis.ttl(k)
            async for k in redis.scan_iter(f"{revocations._prefix}:*")
            if not k.endswith(b":since")  # when the list began: kept while Redis keeps it
        ]
    finally:
        await redis.aclose()
    assert ttls
    assert all(0 < ttl <= 60 for ttl in ttls)


async def test_an_unreachable_revocation_list_fails_closed() -> None:
    dead = RedisRevocationList.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with pytest.raises(Unavailable):
            await verifier(dead).verify(sign(claims()))
    finally:
        await dead.close()


async def test_a_revocation_list_that_never_answers_fails_closed_within_its_bound() -> None:
    """A Redis that accepts the connection and never replies (a real silent socket): the
    token is neither accepted nor called revoked, and the check ends (it hung 5 s, then 500)."""
    async with silent_server() as address:
        stalled = RedisRevocationList.from_url(f"redis://{address}/0", command_seconds=0.2)
        try:
            async with asyncio.timeout(60):  # a hang detector, not a performance bound
                with pytest.raises(Unavailable):
                    await verifier(stalled).verify(sign(claims()))
        finally:
            await stalled.close()


async def test_erasing_an_organization_ends_every_token_naming_it_and_no_other(
    redis_url: str,
) -> None:
    """ADR 0331: a member's token signed before the erasure wrote new rows for the erased
    organization (200) until it expired; forgetting the organization now revokes them all."""
    erased, kept = uuid.uuid4(), uuid.uuid4()
    redis = Redis.from_url(redis_url)
    await redis.set("revoked:since", "0")  # this Redis's list is whole: tokens are backdated
    check = verifier(RedisRevocationList(redis))  # the prefix every service reads
    before = int(time.time()) - 5
    member = sign(claims(tid=str(erased), iat=before, nbf=before))
    machine = sign(claims(tid=str(erased), sub="client:lab", iat=before, nbf=before))
    elsewhere = sign(claims(tid=str(kept), iat=before, nbf=before))
    assert (await check.verify(member)).tenant_id == erased
    try:
        await erase_tenant_keys(redis, erased)
        for token in (member, machine):
            with pytest.raises(Unauthorized, match="revoked"):
                await check.verify(token)
        assert (await check.verify(elsewhere)).tenant_id == kept
        later = int(time.time()) + 1  # an organization imported again under its old id
        assert (await check.verify(sign(claims(tid=str(erased), iat=later)))).subject
    finally:
        await redis.aclose()


async def test_a_revoked_token_stays_refused_when_redis_restarts_with_nothing(
    tmp_path: Path,
) -> None:
    """ADR 0336: Redis runs without persistence, so a restart empties the list. Before, the
    revoked token verified again after the restart, until it expired (10 minutes). Now every
    token issued before the restart is refused (its holder refreshes); a new one works."""
    server = LocalRedis(tmp_path / "redis")
    server.start()
    try:
        revocations = RedisRevocationList(redis_client(server.url))
        check = verifier(revocations)
        await revocations.begin()  # identity does, before its first token
        await asyncio.sleep(0.01)
        revoked, held = sign(claims(iat=now())), sign(claims(iat=now()))
        principal = await check.verify(revoked)
        assert principal.token_id is not None
        assert (await check.verify(held)).subject == "user-1"
        await revocations.revoke_token(principal.token_id, 600)
        with pytest.raises(Unauthorized, match="revoked"):
            await check.verify(revoked)
        server.stop()
        server.start()  # the same port, persistence off: every entry is gone
        with pytest.raises(Unauthorized, match="revoked"):
            await check.verify(revoked)
        with pytest.raises(Unauthorized, match="revoked"):
            await check.verify(held)  # issued before the loss: the list cannot vouch for it
        await asyncio.sleep(0.01)  # the list began at the check above: mint after it
        assert (await check.verify(sign(claims(iat=now())))).subject == "user-1"
        await revocations.close()
    finally:
        server.stop()


@pytest.mark.parametrize("loss", ["FLUSHALL", "FLUSHDB", "evicted"])
async def test_a_revoked_token_stays_refused_when_redis_loses_the_list_without_a_restart(
    tmp_path: Path, loss: str
) -> None:
    """ADR 0339: a ``FLUSHALL`` (or the list's start deleted, evicted or expired) in a Redis
    that keeps running. Before, the list began again at the start of that Redis, long before
    the loss, so the revoked token verified again until it expired. Now a list found without
    its start begins when it is found so: every token issued before is refused once."""
    server = LocalRedis(tmp_path / "redis")
    server.start()
    try:
        redis = redis_client(server.url)
        revocations = RedisRevocationList(redis)
        check = verifier(revocations)
        await revocations.begin()
        await asyncio.sleep(1.1)  # this Redis has been up a while when the tokens are minted
        revoked, session = sign(claims(iat=now())), sign(claims(iat=now(), sid="s-1"))
        held = sign(claims(iat=now()))
        principal = await check.verify(revoked)
        assert principal.token_id is not None
        await revocations.revoke_token(principal.token_id, 600)
        await revocations.revoke_session("s-1", 600)
        for token in (revoked, session):
            with pytest.raises(Unauthorized, match="revoked"):
                await check.verify(token)
        if loss == "evicted":  # the keys went one by one (eviction, expiry, DEL)
            await redis.delete(f"revoked:jti:{principal.token_id}", "revoked:sid:s-1")
            await redis.delete("revoked:since")
        else:
            await redis.execute_command(loss)
        for token in (revoked, session, held):  # the list cannot vouch for any of them
            with pytest.raises(Unauthorized, match="revoked"):
                await check.verify(token)
        await asyncio.sleep(0.01)
        assert (await check.verify(sign(claims(iat=now())))).subject == "user-1"  # minted after
        await revocations.close()
    finally:
        server.stop()
