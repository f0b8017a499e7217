"""Following the event stream from a gateway worker: an ordered consumer per follower, one
per worker shared by its sockets (``application.events.live_hub``, ADR 0362), and one per
resume while it replays.

Ordered consumers are ephemeral, flow-controlled and keep their state on the NATS server,
so any replica can serve any client and a reconnecting client can resume anywhere.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from bijmantra.adapters.nats.publisher import EVENT_TYPE_HEADER, TENANT_HEADER
from bijmantra.adapters.nats.stream import EVENTS_STREAM, EVENTS_SUBJECTS
from bijmantra.application.events import decode_envelope
from bijmantra.application.events.live_feed import FeedItem
from bijmantra.kernel import NotFound

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

# Events are stored after they are created; this covers clock differences between hosts.
CLOCK_SKEW = timedelta(seconds=5)
# Resolving a resume point stops when the stream stays quiet this long (seconds).
SCAN_IDLE = 1.0
# ... or after this many messages. An event is published seconds after it is created, so it
# lies among the first messages scanned; a resume point naming an old time and no event
# (any member may send one, again and again) had the gateway read the headers of every
# organization's events since then, up to a month of the stream (ADR 0335).
MAX_RESUME_SCAN = 50_000
# A replay ends when its next stored message does not come within this long (seconds).
REPLAY_IDLE = 5.0
# What a live-feed consumer says it is, on the server (``nats consumer info``).
FOLLOWER_DESCRIPTION = "bijmantra live feed"


async def _replay(
    subscription: JetStreamContext.PushSubscription, through: int
) -> AsyncIterator[FeedItem]:
    """The subscription's messages up to stream sequence ``through``: every one of them was
    stored before the replay began, so it ends at ``through``, at the stream's end, or when
    none comes within ``REPLAY_IDLE`` (those in between were removed by age)."""
    while True:
        try:
            message = await subscription.next_msg(timeout=REPLAY_IDLE)
        except nats.errors.TimeoutError:
            return
        sequence = int(message.metadata.sequence.stream)
        if sequence > through:
            return
        yield _item(message)
        if sequence == through or message.metadata.num_pending == 0:
            return


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

    async def last_position(self) -> int:
        return int((await self._js.stream_info(EVENTS_STREAM)).state.last_seq)

    async def position_of(self, event_id: str) -> int:
        return await self._sequence_of(event_id)

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
                yield _replay(subscription, through)
        finally:
            await self._end(subscription)

    async def _end(self, subscription: JetStreamContext.PushSubscription) -> None:
        """Unsubscribe and delete the consumer on the server. Unsubscribing alone left it
        there until its inactivity threshold (~5 s), and the stream holds at most
        ``STREAM_CONFIG.max_consumers``: one member re-subscribing a socket in a loop had
        filled nats-server's default 1,000 within a second, and then no socket of any
        organization could subscribe, nor a service create a durable consumer (ADR 0352)."""
        with contextlib.suppress(nats.errors.Error):
            name = (await subscription.consumer_info()).name
            await subscription.unsubscribe()
            await self._js.delete_consumer(EVENTS_STREAM, name)
            return
        with contextlib.suppress(nats.errors.Error):  # the server is unreachable: it expires
            await subscription.unsubscribe()

    async def _sequence_of(self, event_id: str) -> int:
        """Stream sequence of an event: scan headers from just before the event was created."""
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
                if (message.headers or {}).get("Nats-Msg-Id") == event_id:
                    return int(message.metadata.sequence.stream)
                if message.metadata.num_pending == 0:
                    break
        finally:
            await self._end(subscription)
        raise NotFound(f"Event {event_id} is not in the event stream (too old, or unknown)")
