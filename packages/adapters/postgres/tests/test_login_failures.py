"""``PostgresLoginLimiter`` against the real database (ADR 0339): per-(account, address) and
per-address back-off, counted in ``identity.login_failures`` so that losing Redis gives no
attacker fresh guesses; read against a clock the test moves."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from bijmantra.adapters.postgres import create_engine
from bijmantra.adapters.postgres.login_failures import PostgresLoginLimiter
from bijmantra.application.tenancy.throttle import BackoffPolicy
from bijmantra.kernel import FixedClock, new_id
from bijmantra.testkit.provision import ProvisionedDatabase
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration


@pytest.fixture
async def identity_engine(database: ProvisionedDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database.identity_url, pool_size=4)
    yield engine
    await engine.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime.now(UTC))


def limiter(
    engine: AsyncEngine, clock: FixedClock, **policies: BackoffPolicy
) -> PostgresLoginLimiter:
    return PostgresLoginLimiter(engine, clock=clock, **policies)


def account() -> str:
    return f"{new_id()}@example.org"


def address() -> str:
    return f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"


async def test_an_account_is_locked_after_its_free_failures_with_growing_back_off(
    identity_engine: AsyncEngine, clock: FixedClock
) -> None:
    limit = limiter(identity_engine, clock, account_policy=BackoffPolicy(free=3, base_seconds=10))
    ann, at = account(), address()
    for _ in range(2):
        await limit.failed(ann.title(), at)  # the account's case does not matter
        assert await limit.retry_after(ann, at) == 0
    await limit.failed(ann, at)
    assert await limit.retry_after(ann, at) == 10
    clock.at += timedelta(seconds=4)
    assert await limit.retry_after(ann, at) == 6
    await limit.failed(ann, at)
    assert await limit.retry_after(ann, at) == 20
    clock.at += timedelta(seconds=21)
    assert await limit.retry_after(ann, at) == 0
    # the account is locked at that address only; other accounts are not
    await limit.failed(ann, at)
    assert await limit.retry_after(ann, address()) == 0
    assert await limit.retry_after(account(), at) == 0


async def test_someone_who_knows_an_account_cannot_lock_its_owner_out(
    identity_engine: AsyncEngine, clock: FixedClock
) -> None:
    """Issue 17: one failure every 15 minutes kept any known account locked for good."""
    limit = limiter(identity_engine, clock, account_policy=BackoffPolicy(free=5, base_seconds=900))
    ann, attacker = account(), address()
    for _ in range(12):  # an attacker at one address, as long as they like
        await limit.failed(ann, attacker)
    assert await limit.retry_after(ann, attacker) > 800
    assert await limit.retry_after(ann, address()) == 0  # Ann, at home


async def test_success_clears_the_account_but_not_the_address(
    identity_engine: AsyncEngine, clock: FixedClock
) -> None:
    limit = limiter(
        identity_engine,
        clock,
        account_policy=BackoffPolicy(free=2, base_seconds=10),
        address_policy=BackoffPolicy(free=3, base_seconds=10),
    )
    ann, at = account(), address()
    await limit.failed(ann, at)
    await limit.failed(ann, at)
    assert await limit.retry_after(ann, at) > 0
    await limit.succeeded(ann, at)
    assert await limit.retry_after(ann, at) == 0
    await limit.failed(ann, at)  # the address's third failure
    assert await limit.retry_after(account(), at) > 0
    assert await limit.retry_after(account(), address()) == 0


async def test_an_address_spraying_many_accounts_is_locked(
    identity_engine: AsyncEngine, clock: FixedClock
) -> None:
    limit = limiter(identity_engine, clock, address_policy=BackoffPolicy(free=5, base_seconds=10))
    sprayer = address()
    for _ in range(5):
        await limit.failed(account(), sprayer)
    assert await limit.retry_after(account(), sprayer) > 0


async def test_failures_are_forgotten_after_the_window_and_their_rows_removed(
    identity_engine: AsyncEngine, clock: FixedClock, database: ProvisionedDatabase
) -> None:
    policy = BackoffPolicy(free=2, base_seconds=10, window_seconds=60)
    limit = limiter(identity_engine, clock, account_policy=policy, address_policy=policy)
    ann, at = account(), address()
    await limit.failed(ann, at)
    clock.at += timedelta(seconds=61)  # the window passed: the next failure is the first
    await limit.failed(ann, at)
    assert await limit.retry_after(ann, at) == 0
    await limit.failed(ann, at)
    assert await limit.retry_after(ann, at) == 10
    with psycopg.connect(database.owner_url) as conn:
        rows = conn.execute(
            "SELECT subject FROM identity.login_failures WHERE last_failed_at = %s", (clock.at,)
        ).fetchall()
    assert len(rows) == 2  # the account at the address, and the address
    assert not any(ann.split("@")[0] in subject or at in subject for (subject,) in rows)
    clock.at += timedelta(seconds=61)
    with psycopg.connect(database.owner_url, autocommit=True) as conn:
        stale = conn.execute("SELECT count(*) FROM identity.login_failures").fetchone()
        assert stale is not None
        for _ in range(stale[0] // 20 + 1):  # a failure removes 20 rows no policy remembers
            await limit.failed(account(), address())
        left = conn.execute(
            "SELECT count(*) FROM identity.login_failures WHERE subject = ANY(%s)",
            ([s for (s,) in rows],),
        ).fetchone()
    assert left == (0,)


async def test_concurrent_failures_are_each_counted(
    identity_engine: AsyncEngine, clock: FixedClock
) -> None:
    limit = limiter(identity_engine, clock, account_policy=BackoffPolicy(free=8, base_seconds=10))
    ann, at = account(), address()
    await asyncio.gather(*(limit.failed(ann, at) for _ in range(8)))
    assert await limit.retry_after(ann, at) == 10  # the eighth failure's lock: none was lost
