"""Forget an erased organization in Redis: every key naming its id (stored BrAPI search
results, caches, rate-limit buckets), except access-token revocations, which must keep
refusing that organization's tokens until they expire on their own; then revoke every token
that names it (ADR 0331: a token signed before the erasure would otherwise write new rows
for the erased organization until it expired)."""

from __future__ import annotations

import time
import uuid

from bijmantra.adapters.redis.revocations import RedisRevocationList
from bijmantra.application.revocation import millisecond_stamp
from bijmantra.kernel import TenantId

from redis.asyncio import Redis

KEPT_PREFIXES = (b"revoked:",)
# How long the organization's stamp is kept: longer than any access token lives (identity's
# ``ACCESS_TOKEN_TTL`` is 10 minutes by default; a day leaves room for any setting).
ERASED_TOKENS_TTL = 24 * 3600


async def erase_tenant_keys(redis: Redis, tenant: uuid.UUID) -> int:
    """Delete the keys and revoke the organization's tokens; the count is what was removed."""
    removed = 0
    async for key in redis.scan_iter(match=f"*{tenant}*", count=1000):
        raw = key if isinstance(key, bytes) else str(key).encode()
        if raw.startswith(KEPT_PREFIXES):
            continue
        removed += int(await redis.delete(key))
    await RedisRevocationList(redis).revoke_organization(
        TenantId(tenant), millisecond_stamp(time.time()), ERASED_TOKENS_TTL
    )
    return removed
