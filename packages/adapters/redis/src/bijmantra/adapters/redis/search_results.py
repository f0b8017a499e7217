"""Redis implementation of ``SearchResultStore``: a search's DbIds under a random id, with a TTL.

Key ``brapi:search:<tenant>:<entity>:<id>``: the tenant is part of the key, so one
organization can never page another's results even with a leaked id.

An organization holds at most ``max_held_bytes`` of results at once (ADR 0335). Bytes
saved are counted per TTL-long slot (``brapi:search-held:<tenant>:<slot>``): every result
still held was saved in the current slot or the one before, so their sum bounds what the
organization holds. A save past the bound is refused (429) and counts nothing. Bytes, not
ids: a genotyping view keeps its search's request (as one "id"), which may be megabytes.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Sequence

import msgspec
from bijmantra.application.brapi.bounds import MAX_HELD_SEARCH_BYTES
from bijmantra.kernel import FieldError, RateLimited, TenantId

from redis.asyncio import Redis

DEFAULT_TTL_SECONDS = 15 * 60
_ids = msgspec.json.Decoder(list[str])


class RedisSearchResultStore:
    def __init__(
        self,
        redis: Redis,
        *,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        prefix: str = "brapi:search",
        max_held_bytes: int = MAX_HELD_SEARCH_BYTES,
    ) -> None:
        self._redis = redis
        self._ttl = ttl_seconds
        self._prefix = prefix
        self._max_held = max_held_bytes

    def _key(self, tenant_id: TenantId, entity: str, search_id: str) -> str:
        return f"{self._prefix}:{tenant_id}:{entity}:{search_id}"

    async def save(self, tenant_id: TenantId, entity: str, db_ids: Sequence[str]) -> str:
        kept = msgspec.json.encode(list(db_ids))
        await self._hold(tenant_id, len(kept))
        search_id = secrets.token_urlsafe(16)
        await self._redis.set(self._key(tenant_id, entity, search_id), kept, ex=self._ttl)
        return search_id

    async def _hold(self, tenant_id: TenantId, count: int) -> None:
        now = time.time()
        slot = int(now // self._ttl)
        current, previous = (f"{self._prefix}-held:{tenant_id}:{s}" for s in (slot, slot - 1))
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.incrby(current, count)
            pipe.expire(current, 2 * self._ttl)
            pipe.get(previous)
            held, _, before = await pipe.execute()
        if held + int(before or 0) <= self._max_held:
            return
        await self._redis.decrby(current, count)
        # What the current slot holds is released two slots on; the previous slot's, one on.
        free_at = (slot + (2 if held > self._max_held else 1)) * self._ttl
        raise RateLimited(
            "This organization holds too many search results: page the ones it has, or "
            "search again later",
            [FieldError("retryAfter", str(max(1, math.ceil(free_at - now))))],
        )

    async def load(self, tenant_id: TenantId, entity: str, search_id: str) -> list[str] | None:
        if not 0 < len(search_id) <= 64:
            return None
        raw = await self._redis.get(self._key(tenant_id, entity, search_id))
        return None if raw is None else _ids.decode(raw)
