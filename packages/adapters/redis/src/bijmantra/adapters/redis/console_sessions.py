"""Redis implementation of ``ConsoleSessionStore`` (the web console's BFF sessions, ADR 0060).

``console:session:<sha256>`` holds one session (tokens included) and expires with it;
``console:user:<subject>`` lists a user's session keys so sign-out can end them all;
``console:pending:<state>`` is a started sign-in, taken with GETDEL so it is used once.
"""

from __future__ import annotations

import msgspec
from bijmantra.adapters.redis.store import PrefixedRedisStore, seconds_until
from bijmantra.application.console import ConsoleSession, PendingSignIn

USER_INDEX_TTL = 24 * 3600


class _Pending(msgspec.Struct, frozen=True):
    verifier: str
    browser_key: str
    return_to: str


class RedisConsoleSessions(PrefixedRedisStore):
    PREFIX = "console"

    def _k(self, kind: str, key: str) -> str:
        return f"{self._prefix}:{kind}:{key}"

    async def save_pending(self, state: str, pending: PendingSignIn, ttl: int) -> None:
        stored = _Pending(pending.verifier, pending.browser_key, pending.return_to)
        await self._redis.set(self._k("pending", state), msgspec.json.encode(stored), ex=ttl)

    async def take_pending(self, state: str) -> PendingSignIn | None:
        raw = await self._redis.getdel(self._k("pending", state))
        if raw is None:
            return None
        stored = msgspec.json.decode(raw, type=_Pending)
        return PendingSignIn(stored.verifier, stored.browser_key, stored.return_to)

    async def save(self, key: str, session: ConsoleSession) -> None:
        ttl = seconds_until(session.expires_at)
        user = self._k("user", session.subject)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._k("session", key), msgspec.json.encode(session), ex=ttl)
            pipe.sadd(user, key)
            # Every save is at most a session lifetime before that session's end, so the
            # index outlives each session it lists (Redis 6.2 has no EXPIRE GT).
            pipe.expire(user, max(ttl, USER_INDEX_TTL))
            await pipe.execute()

    async def get(self, key: str) -> ConsoleSession | None:
        raw = await self._redis.get(self._k("session", key))
        return None if raw is None else _session(raw)

    async def delete(self, key: str) -> None:
        await self._redis.delete(self._k("session", key))

    async def delete_all(self, subject: str) -> list[ConsoleSession]:
        user = self._k("user", subject)
        keys = [k.decode() if isinstance(k, bytes) else k for k in await self._redis.smembers(user)]
        if not keys:
            return []
        names = [self._k("session", k) for k in keys]
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.mget(names)
            pipe.delete(*names, user)
            found, _ = await pipe.execute()
        return [_session(raw) for raw in found if raw is not None]

    async def lock_refresh(self, key: str, ttl: float) -> bool:
        return bool(
            await self._redis.set(self._k("refresh", key), b"1", nx=True, px=int(ttl * 1000))
        )

    async def unlock_refresh(self, key: str) -> None:
        await self._redis.delete(self._k("refresh", key))


def _session(raw: bytes | str) -> ConsoleSession:
    """A session as ``save`` stored it: the JSON of its ``ConsoleSession`` fields."""
    return msgspec.json.decode(raw, type=ConsoleSession)
