"""Identity over a Redis of its own that restarts empty (persistence off, like every Redis
here): what Redis forgets gives no one anything (ADR 0339)."""

from __future__ import annotations

from pathlib import Path

import pytest
from bijmantra.identity.production import create_app
from bijmantra.testkit.mail import SmtpCatcher
from bijmantra.testkit.provision import ProvisionedDatabase
from bijmantra.testkit.servers import LocalRedis
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from .conftest import identity_settings, new_member
from .test_oauth_flows import login

pytestmark = pytest.mark.integration


async def test_a_redis_restart_gives_no_fresh_password_guesses(
    database: ProvisionedDatabase,
    smtp_server: SmtpCatcher,
    identity_engine: AsyncEngine,
    tmp_path: Path,
) -> None:
    """Before, failed sign-ins were counted in Redis: after a restart the locked account took
    five more guesses (401, 401, …) at once, and five more after every restart."""
    redis = LocalRedis(tmp_path / "redis")
    redis.start()
    try:
        settings = identity_settings(database, redis.url, smtp_server)
        member = await new_member(identity_engine)
        async with AsyncTestClient(
            app=create_app(settings), base_url="https://identity.test"
        ) as identity:
            guesses = [(await login(identity, member, "wrong")).status_code for _ in range(6)]
            assert guesses == [401] * 5 + [429]
            redis.stop()
            redis.start()  # the same port, every key gone
            after = [(await login(identity, member, "wrong")).status_code for _ in range(3)]
            assert after == [429] * 3
            assert (await login(identity, member)).status_code == 429  # until the lock ends
    finally:
        redis.stop()
