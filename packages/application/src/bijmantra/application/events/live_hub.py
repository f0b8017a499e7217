"""One follower of the event stream per gateway worker, fanned out to its sockets (ADR 0362).

Every socket used to follow the stream through a consumer of its own on the NATS server
(ADR 0331): the server's consumers, and the stream's cap on them, bounded the sockets of the
whole platform. Now a worker follows the stream once, while at least one of its sockets
watches, and hands each event to the watches of the event's organization alone; each watch
applies its socket's own filter (``Inbox.offer``).

Slow means slow (ADR 0375): the follower lets the sockets' writers run between events, and a
socket whose queue is full gets a bounded wait for room before it is closed as too slow; one
that would hold the follower back longer than ``MAX_HELD_BACK`` is closed at once.

A watch that resumes after an event replays, through a short-lived follower of its own, the
events stored up to the shared follower's position when it joined, holding what the shared
follower hands it meanwhile; then it hands on what it held and is live. Where the replay ends
is read from the stream's positions, never guessed from a silence: nothing is missed, nothing
comes twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import Protocol

from bijmantra.application.events.live_feed import EventFeed, FeedItem
from bijmantra.kernel import Unavailable

log = logging.getLogger(__name__)

# Replays before a resuming watch joins the shared follower; another round is needed only
# when more than ``MAX_HELD`` of its organization's events arrived during the one before.
MAX_CATCH_UP_ROUNDS = 10
# Events of its organization a resuming watch holds while it replays (shared, not copied).
MAX_HELD = 1000
# Seconds the follower waits at most for room in a full socket's queue; a socket that makes
# none in that time is closed as too slow (4413) ...
ROOM_WAIT = 1.0
# ... and seconds the follower may have waited on sockets since it last caught up with the
# stream: past them, a full socket is closed at once. A socket that takes events more slowly
# than they arrive would otherwise hold its worker's feed back for everyone, without end.
MAX_HELD_BACK = 2.0


class Inbox(Protocol):
    """One socket's bounded queue, as the hub sees it."""

    def offer(self, item: FeedItem) -> bool:
        """Queue ``item`` if the socket wants it; ``False`` (not queued) when its queue is
        full."""
        ...

    async def room(self) -> None:
        """Return once the queue can take one more."""
        ...

    def overflow(self) -> None:
        """Close the socket: it made no room in time (too slow)."""
        ...


class _Follower:
    """The worker's follower: the watches of each organization and the last position it
    handed out. ``lost`` fails (``Unavailable``) when the stream is lost."""

    def __init__(self, position: int, max_held_back: float) -> None:
        self.position, self.max_held_back = position, max_held_back
        self.watches: dict[str, set[Watch]] = {}
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task[None] | None = None
        self.held_back = 0.0  # seconds waited on sockets since the follower last caught up

    async def dispatch(self, item: FeedItem) -> None:
        """Hand ``item`` to its organization's watches, waiting (at most ``room_wait``, on all
        at once) on those whose queue is full, unless it was held back enough already."""
        self.position = item.position
        full = [w for w in tuple(self.watches.get(item.tenant_id, ())) if not w.take(item)]
        if full and self.held_back >= self.max_held_back:
            for watch in full:
                watch.too_slow(item)
        elif full:
            loop = asyncio.get_running_loop()
            began = loop.time()
            await asyncio.gather(*(watch.hand_on(item) for watch in full))
            self.held_back += loop.time() - began
        if item.behind == 0:  # caught up: nothing stored after it is still to come
            self.held_back = 0.0

    def empty(self) -> bool:
        return not self.watches


