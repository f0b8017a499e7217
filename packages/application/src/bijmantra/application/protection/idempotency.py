"""``Idempotency-Key`` on POST: a retried write is answered, not run again (ADR 0140).

A key is scoped to the caller's organization and client. The first request with a key
claims it (a pending record with a lock lifetime); the request runs; its response is kept
for ``ttl``. A second request with the same key and the same fingerprint (method, path,
query, body) gets the kept response; with another fingerprint it is refused (422); while
the first is still running it is refused with 409 (the IETF draft's answer), and the client
retries later. Server errors are not kept: the claim is released so a retry runs again.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from bijmantra.kernel import ErrorCode, TenantId

MAX_KEY_LENGTH = 255
# Responses kept per organization within a ``ttl``: past it a response is recorded without
# its body (a retry learns the status, as for a response too large to keep). Unbounded, a
# client's 1,200 writes a minute, each answered with a 1 MiB list of 400 problems, kept
# 1.2 GB a minute of the Redis every organization shares, for a day (ADR 0335).
MAX_KEPT_BYTES_PER_ORGANIZATION = 256 << 20
# Kept from the original response; the rest (request id, rate-limit state, dates) is per reply.
KEPT_HEADERS = frozenset(
    {"content-type", "location", "etag", "last-modified", "content-location", "cache-control"}
)


def valid_key(key: str) -> bool:
    """1-255 visible ASCII characters (the draft's key is a structured-field string)."""
    return 0 < len(key) <= MAX_KEY_LENGTH and all(" " <= c <= "~" for c in key)


def scoped_key(tenant: TenantId, subject: str, key: str) -> str:
    """Hashed so a client's key text (and its length) never becomes part of a Redis key."""
    digest = hashlib.sha256(f"{tenant}\0{subject}\0{key}".encode()).hexdigest()
    return f"{tenant}:{digest}"


@dataclass(frozen=True, slots=True)
class IdempotencyPolicy:
    ttl_seconds: int = 24 * 3600  # how long a kept response answers retries
    lock_seconds: int = 300  # a claim whose request never finished frees itself after this
    max_response_bytes: int = 1 << 20  # larger responses are not kept (see ``not_kept``)
    max_request_bytes: int = 64 << 20  # bodies hashed per request (spooled to disk past 1 MiB)

    def keeps(self, status: int, code: str | None = None) -> bool:
        """Results of running the request are kept; throttling and server errors are not, nor
        a refusal for the organization's full storage (``code``: the error's, if one; ADR
        0343): it stored nothing, and once data is deleted the same request is to run."""
        return status < 500 and status not in (408, 429) and code != ErrorCode.STORAGE_FULL


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    body_kept: bool = True  # False: the request ran, but its response was too large to keep

    @classmethod
    def of(
        cls, status: int, headers: Iterable[tuple[str, str]], body: bytes, *, body_kept: bool
    ) -> StoredResponse:
        kept = tuple((k.lower(), v) for k, v in headers if k.lower() in KEPT_HEADERS)
        return cls(status, kept, body if body_kept else b"", body_kept)


class ClaimOutcome(enum.Enum):
    CLAIMED = "claimed"  # run the request, then ``complete`` or ``release``
    REPLAY = "replay"  # answer with ``Claim.response``
    MISMATCH = "mismatch"  # the key was used with another request: 422
    IN_PROGRESS = "in_progress"  # the first request with this key is still running: 409


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: ClaimOutcome
    token: str = ""  # the claimant's proof of ownership for complete/release
    response: StoredResponse | None = field(default=None)


class IdempotencyStore(Protocol):
    async def claim(self, key: str, fingerprint: str, lock_seconds: int) -> Claim: ...

    async def recorded(self, key: str) -> bool:
        """Whether ``key`` has a live record (claimed or completed), read without a claim:
        before a body is spooled, to tell a first request from a retry (ADR 0347)."""
        ...

    async def complete(
        self, key: str, token: str, response: StoredResponse, ttl_seconds: int
    ) -> None: ...

    async def release(self, key: str, token: str) -> None: ...
