"""The worker's live hub (ADR 0362): one follower of the stream for every watch, each watch
its own organization's events alone, resumes that join the follower with no gap and no
repeat, and the follower gone with the last watch. The real stream: ``tests/e2e``."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from bijmantra.application.events.live_feed import FeedItem
from bijmantra.application.events.live_hub import LiveHub, Watch
from bijmantra.testkit.event_fakes import FakeEventFeed

A, B = "org-a", "org-b"


def item(tenant: str, name: str) -> FeedItem:
    return FeedItem(name, tenant, "germplasm.created", name.encode())


@contextlib.asynccontextmanager
async def watching(
    hub: LiveHub, tenant: str, got: list[str], after: str | None = None
) -> AsyncIterator[Watch]:
    async with hub.watch(tenant, lambda i: got.append(i.event_id), after_event_id=after) as w:
        task = asyncio.create_task(w.run())
        await asyncio.sleep(0)
        try:
            yield w
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def settle() -> None:
    for _ in range(5):
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
        async with hub.watch(A, lambda _: None, after_event_id=str(uuid.uuid4())):
            pass
    assert feed.followers == 0


async def test_a_watch_that_fails_to_take_an_event_does_not_stop_the_others() -> None:
    feed = FakeEventFeed()
    hub = LiveHub(feed)

    def broken(_: FeedItem) -> None:
        raise RuntimeError("a socket's bug")

    seen: list[str] = []
    async with hub.watch(A, broken, after_event_id=None) as bad, watching(hub, A, seen):
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
