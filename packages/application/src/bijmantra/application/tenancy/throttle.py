"""Login abuse resistance: failed attempts counted per (account, client address) and per
client address.

The limiter counts an attempt before the password is checked (and takes it back when the
password is right), so a locked pair gets no more guesses, even sent all at once; unknown
accounts are counted exactly like real ones, so lockouts reveal nothing.
Counting an account per address means an attacker who knows it locks only themselves
(issue 17: one failure every 15 minutes used to keep any known account locked for good).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """Once ``free`` failures are reached, the n-th failure locks for ``base * 2**(n - free)`` "
    "s, capped."""

    free: int
    base_seconds: float = 1.0
    max_seconds: float = 900.0
    window_seconds: int = 3600  # failures are forgotten after this long without a new one

    def lock_seconds(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return float(min(self.max_seconds, self.base_seconds * 2 ** (failures - self.free)))

    def forgotten_before(self, now: datetime) -> datetime:
        """Failures whose last one is this old or older are forgotten: the next counts 1."""
        return now - timedelta(seconds=self.window_seconds)

    def retry_after(self, failures: int, last_failed_at: datetime, now: datetime) -> float:
        """Seconds until another attempt is allowed after ``failures`` failures, the last at
        ``last_failed_at``: the lock of the last failure, less the time since it."""
        if last_failed_at <= self.forgotten_before(now):
            return 0.0
        return max(0.0, self.lock_seconds(failures) - (now - last_failed_at).total_seconds())


ACCOUNT_POLICY = BackoffPolicy(free=5)
ADDRESS_POLICY = BackoffPolicy(free=20)


class LoginAttemptLimiter(Protocol):
    async def attempt(self, account: str, address: str | None) -> float:
        """Before the password is checked: count this attempt as failed and answer 0, or,
        while locked, answer the seconds until another attempt is allowed, counting nothing.
        One step, so guesses sent at once are each counted (ADR 0339)."""
        ...

    async def succeeded(self, account: str, address: str | None) -> None:
        """The attempt was right: forget the account's failures at this address, and take
        the attempt back from the address's count."""
        ...
