"""Resuming the live feed on a real JetStream: finding the resume point reads a bounded
part of the stream (ADR 0335); an ended follow leaves no consumer behind (ADR 0352)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections.abc import Callable

import pytest
from bijmantra.adapters.nats import JetStreamEventFeed, JetStreamPublisher
from bijmantra.adapters.nats.stream import EVENTS_STREAM, STREAM_CONFIG
from bijmantra.application.events import OutboxRecord
from bijmantra.kernel import NotFound, uuid7
from nats.js import JetStreamContext

pytestmark = pytest.mark.integration
WAIT = 30.0  # seconds before a consumer that stays counts as a failure (not a performance bound)


def uuid7_at(unix_ms: int) -> str:
    """A version-7 id naming ``unix_ms`` that no event has."""
    return str(uuid.UUID(int=(unix_ms << 80) | (0x7 << 76) | (0b10 << 62) | 12345))


def of(record: OutboxRecord) -> tuple[str, str]:
    """A resume point: the event's id and its organization."""
    return record.id, record.tenant_id


async def test_another_organizations_event_is_no_resume_point(
    js: JetStreamContext, probe: Callable[..., OutboxRecord]
) -> None:
    """A resume from another organization's event id was found (ADR 0378)."""
    record = probe()
    await JetStreamPublisher(js).publish_batch([record])
    feed = JetStreamEventFeed(js)
    assert await feed.position_of(*of(record)) > 0
    with pytest.raises(NotFound):
        await feed.position_of(record.id, str(uuid.uuid4()))


async def test_a_resume_point_naming_an_old_time_reads_a_bounded_part_of_the_stream(
    js: JetStreamContext, probe: Callable[..., OutboxRecord]
) -> None:
    event_type = f"probe.{uuid.uuid4().hex}"
    records = [probe(event_type) for _ in range(3000)]
    for start in range(0, len(records), 500):
        await JetStreamPublisher(js).publish_batch(records[start : start + 500])
    feed = JetStreamEventFeed(js, max_resume_scan=200)
    an_hour_ago = uuid7_at(int(time.time() * 1000) - 3_600_000)
    with pytest.raises(NotFound):
        await feed.position_of(an_hour_ago, records[0].tenant_id)
    # A real, recent resume point is found within a bound, and the feed goes on after it. The
    # scan starts 5 s (clock skew) before the event: a bound of 1,000 leaves room for what
    # other tests of the session published in those seconds (200 did not always).
    feed = JetStreamEventFeed(js, max_resume_scan=1_000)
    async with feed.follow(after=await feed.position_of(*of(records[50]))) as items:
        item = await anext(aiter(items))
    assert item.event_id == records[51].id
    # A replay ends where it was asked to, having read that far.
    start = await feed.position_of(*of(records[100]))
    end = await feed.position_of(*of(records[110]))
    async with feed.follow(after=start, through=end) as items:
        replayed = [i.event_id async for i in items]
    assert replayed == [r.id for r in records[101:111]]


async def test_a_resume_token_is_found_behind_another_organizations_burst_past_the_scan(
    js: JetStreamContext, probe: Callable[..., OutboxRecord]
) -> None:
    """Another organization's burst between an event's creation and its storage left the
    event beyond the scan's bound: the member's resume was "not found" (ADR 0384). A token's
    position is read directly, whatever was stored before it."""
    ours = probe()  # created now, stored after the burst (as an outbox row waits its turn)
    burst = [probe() for _ in range(600)]
    for start in range(0, len(burst), 300):
        await JetStreamPublisher(js).publish_batch(burst[start : start + 300])
    ours_next = dataclasses.replace(probe(), tenant_id=ours.tenant_id)
    await JetStreamPublisher(js).publish_batch([ours])
    position = await JetStreamEventFeed(js).last_position()
    await JetStreamPublisher(js).publish_batch([ours_next])
    feed = JetStreamEventFeed(js, max_resume_scan=200)
    with pytest.raises(NotFound):
        await feed.position_of(*of(ours))  # the scan's bound is spent on the burst
    assert await feed.position_of(*of(ours), at=position) == position
    async with feed.follow(after=position) as items:
        assert (await anext(aiter(items))).event_id == ours_next.id


