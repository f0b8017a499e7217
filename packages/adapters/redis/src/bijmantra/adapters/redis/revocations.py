"""``RevocationList`` in Redis: one key per listed token, session, member and organization
stamp, each expiring when no token it could match is still valid; a check is one ``MGET``.
Shared by every replica of every service, so a revocation is seen by all of them at once."""

from __future__ import annotations

from bijmantra.adapters.redis.store import PrefixedRedisStore
from bijmantra.application.revocation import RevocationState, TokenFacts
from bijmantra.kernel import TenantId


class RedisRevocationList(PrefixedRedisStore):
    PREFIX = "revoked"

    def _keys(self, facts: TokenFacts) -> list[str]:
        return [
            f"{self._prefix}:jti:{facts.token_id}",
            f"{self._prefix}:sid:{facts.session_id or '-'}",
            f"{self._prefix}:member:{facts.tenant_id}:{facts.subject}",
            f"{self._prefix}:organization:{facts.tenant_id}",
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

    async def state(self, facts: TokenFacts) -> RevocationState:
        token, session, member, organization = await self._redis.mget(self._keys(facts))
        return RevocationState(
            token_listed=token is not None,
            session_listed=facts.session_id is not None and session is not None,
            member_revoked_through=None if member is None else float(member),
            organization_revoked_through=None if organization is None else float(organization),
        )
