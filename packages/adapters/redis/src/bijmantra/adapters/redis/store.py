"""What the Redis-backed stores share: one client, and the prefix that keeps a store's keys
apart from every other store's in the same database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar, Self

from bijmantra.adapters.redis.client import COMMAND_SECONDS, redis_client

from redis.asyncio import Redis


def seconds_until(expires_at: datetime) -> int:
    """A key's time to live that ends with ``expires_at`` (at least a second)."""
    return max(1, int((expires_at - datetime.now(UTC)).total_seconds()))


class PrefixedRedisStore:
    """A store whose keys all start with ``prefix`` (``PREFIX`` unless told otherwise)."""

    PREFIX: ClassVar[str]

    def __init__(self, redis: Redis, *, prefix: str | None = None) -> None:
        self._redis = redis
        self._prefix = self.PREFIX if prefix is None else prefix

    @classmethod
    def from_url(cls, url: str, *, command_seconds: float = COMMAND_SECONDS) -> Self:
        """The store over its own bounded client (``redis_client``)."""
        return cls(redis_client(url, command_seconds=command_seconds))

    async def close(self) -> None:
        await self._redis.aclose()