async def test_a_resume_token_naming_another_organizations_event_or_position_is_unknown(
    js: JetStreamContext, probe: Callable[..., OutboxRecord]
) -> None:
    """A token is an id and a position; only the member's own event stored at that position
    resumes. Anything else is the "not found" of an unknown id, word for word."""
    theirs, ours = probe(), probe()
    await JetStreamPublisher(js).publish_batch([theirs])
    their_position = await JetStreamEventFeed(js).last_position()
    await JetStreamPublisher(js).publish_batch([ours])
    our_position = await JetStreamEventFeed(js).last_position()
    feed = JetStreamEventFeed(js)
    made_up = str(uuid7())
    with pytest.raises(NotFound) as unknown:
        await feed.position_of(made_up, ours.tenant_id, at=our_position)
    for event_id, at in (
        (theirs.id, their_position),  # another organization's event, its true position
        (ours.id, their_position),  # our id at another's position
        (ours.id, our_position - 2),
        (ours.id, our_position + 1),  # not stored yet
        (ours.id, 2**63 - 1),
    ):
        with pytest.raises(NotFound) as found:
            await feed.position_of(event_id, ours.tenant_id, at=at)
        assert str(found.value) == str(unknown.value).replace(made_up, event_id)
    assert await feed.position_of(ours.id, ours.tenant_id, at=our_position) == our_position


async def test_an_ended_follow_leaves_no_consumer_on_the_stream(js: JetStreamContext) -> None:
    """Each follow, each resume scan and each follow cancelled mid-stream (a socket that
    subscribes again) deletes its consumer: they lingered ~5 s, and one socket re-subscribing
    in a loop filled the stream's consumers within a second (ADR 0352)."""
    info = await js.stream_info(EVENTS_STREAM)
    assert info.config.max_consumers == STREAM_CONFIG.max_consumers == 10_000
    before = info.state.consumer_count
    feed = JetStreamEventFeed(js)
    last = await feed.last_position()
    for _ in range(20):
        async with feed.follow(after=last):
            pass
        async with feed.follow(after=last - 5, through=last) as items:
            assert len([i async for i in items]) <= 5
        with pytest.raises(NotFound):
            await feed.position_of(uuid7_at(int(time.time() * 1000) - 1000), str(uuid.uuid4()))

    async def pump() -> None:
        async with feed.follow(after=last) as items:
            async for _ in items:
                pass

    for _ in range(20):
        task = asyncio.create_task(pump())
        await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert (await js.stream_info(EVENTS_STREAM)).state.consumer_count == before


async def test_a_follow_cancelled_again_while_it_ends_leaves_no_consumer(
    js: JetStreamContext,
) -> None:
    """A socket's task may be cancelled twice: its pump by a new subscription and again by
    the socket's end, a watch's by the hub and the socket. A second cancellation that came
    while the follow was asking the server for its consumer stopped it before it
    unsubscribed, and the consumer stayed, delivering, as long as the worker ran (ADR 0379)."""
    before = (await js.stream_info(EVENTS_STREAM)).state.consumer_count
    feed = JetStreamEventFeed(js)
    last = await feed.last_position()
    following = asyncio.Event()

    async def pump() -> None:
        async with feed.follow(after=last) as items:
            following.set()
            async for _ in items:
                pass

    task = asyncio.create_task(pump())
    await following.wait()
    task.cancel()
    await asyncio.sleep(0)  # the follow is ending: waiting for the server's answer
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    for _ in range(int(WAIT / 0.1)):
        if (await js.stream_info(EVENTS_STREAM)).state.consumer_count == before:
            break
        await asyncio.sleep(0.1)
    assert (await js.stream_info(EVENTS_STREAM)).state.consumer_count == before
