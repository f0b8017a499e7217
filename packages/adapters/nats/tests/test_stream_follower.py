"""Resuming the live feed on a real JetStream: finding the resume point reads a bounded
part of the stream (ADR 0335)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from bijmantra.adapters.nats import JetStreamEventFeed, JetStreamPublisher
from bijmantra.application.events import OutboxRecord
from bijmantra.kernel import NotFound
from nats.js import JetStreamContext

pytestmark = pytest.mark.integration


def uuid7_at(unix_ms: int) -> str:
    """A version-7 id naming ``unix_ms`` that no event has."""
    return str(uuid.UUID(int=(unix_ms << 80) | (0x7 << 76) | (0b10 << 62) | 12345))


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
        async with feed.follow(after_event_id=an_hour_ago):
            pass
    # A real, recent resume point is found within the bound, and the feed goes on after it.
    async with feed.follow(after_event_id=records[50].id) as items:
        item = await anext(aiter(items))
    assert item.event_id == records[51].id
