"""``LoginAttemptLimiter`` in PostgreSQL: failed sign-ins counted in ``identity.login_failures``.

One row per subject: ``acct:<sha256 of account and client address>`` (issue 17: an account is
counted per address, so someone who knows it locks only their own attempts) and
``addr:<sha256 of the address>``. A row holds the count and when the last failure was; the
back-off it earns is the pure rule of ``BackoffPolicy``, read against the kernel ``Clock``.

In PostgreSQL rather than Redis (ADR 0339): Redis runs without persistence, and every restart
or flush of it gave an attacker a fresh set of guesses at every account. A failed sign-in
already costs a password hash; one more statement is nothing beside it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from bijmantra.application.tenancy.throttle import ACCOUNT_POLICY, ADDRESS_POLICY, BackoffPolicy
from bijmantra.kernel import Clock, SystemClock
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_COUNT = text(
    "INSERT INTO identity.login_failures AS f (subject, failures, last_failed_at) "
    "VALUES (:subject, 1, :now) ON CONFLICT (subject) DO UPDATE SET "
    "failures = CASE WHEN f.last_failed_at <= :forgotten THEN 1 ELSE f.failures + 1 END, "
    "last_failed_at = :now"
)
_READ = text(
    "SELECT subject, failures, last_failed_at FROM identity.login_failures "
    "WHERE subject = ANY(:subjects)"
)
# Rows no policy remembers any more, a few at a time with each failure: the table holds
# about what the last window's failures named.
_FORGET = text(
    "DELETE FROM identity.login_failures WHERE ctid = ANY(ARRAY("
    "SELECT ctid FROM identity.login_failures WHERE last_failed_at <= :forgotten "
    "LIMIT 20 FOR UPDATE SKIP LOCKED))"
)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class PostgresLoginLimiter:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        account_policy: BackoffPolicy = ACCOUNT_POLICY,
        address_policy: BackoffPolicy = ADDRESS_POLICY,
        clock: Clock | None = None,
    ) -> None:
        self._engine = engine
        self._policies = {"acct": account_policy, "addr": address_policy}
        self._clock = clock or SystemClock()

    def _subjects(self, account: str, address: str | None) -> dict[str, BackoffPolicy]:
        subjects = {
            "acct:" + _digest(f"{account.strip().lower()}\n{address or '-'}"): self._policies[
                "acct"
            ]
        }
        if address:
            subjects["addr:" + _digest(address)] = self._policies["addr"]
        return subjects

    async def retry_after(self, account: str, address: str | None) -> float:
        subjects = self._subjects(account, address)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(_READ, {"subjects": list(subjects)})).all()
        now = self._clock.now()
        return max(
            [0.0, *(subjects[s].retry_after(failures, last, now) for s, failures, last in rows)]
        )

    async def failed(self, account: str, address: str | None) -> None:
        now = self._clock.now()
        oldest: datetime = now
        async with self._engine.begin() as conn:
            for subject, policy in self._subjects(account, address).items():
                forgotten = policy.forgotten_before(now)
                oldest = min(oldest, forgotten)
                await conn.execute(_COUNT, {"subject": subject, "now": now, "forgotten": forgotten})
            await conn.execute(_FORGET, {"forgotten": oldest})

    async def succeeded(self, account: str, address: str | None) -> None:
        account_subject = next(iter(self._subjects(account, address)))
        async with self._engine.begin() as conn:
            await conn.execute(
                text("DELETE FROM identity.login_failures WHERE subject = :subject"),
                {"subject": account_subject},
            )
