"""``RevocationList`` in Redis: one key per listed token, session, member and organization
stamp, each expiring when no token it could match is still valid; a check is one ``MGET``.
Shared by every replica of every service, so a revocation is seen by all of them at once.

Redis may forget everything: restarted without persistence (ADR 0336), flushed, or a key
evicted, expired or deleted. ``<prefix>:since``, read in the same ``MGET``, is when the list
began. Whatever emptied the list took it too, and when that happened cannot be told (a flush
leaves no trace, a restart's uptime says nothing of a later flush), so a list found without
its start begins when it is found so (ADR 0339): every token issued before is refused once
and its holder refreshes, rather than a token revoked before the loss working again.
"""

from __future__ import annotations

from bijmantra.adapters.redis.store import PrefixedRedisStore
from bijmantra.application.revocation import RevocationState, TokenFacts
from bijmantra.kernel import TenantId

from redis.asyncio import Redis

# Keeps the list's start if it has one, else writes Redis's now (to the millisecond, rounded
# down like a token's ``iat``) in one atomic step; answers the start kept.
_BEGIN = """
local kept = redis.call('GET', KEYS[1])
if kept then return kept end
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local start = string.format('%d.%03d', math.floor(ms / 1000), ms % 1000)
redis.call('SET', KEYS[1], start)
return start
"""


class EvictingRedis(RuntimeError):
    """A Redis configured to evict keys under memory pressure: unfit for the list."""


class RedisRevocationList(PrefixedRedisStore):
    PREFIX = "revoked"

    def __init__(self, redis: Redis, *, prefix: str | None = None) -> None:
        super().__init__(redis, prefix=prefix)
        self._begin = redis.register_script(_BEGIN)

    def _keys(self, facts: TokenFacts) -> list[str]:
        return [
            f"{self._prefix}:jti:{facts.token_id}",
            f"{self._prefix}:sid:{facts.session_id or '-'}",
            f"{self._prefix}:member:{facts.tenant_id}:{facts.subject}",
            f"{self._prefix}:organization:{facts.tenant_id}",
            f"{self._prefix}:since",
        ]

    async def revoke_token(self, token_id: str, ttl: int) -> None:
        await self._redis.set(f"{self._prefix}:jti:{token_id}", b"1", ex=max(1, ttl))

    async def revoke_session(self, session_id: str, ttl: int) -> None:
        await self._redis.set(f"{self._prefix}:sid:{session_id}", b"1", ex=max(1, ttl))

    async def revoke_member(
        self, tenant_id: TenantId, subject: str, through: float, ttl: int
    ) -> None:
        await self._redis.set(
            f"{self._prefix}:member:{tenant_id}:{subject}", str(through), ex=max(1, ttl)
        )

    async def revoke_organization(self, tenant_id: TenantId, through: float, ttl: int) -> None:
        await self._redis.set(
            f"{self._prefix}:organization:{tenant_id}", str(through), ex=max(1, ttl)
        )

    async def begin(self) -> float:
        """The list's start, after checking that this Redis never evicts: an evicted entry
        would let its token through again while the start stays (``volatile-*`` policies
        evict only keys with a TTL, as every entry has and the start has not), and nothing
        in the list could tell. Identity calls this at start-up, so it refuses to run on such
        a Redis rather than serve a list that may forget (ADR 0339)."""
        memory = await self._redis.info("memory")
        policy = memory.get("maxmemory_policy", "noeviction")
        if int(memory.get("maxmemory", 0)) and policy != "noeviction":
            raise EvictingRedis(
                f"Redis may evict keys (maxmemory-policy {policy}): the revocation list would "
                "forget revoked tokens; run Redis with maxmemory-policy noeviction"
            )
        since = await self._begin(keys=[f"{self._prefix}:since"])
        return float(since)

    async def state(self, facts: TokenFacts) -> RevocationState:
        keys = self._keys(facts)
        token, session, member, organization, since = await self._redis.mget(keys)
        if since is None:  # a new or emptied list: it knows nothing from before now
            since = await self._begin(keys=[keys[-1]])
        return RevocationState(
            token_listed=token is not None,
            session_listed=facts.session_id is not None and session is not None,
            member_revoked_through=None if member is None else float(member),
            organization_revoked_through=None if organization is None else float(organization),
            complete_since=float(since),
        )
