"""``LoginAttemptLimiter`` in PostgreSQL: failed sign-ins counted in ``identity.login_failures``.

An attempt is counted before its password is checked, in the transaction that reads its
wait, and taken back when the password is right: guesses sent at once are each counted, and
the ones past the allowance are refused before any password check. One row per subject:
``acct:<sha256 of account and client address>`` (issue 17: an account is counted per
address, so someone who knows it locks only their own attempts) and ``addr:<sha256 of the
address>``. A row holds the count and when the last attempt was; the back-off it earns is
the pure rule of ``BackoffPolicy``, read against the kernel ``Clock``.

In PostgreSQL rather than Redis (ADR 0339): Redis runs without persistence, and every restart
or flush of it gave an attacker a fresh set of guesses at every account. A failed sign-in
already costs a password hash; one more statement is nothing beside it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable

from bijmantra.adapters.postgres.engine import opened_transaction
from bijmantra.application.tenancy.throttle import ACCOUNT_POLICY, ADDRESS_POLICY, BackoffPolicy
from bijmantra.kernel import Clock, SystemClock
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

# Each subject's row, so that the attempt can lock it (a first attempt inserts it at 0).
_ENSURE = text(
    "INSERT INTO identity.login_failures (subject, failures, last_failed_at) "
    "SELECT unnest(CAST(:subjects AS text[])), 0, :now ON CONFLICT (subject) DO NOTHING"
)
_LOCK = text(
    "SELECT subject, failures, last_failed_at FROM identity.login_failures "
    "WHERE subject = ANY(:subjects) ORDER BY subject FOR UPDATE"
)
_COUNT = text(
    "UPDATE identity.login_failures SET last_failed_at = :now, failures = CASE "
    "WHEN last_failed_at <= :forgotten THEN 1 ELSE failures + 1 END WHERE subject = :subject"
)
_TAKE_BACK = text(
    "UPDATE identity.login_failures SET failures = greatest(failures - 1, 0) "
    "WHERE subject = :subject"
)
_FORGET_SUBJECT = text("DELETE FROM identity.login_failures WHERE subject = :subject")
# Rows no policy remembers any more, a few at a time with each attempt: the table holds
# about what the last window's attempts named.
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

    async def attempt(self, account: str, address: str | None) -> float:
        """One transaction: the subjects' rows locked (in one order, so two attempts never
        wait on each other crosswise), the wait read from them, and, when there is none,
        this attempt counted as failed. An attempt sent while another holds the rows waits
        for it and sees its count."""
        subjects = self._subjects(account, address)
        names = sorted(subjects)
        now = self._clock.now()

        def ensure(conn: AsyncConnection) -> Awaitable[object]:
            return conn.execute(_ENSURE, {"subjects": names, "now": now})

        # The first statement is retried on a connection the server dropped (ADR 0341).
        async with opened_transaction(self._engine, ensure) as (conn, _):
            rows = (await conn.execute(_LOCK, {"subjects": names})).all()
            wait = max(
                [0.0, *(subjects[s].retry_after(failures, last, now) for s, failures, last in rows)]
            )
            if wait > 0:
                return wait  # nothing counted: committing changes only rows inserted at 0
            for subject in names:
                forgotten = subjects[subject].forgotten_before(now)
                await conn.execute(_COUNT, {"subject": subject, "now": now, "forgotten": forgotten})
            oldest = min(policy.forgotten_before(now) for policy in subjects.values())
            await conn.execute(_FORGET, {"forgotten": oldest})
        return 0.0

    async def succeeded(self, account: str, address: str | None) -> None:
        subjects = iter(self._subjects(account, address))
        account_subject, address_subject = next(subjects), next(subjects, None)

        def forget(conn: AsyncConnection) -> Awaitable[object]:
            return conn.execute(_FORGET_SUBJECT, {"subject": account_subject})

        async with opened_transaction(self._engine, forget) as (conn, _):
            if address_subject is not None:
                await conn.execute(_TAKE_BACK, {"subject": address_subject})
