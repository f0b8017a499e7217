"""In-memory fakes of the edge protection ports (rate limiter, idempotency store).

Same contracts as the Redis adapters: all buckets charged together or none, a claim that
only its owner completes or releases, records that expire."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bijmantra.application.protection.idempotency import Claim, ClaimOutcome, StoredResponse
from bijmantra.application.protection.ratelimit import Bucket, Decision, decide


class FakeRateLimiter:
    """GCRA over a dict; ``now_ms`` is injectable so tests move time by hand."""

    def __init__(self, now_ms: Callable[[], float]) -> None:
        self._now_ms = now_ms
        self.tats: dict[str, float] = {}

    async def acquire(self, buckets: Sequence[Bucket]) -> Decision:
        decision, tats = decide([self.tats.get(b.key) for b in buckets], self._now_ms(), buckets)
        if decision.allowed:
            self.tats.update((b.key, tat) for b, tat in zip(buckets, tats, strict=True))
        return decision


@dataclass
class _Record:
    fingerprint: str
    token: str
    expires_ms: float
    response: StoredResponse | None = None


class FakeIdempotencyStore:
    def __init__(self, now_ms: Callable[[], float]) -> None:
        self._now_ms = now_ms
        self.records: dict[str, _Record] = {}

    def _live(self, key: str) -> _Record | None:
        record = self.records.get(key)
        if record is not None and record.expires_ms <= self._now_ms():
            del self.records[key]
            return None
        return record

    async def claim(self, key: str, fingerprint: str, lock_seconds: int) -> Claim:
        record = self._live(key)
        if record is None:
            token = secrets.token_hex(16)
            expires = self._now_ms() + lock_seconds * 1000
            self.records[key] = _Record(fingerprint, token, expires)
            return Claim(ClaimOutcome.CLAIMED, token)
        if record.fingerprint != fingerprint:
            return Claim(ClaimOutcome.MISMATCH)
        if record.response is not None:
            return Claim(ClaimOutcome.REPLAY, response=record.response)
        return Claim(ClaimOutcome.IN_PROGRESS)

    async def recorded(self, key: str) -> bool:
        return self._live(key) is not None

    async def complete(
        self, key: str, token: str, response: StoredResponse, ttl_seconds: int
    ) -> None:
        record = self._live(key)
        if record is not None and record.token == token:
            record.response = response
            record.expires_ms = self._now_ms() + ttl_seconds * 1000

    async def release(self, key: str, token: str) -> None:
        record = self._live(key)
        if record is not None and record.token == token:
            del self.records[key]
