"""Time-ordered identifiers.

UUIDv7 (RFC 9562) keeps B-tree inserts local and sorts by creation time, which matters for
the outbox and for large tables; Python 3.11 has no ``uuid.uuid7`` so it is built here.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def _next_stamp() -> tuple[int, int]:
    """The next (millisecond, counter) pair; callers hold ``_lock``."""
    global _last_ms, _counter
    now_ms = time.time_ns() // 1_000_000
    if now_ms <= _last_ms:
        _counter += 1
        if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
            _last_ms += 1
            _counter = 0
        now_ms = _last_ms
    else:
        _last_ms = now_ms
        _counter = 0
    return now_ms, _counter


def _compose(now_ms: int, counter: int, random: bytes) -> uuid.UUID:
    value = (now_ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= int.from_bytes(random, "big") & 0x3FFF_FFFF_FFFF_FFFF
    return uuid.UUID(int=value)


def uuid7() -> uuid.UUID:
    """Return a UUIDv7; monotonic within a process (12-bit counter in ``rand_a``)."""
    with _lock:
        now_ms, counter = _next_stamp()
    return _compose(now_ms, counter, os.urandom(8))


def uuid7_many(n: int) -> list[uuid.UUID]:
    """``n`` UUIDv7s in order, as ``uuid7`` makes them, with one call for the random bits
    (a bulk write of 10,000 documents needs 20,000 ids: documents and their events)."""
    random = os.urandom(8 * n)
    with _lock:
        stamps = [_next_stamp() for _ in range(n)]
    return [_compose(ms, c, random[8 * i : 8 * i + 8]) for i, (ms, c) in enumerate(stamps)]


def new_id() -> str:
    """A new public identifier (DbId) as a string."""
    return str(uuid7())


def new_ids(n: int) -> list[str]:
    """``n`` new public identifiers, as ``new_id`` makes them, for a bulk write."""
    return [str(u) for u in uuid7_many(n)]
