"""Forget an erased organization in Redis: every key naming its id (stored BrAPI search
results, caches, rate-limit buckets), except access-token revocations, which must keep
refusing that organization's tokens until they expire on their own."""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

KEPT_PREFIXES = (b"revoked:",)


async def erase_tenant_keys(redis: Redis, tenant: uuid.UUID) -> int:
    """Delete the keys; the count is what was removed."""
    removed = 0
    async for key in redis.scan_iter(match=f"*{tenant}*", count=1000):
        raw = key if isinstance(key, bytes) else str(key).encode()
        if raw.startswith(KEPT_PREFIXES):
            continue
        removed += int(await redis.delete(key))
    return removed