class Watch:
    """One socket's subscription: its organization's events, handed to its ``Inbox``."""

    def __init__(
        self,
        feed: EventFeed,
        follower: _Follower,
        tenant_id: str,
        inbox: Inbox,
        start: int,
        room_wait: float,
    ) -> None:
        self._feed, self._follower = feed, follower
        self.tenant_id, self._inbox = tenant_id, inbox
        self._start = start  # replayed (or never wanted) up to here
        self._last = start  # the position of the last event handed on: each comes once
        # Registered at the follower's position, no pause between: the follower hands the
        # watch every later event, held (``None``: more than ``MAX_HELD``) until it is live.
        self._through = follower.position
        self._held: deque[FeedItem] | None = deque()
        self.live = False
        self.joined_at: int | None = None  # the follower's position when the watch went live
        self.gone = asyncio.get_running_loop().create_future()  # set when the socket leaves
        self._room_wait = room_wait
        self._closed = False  # found too slow: handed nothing more

    def take(self, item: FeedItem) -> bool:
        """One event from the follower: handed on (live) or held; ``False``: no room."""
        if item.tenant_id != self.tenant_id:  # routed by organization already; never trusted
            return True
        if self.live:
            return self._offer(item)
        if self._held is not None:
            self._held.append(item)
            if len(self._held) > MAX_HELD:
                self._held = None  # replayed in the next round instead
        return True

    def _offer(self, item: FeedItem) -> bool:
        if self._closed or item.tenant_id != self.tenant_id or item.position <= self._last:
            return True  # closing, another organization's, or had it already
        try:
            if not self._inbox.offer(item):
                return False
        except Exception:  # one socket's failure must not stop the others' events
            log.exception("live feed watch failed to take an event")
        self._last = item.position
        return True

    async def hand_on(self, item: FeedItem) -> None:
        """Hand on ``item``, waiting for room (``room_wait`` at most); a socket that makes
        none in that time is closed as too slow, and the follower goes on."""
        while not self._offer(item):
            if not await self._room():
                self.too_slow(item)
                return

    def too_slow(self, item: FeedItem) -> None:
        """Close the socket (4413), handing it nothing more from ``item`` on."""
        if not self.gone.done():  # a watch that ended (re-subscribed) closes nothing
            self._inbox.overflow()
        self._closed = True

    async def _room(self) -> bool:
        """Wait for room in the socket's queue, at most ``room_wait`` seconds; ``False``: none
        came, or the watch ended."""
        if self.gone.done():
            return False
        room = asyncio.ensure_future(self._inbox.room())
        try:
            done, _ = await asyncio.wait(
                [room, self.gone], timeout=self._room_wait, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            room.cancel()
        return room in done and room.exception() is None

    async def skip_to_join_if_nothing_stored(self) -> None:
        """Go live at once when no event was stored between the resume point and the
        follower's position at registration: no replay, no consumer, no wait."""
        if self._start < self._through:
            following = await self._feed.next_position(self._start)
            if following is None or following > self._through:
                self._start = self._through
        if self._start >= self._through and self._held == deque():
            self._join()

    def _join(self) -> None:
        self.live = True  # no pause since the hold was found empty: no gap, no repeat
        self.joined_at = self._follower.position
        self._held = None

    async def run(self) -> None:
        """Replay what was stored after the resume point, join the follower, and wait; raises
        ``Unavailable`` once the stream is lost."""
        position, rounds = self._start, 0
        while not self.live:
            if rounds == MAX_CATCH_UP_ROUNDS:
                raise Unavailable("The event stream grows faster than this resume replays it")
            rounds += 1
            through = self._through
            if position < through and await self._stored_between(position, through):
                async with self._feed.follow(after=position, through=through) as items:
                    async for item in items:
                        await self.hand_on(item)
            position = through
            await self._release_held()
        await asyncio.shield(self._follower.lost)

    async def _stored_between(self, after: int, through: int) -> bool:
        following = await self._feed.next_position(after)
        return following is not None and following <= through

    async def _release_held(self) -> None:
        """Hand on what the follower handed the watch while it replayed, then go live; when
        the hold overflowed, hold again from the follower's position (another round)."""
        while self._held:
            await self.hand_on(self._held.popleft())
        if self._held is None:
            self._through, self._held = self._follower.position, deque()
        else:
            self._join()


class LiveHub:
    """The worker's live feed: one follower while any socket watches (ADR 0362)."""

    def __init__(
        self,
        feed: EventFeed,
        *,
        room_wait: float = ROOM_WAIT,
        max_held_back: float = MAX_HELD_BACK,
    ) -> None:
        self._feed = feed
        self._room_wait, self._max_held_back = room_wait, max_held_back
        self._follower: _Follower | None = None
        self._starting = asyncio.Lock()
        self._kept = 0  # sockets swapping their subscription: the follower stays

    @property
    def following(self) -> bool:
        return self._follower is not None

    @contextlib.asynccontextmanager
    async def watch(
        self,
        tenant_id: str,
        inbox: Inbox,
        *,
        after_event_id: str | None,
        after_position: int | None = None,
    ) -> AsyncIterator[Watch]:
        """A watch of ``tenant_id``'s events from now, or after ``after_event_id`` (``NotFound``
        when it is not in the stream), stored at ``after_position`` when the client's resume
        token says so (ADR 0384). ``run`` it; leaving the block ends it, and the last watch to
        leave stops the follower (its consumer is deleted)."""
        start = (
            None
            if after_event_id is None
            else await self._feed.position_of(after_event_id, tenant_id, at=after_position)
        )
        async with self._starting:
            follower = self._follower or await self._start()
            # No pause from here to registering: a follower is stopped only when empty.
            after = follower.position if start is None else start
            made = Watch(self._feed, follower, tenant_id, inbox, after, self._room_wait)
            follower.watches.setdefault(tenant_id, set()).add(made)
        try:
            await made.skip_to_join_if_nothing_stored()
            yield made
        finally:
            made.gone.set_result(None)
            of_tenant = follower.watches.get(tenant_id, set())
            of_tenant.discard(made)
            if not of_tenant:
                follower.watches.pop(tenant_id, None)
            await self._stop_if_idle(follower)

    @contextlib.asynccontextmanager
    async def kept(self) -> AsyncIterator[None]:
        """Keep the follower while a socket replaces its watch: a lone socket subscribing
        again would otherwise delete the consumer and make it again."""
        self._kept += 1
        try:
            yield
        finally:
            self._kept -= 1
            if self._follower is not None:
                await self._stop_if_idle(self._follower)

    async def close(self) -> None:
        follower, self._follower = self._follower, None
        if follower is not None:
            await _stopped(follower)

    async def _start(self) -> _Follower:
        follower = _Follower(await self._feed.last_position(), self._max_held_back)
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        follower.task = asyncio.create_task(self._follow(follower, started))
        try:
            await started  # raises what opening the follower raised
        except asyncio.CancelledError:
            # Cancelled (the socket went) once the follower was open, not yet the hub's: no
            # watch would ever stop it, and its consumer stayed as long as the worker ran.
            follower.task.cancel()
            raise
        self._follower = follower
        return follower

    async def _follow(self, follower: _Follower, started: asyncio.Future[None]) -> None:
        try:
            async with self._feed.follow(after=follower.position) as items:
                started.set_result(None)
                async for item in items:
                    await follower.dispatch(item)
                    # The client buffers a burst; without a pause here the sockets' writers
                    # first run once every queue is full, and a fast socket was "too slow".
                    await asyncio.sleep(0)
            raise Unavailable("The event stream ended")
        except asyncio.CancelledError:
            raise
        except Exception:
            if not started.done():
                log.exception("live feed could not follow the event stream")
                started.set_exception(Unavailable("The event stream is unavailable"))
                return
            log.exception("live feed lost the event stream")
            if self._follower is follower:
                self._follower = None  # the next watch starts a new one
            follower.lost.set_exception(Unavailable("The event stream is unavailable"))
            follower.lost.exception()  # retrieved: no "never retrieved" warning

    async def _stop_if_idle(self, follower: _Follower) -> None:
        if not follower.empty() or (self._kept and follower is self._follower):
            return
        if self._follower is follower:
            self._follower = None
        await _stopped(follower)


async def _stopped(follower: _Follower) -> None:
    """Cancel the follower's task and wait for it to delete its consumer."""
    if follower.task is None or follower.task.done():
        return
    follower.task.cancel()
    await asyncio.wait([follower.task])


__all__ = [
    "MAX_CATCH_UP_ROUNDS",
    "MAX_HELD",
    "MAX_HELD_BACK",
    "ROOM_WAIT",
    "Inbox",
    "LiveHub",
    "Watch",
]
