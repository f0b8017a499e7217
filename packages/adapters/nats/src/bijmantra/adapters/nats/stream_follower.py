"""Following the event stream from a gateway worker: an ordered consumer per follower, one
per worker shared by its sockets (``application.events.live_hub``, ADR 0362), and one per
resume while it replays.

Ordered consumers are ephemeral, flow-controlled and keep their state on the NATS server,
so any replica can serve any client and a reconnecting client can resume anywhere: after a
position its resume token names (one message read) or, the older way, after an event id
(a bounded scan of the stream's headers).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from bijmantra.adapters.nats.publisher import EVENT_TYPE_HEADER, TENANT_HEADER
from bijmantra.adapters.nats.stream import EVENTS_STREAM, EVENTS_SUBJECTS
from bijmantra.application.events import decode_envelope
from bijmantra.application.events.live_feed import FeedItem, not_in_stream
from bijmantra.kernel import Unavailable

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

# Events are stored after they are created; this covers clock differences between hosts.
CLOCK_SKEW = timedelta(seconds=5)
# Resolving a resume point stops when the stream stays quiet this long (seconds).
SCAN_IDLE = 1.0
# ... or after this many messages. An event is published seconds after it is created, so it
# lies among the first messages scanned; a resume point naming an old time and no event
# (any member may send one, again and again) had the gateway read the headers of every
# organization's events since then, up to a month of the stream (ADR 0335). The bound counts
# every organization's events: more than this many stored from 5 s before an event until it
# (another organization's import) leave it unfound. A ``resumeAfter`` token reads one
# message instead (``_sequence_at``, ADR 0384); ``resumeFrom`` alone keeps this scan.
MAX_RESUME_SCAN = 50_000
# A replay that receives nothing this long (seconds) reads the stream's positions again: it
# ends when nothing it was asked for is stored any more (removed by age), and waits on when
# something is (a loaded server). It never ends on a silence alone (ADR 0375).
REPLAY_RECHECK = 1.0
# ... and gives up (``Unavailable``: the client resumes again) after this many re-reads in
# a row that found events stored and none delivered.
MAX_REPLAY_STALLS = 30
# The subjects of domain events; the stream also holds dead letters and replays (ADR 0370).
EVENTS_SUBJECT_PREFIX = EVENTS_SUBJECTS[0].removesuffix(">")
# What a live-feed consumer says it is, on the server (``nats consumer info``).
FOLLOWER_DESCRIPTION = "bijmantra live feed"


def _item(message: Msg) -> FeedItem:
    headers = message.headers or {}
    tenant, event_type = headers.get(TENANT_HEADER), headers.get(EVENT_TYPE_HEADER)
    if tenant is None or event_type is None:  # published without routing headers
        envelope = decode_envelope(message.data, upcasting=False)
        tenant, event_type = envelope.tenant_id, envelope.type
    return FeedItem(
        headers.get("Nats-Msg-Id", ""),
        tenant,
        event_type,
        message.data,
        int(message.metadata.sequence.stream),
        int(message.metadata.num_pending or 0),
    )


class JetStreamEventFeed:
    def __init__(
        self,
        js: JetStreamContext,
        *,
        pending_limit: int = 10_000,
        max_resume_scan: int = MAX_RESUME_SCAN,
        description: str = FOLLOWER_DESCRIPTION,
    ) -> None:
        self._js = js
        self._pending_limit = pending_limit
        self._max_scan = max_resume_scan
        self._description = description
        self._ending: set[asyncio.Task[None]] = set()  # held: the loop keeps only weak refs

    async def last_position(self) -> int:
        return int((await self._js.stream_info(EVENTS_STREAM)).state.last_seq)

    async def position_of(self, event_id: str, tenant_id: str, *, at: int | None = None) -> int:
        if at is None:
            return await self._sequence_of(event_id, tenant_id)
        return await self._sequence_at(event_id, tenant_id, at)

    @contextlib.asynccontextmanager
    async def follow(
        self, *, after: int, through: int | None = None
    ) -> AsyncIterator[AsyncIterator[FeedItem]]:
        subscription = await self._js.subscribe(
            EVENTS_SUBJECTS[0],
            stream=EVENTS_STREAM,
            ordered_consumer=True,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=after + 1,
                description=self._description,
            ),
            pending_msgs_limit=self._pending_limit,
        )
        try:
            if through is None:
                yield (_item(message) async for message in subscription.messages)
            else:
                yield self._replay(subscription, after, through)
        finally:
            await self._end(subscription)

    async def next_position(self, after: int) -> int | None:
        try:
            stored = await self._js.get_msg(
                EVENTS_STREAM, seq=after + 1, subject=EVENTS_SUBJECTS[0], next=True
            )
        except NotFoundError:
            return None
        return int(stored.seq or 0) or None

    async def _replay(
        self, subscription: JetStreamContext.PushSubscription, after: int, through: int
    ) -> AsyncIterator[FeedItem]:
        """The subscription's events up to stream sequence ``through``: it ends on the event
        at ``through``, on one after it, or on one with nothing pending behind it; a silence
        only makes it read the stream's positions again (``REPLAY_RECHECK``)."""
        position, stalls = after, 0
        while position < through:
            try:
                message = await subscription.next_msg(timeout=REPLAY_RECHECK)
            except nats.errors.TimeoutError:
                following = await self.next_position(position)
                if following is None or following > through:
                    return  # what was left was removed by age
                stalls += 1
                if stalls == MAX_REPLAY_STALLS:
                    raise Unavailable("The event stream does not deliver this replay") from None
                continue
            stalls, sequence = 0, int(message.metadata.sequence.stream)
            if sequence > through:
                return
            yield _item(message)
            position = sequence
            if message.metadata.num_pending == 0:
                return

    async def _end(self, subscription: JetStreamContext.PushSubscription) -> None:
        """Unsubscribe and delete the consumer on the server, shielded from the caller's
        cancellation (ADR 0379): a follow cancelled again while it ended (a socket's task
        cancelled twice) stopped before it unsubscribed, and its subscription kept the
        consumer on the server, receiving, for as long as the worker ran."""
        ending = asyncio.ensure_future(self._unsubscribe_and_delete(subscription))
        self._ending.add(ending)
        ending.add_done_callback(self._ending.discard)
        await asyncio.shield(ending)

    async def _unsubscribe_and_delete(
        self, subscription: JetStreamContext.PushSubscription
    ) -> None:
        """Unsubscribing alone left the consumer there until its inactivity threshold (~5 s),
        and the stream holds at most ``STREAM_CONFIG.max_consumers``: one member
        re-subscribing a socket in a loop had filled nats-server's default 1,000 within a
        second, and then no socket of any organization could subscribe, nor a service create
        a durable consumer (ADR 0352)."""
        with contextlib.suppress(nats.errors.Error):
            name = (await subscription.consumer_info()).name
            await subscription.unsubscribe()
            await self._js.delete_consumer(EVENTS_STREAM, name)
            return
        with contextlib.suppress(nats.errors.Error):  # the server is unreachable: it expires
            await subscription.unsubscribe()

    async def _sequence_at(self, event_id: str, tenant_id: str, sequence: int) -> int:
        """``sequence`` when the stream holds there the event ``event_id`` of ``tenant_id``:
        one message read, whatever other organizations published (ADR 0384). Anything else
        is ``NotFound`` as an unknown id is: a position alone, or another organization's
        event at it, tells a member nothing."""
        try:
            stored = await self._js.get_msg(EVENTS_STREAM, seq=sequence)
        except NotFoundError:
            stored = None
        headers = (stored.headers if stored is not None else None) or {}
        if (
            stored is not None
            and (stored.subject or "").startswith(EVENTS_SUBJECT_PREFIX)
            and headers.get("Nats-Msg-Id") == event_id
            and headers.get(TENANT_HEADER) == tenant_id
        ):
            return sequence
        raise not_in_stream(event_id)

    async def _sequence_of(self, event_id: str, tenant_id: str) -> int:
        """Stream sequence of an event of ``tenant_id``: scan headers from just before the
        event was created. Another organization's event is not found: a resume answered it
        (ADR 0378), saying to any member that an id they should not know was an event."""
        created_ms = uuid.UUID(event_id).int >> 80
        start = datetime.fromtimestamp(created_ms / 1000, UTC) - CLOCK_SKEW
        subscription = await self._js.subscribe(
            EVENTS_SUBJECTS[0],
            stream=EVENTS_STREAM,
            ordered_consumer=True,
            headers_only=True,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=start),
        )
        try:
            for _ in range(self._max_scan):
                try:
                    message = await subscription.next_msg(timeout=SCAN_IDLE)
                except nats.errors.TimeoutError:
                    break
                headers = message.headers or {}
                if headers.get("Nats-Msg-Id") == event_id:
                    if headers.get(TENANT_HEADER) != tenant_id:
                        break  # ids are unique: no later event has it
                    return int(message.metadata.sequence.stream)
                if message.metadata.num_pending == 0:
                    break
        finally:
            await self._end(subscription)
        raise not_in_stream(event_id)
