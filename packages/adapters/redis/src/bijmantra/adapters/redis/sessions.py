"""Redis implementation of ``BrowserSessionStore``: one key per session, expiring with it.

Keys are ``session:<hex SHA-256 of the cookie secret>``, so a copy of Redis holds no usable
session cookie.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec
from bijmantra.adapters.redis.store import PrefixedRedisStore
from bijmantra.application.tenancy.authorization import BrowserSession
from bijmantra.kernel import TenantId


class _Stored(msgspec.Struct, frozen=True):
    user_id: uuid.UUID
    organization_id: uuid.UUID | None
    csrf_token: str
    expires_at: datetime
    authenticated_at: datetime | None = None


class RedisBrowserSessions(PrefixedRedisStore):
    PREFIX = "session"

    def _key(self, key: bytes) -> str:
        return f"{self._prefix}:{key.hex()}"

    async def save(self, key: bytes, session: BrowserSession) -> None:
        ttl = max(1, int((session.expires_at - datetime.now(UTC)).total_seconds()))
        stored = _Stored(
            session.user_id,
            session.organization_id,
            session.csrf_token,
            session.expires_at,
            session.authenticated_at,
        )
        await self._redis.set(self._key(key), msgspec.json.encode(stored), ex=ttl)

    async def get(self, key: bytes) -> BrowserSession | None:
        raw = await self._redis.get(self._key(key))
        if raw is None:
            return None
        stored = msgspec.json.decode(raw, type=_Stored)
        organization = None if stored.organization_id is None else TenantId(stored.organization_id)
        return BrowserSession(
            stored.user_id,
            organization,
            stored.csrf_token,
            stored.expires_at,
            stored.authenticated_at,
        )

    async def delete(self, key: bytes) -> None:
        await self._redis.delete(self._key(key))
