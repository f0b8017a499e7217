"""``PostgresLoginLimiter`` against the real database (ADR 0339): per-(account, address) and
per-address back-off, counted in ``identity.login_failures`` (so losing Redis gives no attacker
fresh guesses), each attempt counted before its password is checked; read against a clock
the test moves."""

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


async def test_an_account_is_locked_after_its_free_attempts_with_growing_back_off(
    identity_engine: AsyncEngine, clock: FixedClock
) -> None:
    limit = limiter(identity_engine, clock, account_policy=BackoffPolicy(free=3, base_seconds=10))
    ann, at = account(), address()
    for _ in range(3):
        assert await limit.attempt(ann.title(), at) == 0  # the account's case does not matter
    assert await limit.attempt(ann, at) == 10  # locked: refused and not counted
    clock.at += timedelta(seconds=4)
    assert await limit.attempt(ann, at) == 6
    clock.at += timedelta(seconds=6)
    assert await limit.attempt(ann, at) == 0  # the fourth
    assert await limit.attempt(ann, at) == 20
    # the account is locked at that address only; other accounts are not
    assert await limit.attempt(ann, address()) == 0
    assert await limit.attempt(account(), at) == 0


async def test_someone_who_knows_an_account_cannot_lock_its_owner_out(
    identity_engine: AsyncEngine, clock: FixedClock
) -> None:
    """Issue 17: one failure every 15 minutes kept any known account locked for good."""
    limit = limiter(identity_engine, clock, account_policy=BackoffPolicy(free=5, base_seconds=900))
    ann, attacker = account(), address()
    waits = [await limit.attempt(ann, attacker) for _ in range(12)]  # as long as they like
    assert waits[:5] == [0] * 5
    assert all(wait > 800 for wait in waits[5:])
    assert await limit.attempt(ann, address()) == 0  # Ann, at home


async def test_success_clears_the_account_and_takes_the_attempt_back_from_the_address(
    identity_engine: AsyncEngine, clock: FixedClock
) -> None:
    limit = limiter(
        identity_engine,
        clock,
        account_policy=BackoffPolicy(free=2, base_seconds=10),
        address_policy=BackoffPolicy(free=3, base_seconds=10),
    )
    ann, at = account(), address()
    assert [await limit.attempt(ann, at) for _ in range(3)] == [0, 0, 10]  # two wrong
    clock.at += timedelta(seconds=11)
    assert await limit.attempt(ann, at) == 0  # the address's third attempt: right
    await limit.succeeded(ann, at)
    assert await limit.attempt(ann, at) == 0  # the account forgot; the address counts 3 again
    assert await limit.attempt(account(), at) == 10  # so the address is locked
    assert await limit.attempt(account(), address()) == 0


async def test_an_address_spraying_many_accounts_is_locked(
    identity_engine: AsyncEngine, clock: FixedClock
) -> None:
    limit = limiter(identity_engine, clock, address_policy=BackoffPolicy(free=5, base_seconds=10))
    sprayer = address()
    assert [await limit.attempt(account(), sprayer) for _ in range(5)] == [0] * 5
    assert await limit.attempt(account(), sprayer) == 10


async def test_attempts_are_forgotten_after_the_window_and_their_rows_removed(
    identity_engine: AsyncEngine, clock: FixedClock, database: ProvisionedDatabase
) -> None:
    policy = BackoffPolicy(free=2, base_seconds=10, window_seconds=60)
    limit = limiter(identity_engine, clock, account_policy=policy, address_policy=policy)
    ann, at = account(), address()
    assert await limit.attempt(ann, at) == 0
    clock.at += timedelta(seconds=61)  # the window passed: the next attempt is the first
    assert [await limit.attempt(ann, at) for _ in range(3)] == [0, 0, 10]
    with psycopg.connect(database.owner_url) as conn:
        rows = conn.execute(
            "SELECT subject, failures FROM identity.login_failures WHERE last_failed_at = %s",
            (clock.at,),
        ).fetchall()
    assert sorted(failures for _, failures in rows) == [2, 2]  # the pair, and the address
    assert not any(ann.split("@")[0] in subject or at in subject for subject, _ in rows)
    clock.at += timedelta(seconds=61)
    with psycopg.connect(database.owner_url, autocommit=True) as conn:
        stale = conn.execute("SELECT count(*) FROM identity.login_failures").fetchone()
        assert stale is not None
        for _ in range(stale[0] // 20 + 1):  # an attempt removes 20 rows no policy remembers
            await limit.attempt(account(), address())
        left = conn.execute(
            "SELECT count(*) FROM identity.login_failures WHERE subject = ANY(%s)",
            ([s for s, _ in rows],),
        ).fetchone()
    assert left == (0,)


async def test_attempts_sent_at_once_are_each_counted_and_only_the_allowed_go_ahead(
    identity_engine: AsyncEngine, clock: FixedClock
) -> None:
    limit = limiter(identity_engine, clock, account_policy=BackoffPolicy(free=8, base_seconds=10))
    ann, at = account(), address()
    waits = await asyncio.gather(*(limit.attempt(ann, at) for _ in range(20)))
    assert sorted(waits) == [0] * 8 + [10] * 12
