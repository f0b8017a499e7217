"""One follower of the event stream per gateway worker, fanned out to its sockets (ADR 0362).

Every socket used to follow the stream through a consumer of its own on the NATS server
(ADR 0331): the server's consumers, and the stream's cap on them, bounded the sockets of the
whole platform. Now a worker follows the stream once, while at least one of its sockets
watches, and hands each event to the watches of the event's organization alone; each watch
applies its socket's own filter (``deliver``) and never blocks the follower.

A watch that resumes after an event first replays, through a short-lived follower of its
own, the events stored between that event and the shared follower's position, then joins
the shared follower at that position: nothing is missed, nothing comes twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from bijmantra.application.events.live_feed import EventFeed, FeedItem
from bijmantra.kernel import Unavailable

log = logging.getLogger(__name__)

# Replays before a resuming watch reaches the shared follower; each replays what arrived
# during the one before, so only a stream that grows faster than it is read needs more.
MAX_CATCH_UP_ROUNDS = 10

Deliver = Callable[[FeedItem], None]


class _Follower:
    """The worker's follower: the watches of each organization and the last position it
    handed out. ``lost`` fails (``Unavailable``) when the stream is lost."""

    def __init__(self, position: int) -> None:
        self.position = position
        self.watches: dict[str, set[Watch]] = {}
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task[None] | None = None

    def dispatch(self, item: FeedItem) -> None:
        self.position = item.position
        for watch in tuple(self.watches.get(item.tenant_id, ())):
            if watch.live:
                watch.offer(item)

    def empty(self) -> bool:
        return not self.watches


class Watch:
    """One socket's subscription: its organization's events, handed to ``deliver``."""

    def __init__(
        self, feed: EventFeed, follower: _Follower, tenant_id: str, deliver: Deliver, start: int
    ) -> None:
        self._feed, self._follower = feed, follower
        self.tenant_id, self._deliver, self._start = tenant_id, deliver, start
        self._last = start  # the position of the last event handed on: each comes once
        self.live = False  # the follower hands it events (after its catch-up)

    def offer(self, item: FeedItem) -> None:
        if item.tenant_id != self.tenant_id:  # routed by organization already; never trusted
            return
        if item.position <= self._last:  # resumed ahead of the follower: had it already
            return
        self._last = item.position
        try:
            self._deliver(item)
        except Exception:  # one socket's failure must not stop the others' events
            log.exception("live feed watch failed to take an event")

    async def run(self) -> None:
        """Replay what was stored after the resume point, join the follower, and wait; raises
        ``Unavailable`` once the stream is lost."""
        position = self._start
        for _ in range(MAX_CATCH_UP_ROUNDS):
            target = self._follower.position
            if position >= target:
                self.live = True  # no pause since reading the position: no gap, no repeat
                break
            async with self._feed.follow(after=position, through=target) as items:
                async for item in items:
                    self.offer(item)
            position = target
        else:
            raise Unavailable("The event stream grows faster than this resume replays it")
        await asyncio.shield(self._follower.lost)


class LiveHub:
    """The worker's live feed: one follower while any socket watches (ADR 0362)."""

    def __init__(self, feed: EventFeed) -> None:
        self._feed = feed
        self._follower: _Follower | None = None
        self._starting = asyncio.Lock()
        self._kept = 0  # sockets swapping their subscription: the follower stays

    @property
    def following(self) -> bool:
        return self._follower is not None

    @contextlib.asynccontextmanager
    async def watch(
        self, tenant_id: str, deliver: Deliver, *, after_event_id: str | None
    ) -> AsyncIterator[Watch]:
        """A watch of ``tenant_id``'s events from now, or after ``after_event_id`` (``NotFound``
        when it is not in the stream). ``run`` it; leaving the block ends it, and the last
        watch to leave stops the follower (its consumer is deleted)."""
        start = None if after_event_id is None else await self._feed.position_of(after_event_id)
        async with self._starting:
            follower = self._follower or await self._start()
            # No pause from here to registering: a follower is stopped only when empty.
            after = follower.position if start is None else start
            made = Watch(self._feed, follower, tenant_id, deliver, after)
            follower.watches.setdefault(tenant_id, set()).add(made)
        try:
            yield made
        finally:
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
        follower = _Follower(await self._feed.last_position())
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        follower.task = asyncio.create_task(self._follow(follower, started))
        await started  # raises what opening the follower raised
        self._follower = follower
        return follower

    async def _follow(self, follower: _Follower, started: asyncio.Future[None]) -> None:
        try:
            async with self._feed.follow(after=follower.position) as items:
                started.set_result(None)
                async for item in items:
                    follower.dispatch(item)
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


__all__ = ["MAX_CATCH_UP_ROUNDS", "LiveHub", "Watch"]
