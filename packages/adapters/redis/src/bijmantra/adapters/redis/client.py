"""The one way a service opens Redis (ADR 0317): a command answers in time or is
``Unavailable`` (503 with ``Retry-After`` at the edge), never a hang.

Redis holds the revocation list, rate limits, idempotency records, search ids and sessions.
Every request reads some of them. Before this module, most stores used ``Redis.from_url``
with redis-py's defaults. A Redis that accepted connections and never answered held each
request for 5 s, and the request then ended in 500 ``internal``. The command bound covers
the connection, the write and the read together, so one stall costs one bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from bijmantra.kernel import Unavailable

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

COMMAND_SECONDS = 2.0  # a round trip (or a pipeline) longer than this is a Redis not answering
CONNECT_SECONDS = 2.0
HEALTH_CHECK_SECONDS = 30  # a connection idle this long is PINGed before it is used again


@asynccontextmanager
async def answered_within(seconds: float) -> AsyncIterator[None]:
    """Redis work that ends within ``seconds``, or ``Unavailable``. Cancelling a read makes
    redis-py drop that connection, so a late reply is never read by the next command."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except (TimeoutError, RedisTimeoutError, RedisConnectionError) as exc:
        raise Unavailable("Shared state (Redis) did not answer in time") from exc


class BoundedPipeline(Pipeline):
    """A pipeline whose ``execute`` (every queued command, one round trip) is bounded."""

    command_seconds: float = COMMAND_SECONDS

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        async with answered_within(self.command_seconds):
            return await super().execute(raise_on_error)


class BoundedRedis(Redis):
    """Each command (scripts included: ``EVALSHA`` is a command) is bounded, and so is each
    pipeline. A bound rather than redis-py's ``socket_timeout``: that wraps every write in
    ``asyncio.wait_for``, one more task per command on Python 3.11 (ADR 0142)."""

    command_seconds: float = COMMAND_SECONDS

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        command: Callable[..., Awaitable[Any]] = super().execute_command  # untyped upstream
        async with answered_within(self.command_seconds):
            return await command(*args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        pipe = BoundedPipeline(
            self.connection_pool, self.response_callbacks, transaction, shard_hint
        )
        pipe.command_seconds = self.command_seconds
        return pipe


def redis_client(url: str, *, command_seconds: float = COMMAND_SECONDS) -> BoundedRedis:
    """The client every store and service uses. A command is bounded by ``command_seconds``
    and a connection attempt by ``CONNECT_SECONDS``. A pooled connection idle for
    ``HEALTH_CHECK_SECONDS`` is checked before use. A dropped connection is retried once on
    a fresh one; a timeout is never retried, so the wait stays one bound."""
    client = BoundedRedis.from_url(
        url,
        socket_timeout=None,
        socket_connect_timeout=min(CONNECT_SECONDS, command_seconds),
        socket_keepalive=True,
        health_check_interval=HEALTH_CHECK_SECONDS,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    )
    assert isinstance(client, BoundedRedis)  # from_url builds ``cls``
    client.command_seconds = command_seconds
    return client
