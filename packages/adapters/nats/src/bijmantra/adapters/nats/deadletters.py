"""Dead letters on the event stream: list them, and replay them to the one consumer that failed.

A consumer dead-letters a message to ``bijmantra.deadletter.<durable>`` (the relay to
``bijmantra.deadletter.relay``) on its stream: the event stream, or the device edge's
``DEVICE_TELEMETRY`` for the telemetry bridge's batches (ADR 0371). Republishing it to its
original subject would hand it to every consumer again; a replay goes to
``bijmantra.replay.<durable>``, which only that durable follows, with the original envelope
bytes and headers, and a ``Nats-Msg-Id`` naming the dead letter, so a second replay of the
same one within the dedupe window is dropped. The dead
letter is deleted only once the stream acknowledged the replay (ADR 0370).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bijmantra.adapters.nats.stream import DEAD_LETTER_PREFIX, EVENTS_STREAM, REPLAY_PREFIX

from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError

RELAY = "relay"  # the outbox relay's dead letters: too large to publish, nothing to replay to
MAX_PAGE = 500


class Refused(Exception):
    """The operator asked for something that is not there or cannot be replayed."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    sequence: int
    consumer: str
    original_subject: str
    event_id: str
    event_type: str
    organization: str
    reason: str
    time: datetime | None
    deliveries: str


@dataclass(frozen=True, slots=True)
class Replayed:
    sequence: int
    replay_sequence: int
    duplicate: bool  # the same dead letter was replayed already, within the dedupe window


def _subject(consumer: str) -> str:
    return f"{DEAD_LETTER_PREFIX}.{consumer}"


def _describe(consumer: str, raw: RawStreamMsg) -> DeadLetter:
    headers = raw.headers or {}
    try:
        decoded: Any = json.loads(raw.data or b"")
    except ValueError:
        decoded = None
    envelope = {k: str(v) for k, v in decoded.items()} if isinstance(decoded, dict) else {}
    return DeadLetter(
        sequence=raw.seq or 0,
        consumer=consumer,
        original_subject=headers.get("Bijmantra-Original-Subject", ""),
        event_id=headers.get("Bijmantra-Event-Id", envelope.get("id", "")),
        event_type=headers.get("Bijmantra-Event-Type", envelope.get("type", "")),
        organization=headers.get("Bijmantra-Tenant", envelope.get("tenant_id", "")),
        reason=headers.get("Bijmantra-Dead-Letter-Reason", ""),
        time=raw.time,
        deliveries=headers.get("Bijmantra-Deliveries", ""),
    )


async def held(js: JetStreamContext, consumer: str) -> int:
    """How many dead letters ``consumer`` has on the stream now: one request, the stream's
    message count of its dead-letter subject (nothing is read)."""
    info = await js.stream_info(EVENTS_STREAM, subjects_filter=_subject(consumer))
    return sum((info.state.subjects or {}).values())


async def _known(js: JetStreamContext, consumer: str, stream: str) -> bool:
    try:
        await js.consumer_info(stream, consumer)
    except NotFoundError:
        return False
    return True


async def list_dead_letters(
    js: JetStreamContext,
    consumer: str,
    *,
    after: int = 0,
    limit: int = 50,
    stream: str = EVENTS_STREAM,
) -> list[DeadLetter]:
    """Up to ``limit`` (at most ``MAX_PAGE``) of ``consumer``'s dead letters with a stream
    sequence above ``after``, oldest first; the last one's sequence is the next page's
    ``after``. Refuses a consumer the stream has neither as a durable nor in dead letters."""
    limit = max(1, min(limit, MAX_PAGE))
    found: list[DeadLetter] = []
    seq = after + 1
    while len(found) < limit:
        try:
            raw = await js.get_msg(stream, seq=seq, subject=_subject(consumer), next=True)
        except NotFoundError:
            break
        found.append(_describe(consumer, raw))
        seq = (raw.seq or seq) + 1
    if not found and after == 0 and consumer != RELAY and not await _known(js, consumer, stream):
        raise Refused(f"unknown consumer {consumer!r}: the stream has no such durable")
    return found


async def replay(
    js: JetStreamContext, consumer: str, sequence: int, *, stream: str = EVENTS_STREAM
) -> Replayed:
    """Send dead letter ``sequence`` back to ``consumer`` only; delete it once the stream
    acknowledged the replay."""
    if consumer == RELAY:
        raise Refused("the relay's dead letters are too large to publish: nothing replays them")
    if not await _known(js, consumer, stream):
        raise Refused(f"unknown consumer {consumer!r}: the stream has no such durable")
    try:
        raw = await js.get_msg(stream, seq=sequence)
    except NotFoundError:
        raise Refused(f"no message {sequence} on the stream (replayed already?)") from None
    if raw.subject != _subject(consumer):
        raise Refused(f"message {sequence} is on {raw.subject}, not a dead letter of {consumer!r}")
    headers = {k: v for k, v in (raw.headers or {}).items() if k != "Nats-Msg-Id"}
    headers |= {
        "Nats-Msg-Id": f"replay:{consumer}:{sequence}",
        "Bijmantra-Replay-Of": str(sequence),
    }
    ack = await js.publish(f"{REPLAY_PREFIX}.{consumer}", raw.data or b"", headers=headers)
    with contextlib.suppress(NotFoundError):  # a concurrent replay deleted it first
        await js.delete_msg(stream, sequence)
    return Replayed(sequence, ack.seq, bool(ack.duplicate))


async def replay_all(
    js: JetStreamContext, consumer: str, *, stream: str = EVENTS_STREAM
) -> list[Replayed]:
    """Replay every dead letter ``consumer`` has now, oldest first (not those its replays
    make when they fail again)."""
    last = (await js.stream_info(stream)).state.last_seq
    done: list[Replayed] = []
    after = 0
    while page := await list_dead_letters(js, consumer, after=after, limit=MAX_PAGE, stream=stream):
        for letter in page:
            if letter.sequence > last:
                return done
            done.append(await replay(js, consumer, letter.sequence, stream=stream))
        after = page[-1].sequence
    return done
