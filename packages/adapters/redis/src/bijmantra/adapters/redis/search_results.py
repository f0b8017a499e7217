"""Redis implementation of ``SearchResultStore``: a search's DbIds under a random id, with a TTL.

Key ``brapi:search:<tenant>:<entity>:<id>``: the tenant is part of the key, so one
organization can never page another's results even with a leaked id.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import msgspec
from bijmantra.kernel import TenantId

from redis.asyncio import Redis

DEFAULT_TTL_SECONDS = 15 * 60
_ids = msgspec.json.Decoder(list[str])


class RedisSearchResultStore:
    def __init__(
        self, redis: Redis, *, ttl_seconds: int = DEFAULT_TTL_SECONDS, prefix: str = "brapi:search"
    ) -> None:
        self._redis = redis
        self._ttl = ttl_seconds
        self._prefix = prefix

    def _key(self, tenant_id: TenantId, entity: str, search_id: str) -> str:
        return f"{self._prefix}:{tenant_id}:{entity}:{search_id}"

    async def save(self, tenant_id: TenantId, entity: str, db_ids: Sequence[str]) -> str:
        search_id = secrets.token_urlsafe(16)
        await self._redis.set(
            self._key(tenant_id, entity, search_id), msgspec.json.encode(list(db_ids)), ex=self._ttl
        )
        return search_id

    async def load(self, tenant_id: TenantId, entity: str, search_id: str) -> list[str] | None:
        if not 0 < len(search_id) <= 64:
            return None
        raw = await self._redis.get(self._key(tenant_id, entity, search_id))
        return None if raw is None else _ids.decode(raw)
