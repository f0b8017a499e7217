"""The worker's live hub (ADR 0362, 0375): one follower of the stream for every watch, each
watch its own organization's events alone, resumes that join the follower with no gap and no
repeat, the follower gone with the last watch, and a burst that is not a slow socket. The
real stream: ``packages/adapters/nats/tests/test_stream_live_hub.py``, ``tests/e2e``."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from bijmantra.application.events.live_feed import FeedItem
from bijmantra.application.events.live_hub import LiveHub, Watch
from bijmantra.testkit.event_fakes import FakeEventFeed, QueueInbox

A, B = "org-a", "org-b"
WAIT = 30.0  # seconds before a missing event counts as a failure (not a performance bound)


def item(tenant: str, name: str) -> FeedItem:
    return FeedItem(name, tenant, "germplasm.created", name.encode())


class Recorder:
    """An inbox that takes everything: the ids it was handed, in order."""

    def __init__(self, got: list[str]) -> None:
        self.got = got

    def offer(self, item: FeedItem) -> bool:
        self.got.append(item.event_id)
        return True

    async def room(self) -> None:
        return None

    def overflow(self) -> None:
        raise AssertionError("an inbox that takes everything is never too slow")


@contextlib.asynccontextmanager
async def watching(
    hub: LiveHub, tenant: str, got: list[str], after: str | None = None
) -> AsyncIterator[Watch]:
    async with hub.watch(tenant, Recorder(got), after_event_id=after) as w:
        task = asyncio.create_task(w.run())
        await asyncio.sleep(0)
        try:
            yield w
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def settle() -> None:
    """Let the follower hand out what waits: it pauses after every event (ADR 0375)."""
    for _ in range(500):
        await asyncio.sleep(0)


async def test_watches_of_two_organizations_share_one_follower_and_see_their_own() -> None:
    feed = FakeEventFeed()
    hub = LiveHub(feed)
    got: dict[tuple[str, int], list[str]] = {(t, n): [] for t in (A, B) for n in range(5)}
    async with contextlib.AsyncExitStack() as stack:
        for (tenant, _), seen in got.items():
            await stack.enter_async_context(watching(hub, tenant, seen))
        assert feed.followers == 1
        feed.publish(item(B, "b1"))
        feed.publish(item(A, "a1"))
        feed.publish(item(B, "b2"))
        await settle()
        for (tenant, _), seen in got.items():
            assert seen == (["a1"] if tenant == A else ["b1", "b2"])
    assert feed.followers == 0  # the last watch took the follower with it
    assert not hub.following
    async with watching(hub, A, []):
        assert feed.followers == 1  # the next makes it again


async def test_a_resume_replays_then_joins_without_gap_or_repeat() -> None:
    feed = FakeEventFeed()
    hub = LiveHub(feed)
    live: list[str] = []
    async with watching(hub, A, live):
        for n in range(50):
            feed.publish(item(A if n % 2 else B, f"e{n}"))
        await settle()
        resumed: list[str] = []
        async with watching(hub, A, resumed, after="e9"):
            for n in range(50, 60):  # published while it replays
                feed.publish(item(A if n % 2 else B, f"e{n}"))
                await asyncio.sleep(0)
            await settle()
        assert feed.followers == 1  # the replay's follower is gone, the shared one stays
    assert resumed == [f"e{n}" for n in range(10, 60) if n % 2]
    assert live == [f"e{n}" for n in range(60) if n % 2]


async def test_an_unknown_resume_point_is_refused_before_anything_is_followed() -> None:
    feed = FakeEventFeed()
    hub = LiveHub(feed)
    with pytest.raises(Exception, match="not in the stream"):
        async with hub.watch(A, Recorder([]), after_event_id=str(uuid.uuid4())):
            pass
    assert feed.followers == 0


async def test_a_watch_that_fails_to_take_an_event_does_not_stop_the_others() -> None:
    feed = FakeEventFeed()
    hub = LiveHub(feed)

    class Broken(Recorder):
        def offer(self, item: FeedItem) -> bool:
            raise RuntimeError("a socket's bug")

    seen: list[str] = []
    async with hub.watch(A, Broken([]), after_event_id=None) as bad, watching(hub, A, seen):
        bad_run = asyncio.create_task(bad.run())
        feed.publish(item(A, "a1"))
        feed.publish(item(A, "a2"))
        await settle()
        bad_run.cancel()
    assert seen == ["a1", "a2"]


async def test_a_lone_watch_replaced_while_kept_keeps_the_follower() -> None:
    feed = FakeEventFeed()
    hub = LiveHub(feed)
    async with watching(hub, A, []):
        pass
    assert feed.followers == 0
    async with hub.kept():
        async with watching(hub, A, []):
            pass
        assert feed.followers == 1  # the lone watch left; the follower waits for the next
        async with watching(hub, A, []):
            assert feed.followers == 1
    assert feed.followers == 0


async def test_a_burst_beyond_the_queue_reaches_a_socket_whose_sender_runs() -> None:
    """ADR 0375: three queues' worth arriving at once filled the queue before the socket's
    sender first ran, and a socket that keeps up was closed as too slow."""
    feed = FakeEventFeed()
    hub = LiveHub(feed)
    inbox = QueueInbox(limit=20)
    async with hub.watch(A, inbox, after_event_id=None) as watch:
        tasks = [asyncio.create_task(watch.run()), asyncio.create_task(inbox.write())]
        for n in range(60):  # waiting in the follower's buffer together, as a burst does
            feed.publish(item(A, f"e{n}"))
        await asyncio.wait_for(inbox.until_sent("e59"), WAIT)
        for task in tasks:
            task.cancel()
    assert not inbox.overflowed
    assert inbox.sent_ids == [f"e{n}" for n in range(60)]


async def test_a_socket_that_makes_no_room_is_closed_and_holds_the_others_a_bounded_time() -> None:
    feed = FakeEventFeed()
    hub = LiveHub(feed, room_wait=0.05)
    stalled, reading = QueueInbox(limit=5), QueueInbox(limit=5)
    async with (
        hub.watch(A, stalled, after_event_id=None) as stuck,
        hub.watch(A, reading, after_event_id=None) as live,
    ):
        tasks = [asyncio.create_task(w.run()) for w in (stuck, live)]
        tasks.append(asyncio.create_task(reading.write()))
        for n in range(30):
            feed.publish(item(A, f"e{n}"))
        await asyncio.wait_for(reading.until_sent("e29"), WAIT)
        for task in tasks:
            task.cancel()
    assert stalled.overflowed  # once: it is handed nothing after
    assert [i.event_id for i in stalled.sent] == []
    assert stalled.waiting.qsize() == 5
    assert reading.sent_ids == [f"e{n}" for n in range(30)]
    assert not reading.overflowed


async def test_a_resume_with_nothing_stored_after_it_is_live_at_once() -> None:
    feed = FakeEventFeed()
    hub = LiveHub(feed)
    for n in range(3):
        feed.publish(item(A, f"e{n}"))
    async with hub.watch(A, Recorder([]), after_event_id="e2") as watch:
        assert watch.live
        assert watch.joined_at == 3


async def test_a_socket_slower_than_the_feed_is_closed_once_it_held_the_others_back() -> None:
    """It makes room now and then, never within the wait for one event: waiting for it at
    every event would hold its worker's feed back for everyone, without end."""
    feed = FakeEventFeed()
    hub = LiveHub(feed, room_wait=1.0, max_held_back=0.05)
    crawling, reading = QueueInbox(limit=5), QueueInbox(limit=5)

    async with (
        hub.watch(A, crawling, after_event_id=None) as slow,
        hub.watch(A, reading, after_event_id=None) as live,
    ):
        tasks = [asyncio.create_task(w.run()) for w in (slow, live)]
        tasks += [asyncio.create_task(reading.write()), asyncio.create_task(crawling.write(0.01))]
        for n in range(200):
            feed.publish(item(A, f"e{n}"))
        await asyncio.wait_for(reading.until_sent("e199"), WAIT)
        for task in tasks:
            task.cancel()
    assert crawling.overflowed
    assert len(crawling.sent) < 200
    assert reading.sent_ids == [f"e{n}" for n in range(200)]
    assert not reading.overflowed
