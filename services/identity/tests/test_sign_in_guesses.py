"""How many password guesses an attacker gets at one account (ADR 0339): the sign-in use
case over the real PostgreSQL directory and back-off, with identity's own password hash."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from bijmantra.adapters.postgres.identity import PostgresUserDirectory
from bijmantra.adapters.postgres.login_failures import PostgresLoginLimiter
from bijmantra.application.tenancy import LoginWithPassword, UserRecord
from bijmantra.application.tenancy.throttle import BackoffPolicy
from bijmantra.identity.passwords import Argon2PasswordHasher
from bijmantra.kernel import RateLimited, Unauthorized
from bijmantra.testkit.identity_fakes import FakeTokenIssuer
from sqlalchemy.ext.asyncio import AsyncEngine

from .conftest import new_member

pytestmark = pytest.mark.integration


class BusyDirectory(PostgresUserDirectory):
    """Answers 20 ms late, as a busy database does (or as the hash of another worker or
    replica takes the time: each runs its guesses' hashes side by side)."""

    async def find_by_email(self, email: str) -> UserRecord | None:
        await asyncio.sleep(0.02)
        return await super().find_by_email(email)


async def test_guesses_sent_at_once_are_each_counted(identity_engine: AsyncEngine) -> None:
    """The back-off was read before the password was checked and counted after it: twenty
    guesses sent together all found the account unlocked and all twenty were checked, where
    five are allowed. Now each guess is counted before its password is checked."""
    member = await new_member(identity_engine)
    address = f"2001:db8::{member.user_id.hex[:4]}"
    login = LoginWithPassword(
        users=BusyDirectory(identity_engine),
        hasher=Argon2PasswordHasher(),
        tokens=FakeTokenIssuer(),
        # locks outlast a slow run: the last assertion never races the clock
        limiter=PostgresLoginLimiter(identity_engine, account_policy=BackoffPolicy(5, 60)),
    )

    async def guess() -> str:
        try:
            await login(member.email, "wrong", None, client_address=address)
        except (Unauthorized, RateLimited) as refused:
            return type(refused).__name__
        return "signed in"

    answers = Counter(await asyncio.gather(*(guess() for _ in range(20))))
    assert answers == {"Unauthorized": 5, "RateLimited": 15}
    with pytest.raises(RateLimited):
        await login(member.email, member.password, None, client_address=address)
