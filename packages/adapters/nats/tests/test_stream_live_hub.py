"""The worker's live hub on a real JetStream (ADR 0375): a burst is not a slow socket, a
socket that makes no room is, and a resuming watch joins the follower where the stream's
positions say, never after a silence."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from bijmantra.adapters.nats import JetStreamEventFeed, JetStreamPublisher
from bijmantra.adapters.nats.stream import DEAD_LETTER_PREFIX, EVENTS_STREAM
from bijmantra.application.events import OutboxRecord
from bijmantra.application.events.live_feed import FeedItem
from bijmantra.application.events.live_hub import LiveHub, Watch
from bijmantra.testkit.event_fakes import QueueInbox
from nats.js import JetStreamContext

pytestmark = pytest.mark.integration
WAIT = 30.0  # seconds before a missing event counts as a failure (not a performance bound)


@contextlib.asynccontextmanager
async def running(watch: Watch, inbox: QueueInbox) -> AsyncIterator[asyncio.Task[None]]:
    """The watch's run and its socket's sender, cancelled at the end."""
    tasks = [asyncio.create_task(watch.run()), asyncio.create_task(inbox.write())]
    try:
        yield tasks[0]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)


async def until_sent(inbox: QueueInbox, event_id: str, run: asyncio.Task[None]) -> None:
    sent = asyncio.ensure_future(inbox.until_sent(event_id))
    await asyncio.wait([sent, run], timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
    sent.cancel()
    assert not run.done(), run  # a resume that gave up (``Unavailable``) fails here
    assert event_id in inbox.sent_ids


async def test_a_resume_with_no_event_stored_after_it_joins_at_the_recorded_sequence(
    js: JetStreamContext, probe: Callable[..., OutboxRecord]
) -> None:
    """The stream's last message is a dead letter, which the feed does not follow: the replay
    of the old code received nothing and ended after 5 s of silence. Now the watch knows from
    the stream's positions that nothing is to be replayed and is live before it runs."""
    tenant = str(uuid.uuid4())
    records = [dataclasses.replace(probe(), tenant_id=tenant) for _ in range(3)]
    await JetStreamPublisher(js).publish_batch(records)
    await js.publish(f"{DEAD_LETTER_PREFIX}.live-hub-test", b"{}")
    feed = JetStreamEventFeed(js)
    recorded = await feed.last_position()
    hub = LiveHub(feed)
    inbox = QueueInbox()
    async with hub.watch(tenant, inbox, after_event_id=records[-1].id) as watch:
        assert watch.live  # the old code had not joined: its replay was still to run
        assert watch.joined_at == recorded
        later = dataclasses.replace(probe(), tenant_id=tenant)
        async with running(watch, inbox) as run:
            await JetStreamPublisher(js).publish_batch([later])
            await until_sent(inbox, later.id, run)
    assert inbox.sent_ids == [later.id]
    await hub.close()


async def test_a_resume_while_events_keep_arriving_misses_none_and_repeats_none(
    js: JetStreamContext, probe: Callable[..., OutboxRecord]
) -> None:
    """Events of two organizations arrive the whole time a watch resumes. The old code
    replayed round after round, each up to the follower's position when it began, and gave
    up after 10 (``Unavailable``) whenever an event arrived during every one of them."""
    ours, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    publisher = JetStreamPublisher(js)
    published: list[OutboxRecord] = []
    underway = asyncio.Event()

    async def publish(count: int) -> None:
        for n in range(count):
            record = dataclasses.replace(probe(), tenant_id=ours if n % 3 else theirs)
            await publisher.publish_batch([record])
            published.append(record)
            if n == 30:
                underway.set()

    feed = JetStreamEventFeed(js)
    hub = LiveHub(feed)
    following, resumed = QueueInbox(), QueueInbox()
    async with (
        hub.watch(ours, following, after_event_id=None) as first,
        running(first, following) as first_run,
    ):
        await publish(60)
        underway.clear()
        resume_point = next(r for r in reversed(published[:30]) if r.tenant_id == ours)
        arriving = asyncio.create_task(publish(600))
        await underway.wait()  # the resume begins while events arrive
        async with (
            hub.watch(ours, resumed, after_event_id=resume_point.id) as second,
            running(second, resumed) as second_run,
        ):
            await arriving
            last = published[-1] if published[-1].tenant_id == ours else published[-2]
            await until_sent(resumed, last.id, second_run)
            await until_sent(following, last.id, first_run)
    ids = [r.id for r in published if r.tenant_id == ours]
    assert resumed.sent_ids == ids[ids.index(resume_point.id) + 1 :]
    assert following.sent_ids == ids
    assert not resumed.overflowed
    assert not following.overflowed
    await hub.close()


