"""RedisConsoleSessions against a real Redis: one-time sign-ins, per-user sign-out, locks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from bijmantra.adapters.redis import RedisConsoleSessions
from bijmantra.application.console import ConsoleSession, PendingSignIn
from bijmantra.kernel import TenantId
from redis.asyncio import Redis

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[RedisConsoleSessions]:
    sessions = RedisConsoleSessions(Redis.from_url(redis_url), prefix=f"t-{uuid.uuid4().hex}")
    yield sessions
    await sessions.close()


def session(subject: str) -> ConsoleSession:
    now = datetime.now(UTC)
    return ConsoleSession(
        subject,
        TenantId(uuid.uuid4()),
        "access",
        f"refresh-{uuid.uuid4().hex}",
        now + timedelta(minutes=10),
        "csrf",
        now + timedelta(hours=12),
    )


async def test_pending_sign_in_is_taken_once(store: RedisConsoleSessions) -> None:
    await store.save_pending("state", PendingSignIn("v", "k", "/app"), 60)
    assert await store.take_pending("state") == PendingSignIn("v", "k", "/app")
    assert await store.take_pending("state") is None


async def test_session_round_trips(store: RedisConsoleSessions) -> None:
    saved = session("u1")
    await store.save("key", saved)
    assert await store.get("key") == saved
    await store.delete("key")
    assert await store.get("key") is None


async def test_delete_all_ends_only_that_users_sessions(store: RedisConsoleSessions) -> None:
    mine, also_mine, theirs = session("u1"), session("u1"), session("u2")
    await store.save("a", mine)
    await store.save("b", also_mine)
    await store.save("c", theirs)
    ended = await store.delete_all("u1")
    assert sorted(s.refresh_token for s in ended) == sorted(
        [mine.refresh_token, also_mine.refresh_token]
    )
    assert await store.get("a") is None
    assert await store.get("b") is None
    assert await store.get("c") == theirs


async def test_refresh_lock_is_exclusive_until_released(store: RedisConsoleSessions) -> None:
    assert await store.lock_refresh("key", 5)
    assert not await store.lock_refresh("key", 5)
    await store.unlock_refresh("key")
    assert await store.lock_refresh("key", 5)
