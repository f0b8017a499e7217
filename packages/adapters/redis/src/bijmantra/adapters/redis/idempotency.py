"""Redis implementation of ``IdempotencyStore`` (ADR 0140).

A record is one hash: the request fingerprint, the claimant's token, the state and, once
done, the response (msgpack). Claiming, completing and releasing are Lua scripts, so two
replicas racing on one key see one winner, and only the winner's token completes it.

The bodies an organization's records keep are counted per ``ttl``-long slot
(``<prefix>-kept:<tenant>:<slot>``; every record still alive was completed in this slot or
the last): past ``max_kept_bytes`` a response is kept without its body (ADR 0335).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import msgspec
from bijmantra.application.protection.idempotency import (
    MAX_KEPT_BYTES_PER_ORGANIZATION,
    Claim,
    ClaimOutcome,
    StoredResponse,
)
from bijmantra.kernel import Unavailable

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

_CLAIM = """
local record = redis.call('HMGET', KEYS[1], 'fingerprint', 'state', 'response')
if not record[1] then
  redis.call('HSET', KEYS[1], 'fingerprint', ARGV[1], 'state', 'pending', 'token', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'claimed'}
end
if record[1] ~= ARGV[1] then return {'mismatch'} end
if record[2] == 'done' then return {'replay', record[3]} end
return {'in_progress'}
"""

_COMPLETE = """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'done', 'response', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

_RELEASE = """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
"""


class _Stored(msgspec.Struct, array_like=True):
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    body_kept: bool


class RedisIdempotencyStore:
    """``timeout`` bounds each round trip (like ``RedisRateLimiter``'s)."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "idempotency",
        timeout: float = 2.0,
        max_kept_bytes: int = MAX_KEPT_BYTES_PER_ORGANIZATION,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._timeout = timeout
        self._max_kept = max_kept_bytes
        self._claim = redis.register_script(_CLAIM)
        self._complete = redis.register_script(_COMPLETE)
        self._release = redis.register_script(_RELEASE)

    def _key(self, key: str) -> str:
        return f"{self._prefix}:{key}"

    async def _run(self, script: AsyncScript, key: str, *args: str | int | bytes) -> Any:
        try:
            async with asyncio.timeout(self._timeout):
                return await script(keys=[self._key(key)], args=list(args))
        except (RedisError, TimeoutError) as error:
            raise Unavailable("Idempotency store unavailable") from error

    async def claim(self, key: str, fingerprint: str, lock_seconds: int) -> Claim:
        token = secrets.token_hex(16)
        reply = await self._run(self._claim, key, fingerprint, token, lock_seconds * 1000)
        outcome = ClaimOutcome(reply[0].decode())
        if outcome is ClaimOutcome.CLAIMED:
            return Claim(outcome, token)
        if outcome is ClaimOutcome.REPLAY:
            stored = msgspec.msgpack.decode(reply[1], type=_Stored)
            response = StoredResponse(
                stored.status, tuple(stored.headers), stored.body, stored.body_kept
            )
            return Claim(outcome, response=response)
        return Claim(outcome)

    async def recorded(self, key: str) -> bool:
        try:
            async with asyncio.timeout(self._timeout):
                return bool(await self._redis.exists(self._key(key)))
        except (RedisError, TimeoutError) as error:
            raise Unavailable("Idempotency store unavailable") from error

    async def complete(
        self, key: str, token: str, response: StoredResponse, ttl_seconds: int
    ) -> None:
        body_kept = response.body_kept and await self._may_keep(
            key, len(response.body), ttl_seconds
        )
        body = response.body if body_kept else b""
        stored = _Stored(response.status, list(response.headers), body, body_kept)
        await self._run(
            self._complete, key, token, msgspec.msgpack.encode(stored), ttl_seconds * 1000
        )

    async def _may_keep(self, key: str, size: int, ttl_seconds: int) -> bool:
        """Count ``size`` against the organization's kept bytes; False (counting nothing) past
        the bound. Keys are ``<tenant>:<digest>`` (``scoped_key``)."""
        slot = int(time.time() // ttl_seconds)
        tenant = key.partition(":")[0]
        current, previous = (f"{self._prefix}-kept:{tenant}:{s}" for s in (slot, slot - 1))
        try:
            async with asyncio.timeout(self._timeout):
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.incrby(current, size)
                    pipe.expire(current, 2 * ttl_seconds)
                    pipe.get(previous)
                    kept, _, before = await pipe.execute()
                if kept + int(before or 0) <= self._max_kept:
                    return True
                await self._redis.decrby(current, size)
        except (RedisError, TimeoutError) as error:
            raise Unavailable("Idempotency store unavailable") from error
        return False

    async def release(self, key: str, token: str) -> None:
        await self._run(self._release, key, token)