async def test_a_burst_reaches_a_prompt_socket_while_one_that_never_reads_is_closed(
    js: JetStreamContext, probe: Callable[..., OutboxRecord]
) -> None:
    """Three queues' worth stored at once: the old follower handed the whole burst out
    before any sender ran, and closed the prompt socket with the stalled one."""
    tenant = str(uuid.uuid4())
    hub = LiveHub(JetStreamEventFeed(js))
    prompt, stalled = QueueInbox(limit=20), QueueInbox(limit=20)
    burst = [dataclasses.replace(probe(), tenant_id=tenant) for _ in range(60)]
    async with (
        hub.watch(tenant, prompt, after_event_id=None) as reading,
        hub.watch(tenant, stalled, after_event_id=None) as stuck,
        running(reading, prompt) as run,
    ):
        stuck_run = asyncio.create_task(stuck.run())  # its sender never runs
        await JetStreamPublisher(js).publish_batch(burst)  # all sent, then acked
        await until_sent(prompt, burst[-1].id, run)
        stuck_run.cancel()
    assert prompt.sent_ids == [r.id for r in burst]
    assert not prompt.overflowed
    assert stalled.overflowed  # the gateway closes it 4413
    assert stalled.waiting.qsize() == 20  # and it holds no more than its queue
    await hub.close()


class _OnFirstAsk(JetStreamEventFeed):
    """The real feed, calling ``on_first_ask`` when a follower first asks it for an event:
    just after the follower reported itself open, before whoever started it has resumed."""

    def __init__(self, js: JetStreamContext, on_first_ask: Callable[[], object]) -> None:
        super().__init__(js)
        self._on_first_ask = on_first_ask

    @contextlib.asynccontextmanager
    async def follow(
        self, *, after: int, through: int | None = None
    ) -> AsyncIterator[AsyncIterator[FeedItem]]:
        async with super().follow(after=after, through=through) as items:
            yield self._asked(items)

    async def _asked(self, items: AsyncIterator[FeedItem]) -> AsyncIterator[FeedItem]:
        self._on_first_ask()
        async for item in items:
            yield item


async def test_a_socket_gone_while_its_watch_started_the_follower_leaves_no_consumer(
    js: JetStreamContext,
) -> None:
    """The first socket of a worker went (its task cancelled) just as the follower it started
    was open: the hub never took the follower, no watch would stop it, and its consumer
    followed the stream as long as the worker ran (ADR 0379)."""
    before = (await js.stream_info(EVENTS_STREAM)).state.consumer_count
    watching: asyncio.Task[None] | None = None

    def the_socket_goes() -> None:
        assert watching is not None
        watching.cancel()

    hub = LiveHub(_OnFirstAsk(js, the_socket_goes))

    async def watch() -> None:
        async with hub.watch(str(uuid.uuid4()), QueueInbox(), after_event_id=None) as w:
            await w.run()

    watching = asyncio.create_task(watch())
    with contextlib.suppress(asyncio.CancelledError):
        await watching
    assert not hub.following
    for _ in range(int(WAIT / 0.1)):
        if (await js.stream_info(EVENTS_STREAM)).state.consumer_count == before:
            break
        await asyncio.sleep(0.1)
    assert (await js.stream_info(EVENTS_STREAM)).state.consumer_count == before
    await hub.close()
