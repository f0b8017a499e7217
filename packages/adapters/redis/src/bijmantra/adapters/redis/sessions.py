"""Redis implementation of ``BrowserSessionStore``: one key per session, expiring with it.

Keys are ``session:<hex SHA-256 of the cookie secret>``, so a copy of Redis holds no usable
session cookie; ``session:ended:<user id>`` holds when the user last signed out everywhere.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import msgspec
from bijmantra.adapters.redis.store import PrefixedRedisStore, seconds_until
from bijmantra.application.tenancy.authorization import BrowserSession


class RedisBrowserSessions(PrefixedRedisStore):
    """A session is stored as the JSON of its ``BrowserSession`` fields."""

    PREFIX = "session"

    def _key(self, key: bytes) -> str:
        return f"{self._prefix}:{key.hex()}"

    async def save(self, key: bytes, session: BrowserSession) -> None:
        await self._redis.set(
            self._key(key), msgspec.json.encode(session), ex=seconds_until(session.expires_at)
        )

    async def get(self, key: bytes) -> BrowserSession | None:
        raw = await self._redis.get(self._key(key))
        return None if raw is None else msgspec.json.decode(raw, type=BrowserSession)

    async def delete(self, key: bytes) -> None:
        await self._redis.delete(self._key(key))

    async def end_all(self, user_id: uuid.UUID, at: datetime, ttl: timedelta) -> None:
        seconds = max(1, int(ttl.total_seconds()))
        await self._redis.set(f"{self._prefix}:ended:{user_id}", at.isoformat(), ex=seconds)

    async def ended_at(self, user_id: uuid.UUID) -> datetime | None:
        raw = await self._redis.get(f"{self._prefix}:ended:{user_id}")
        if raw is None:
            return None
        return datetime.fromisoformat(raw.decode() if isinstance(raw, bytes) else raw)
