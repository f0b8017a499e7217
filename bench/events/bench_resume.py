"""Finding a live-feed resume point (ADR 0384): a ``resumeAfter`` token (one stream message
read by its position) against an event id alone (``resumeFrom``: a scan of every
organization's headers from 5 s before the event), on the same stream in the same run.

For each N in ``BENCH_RESUME_SIZES`` (default 1,000, 10,000, 49,000) the stream is purged,
the member's event is created, N events of another organization are published (its import,
while the member's event waited in the outbox), then the member's event. Both ways resolve
the same event in interleaved rounds (``BENCH_ROUNDS``, default 5; median), against a
nats-server of the bench's own. Writes ``bench/results/live_resume.json``.

    uv run python -m bench.events.bench_resume
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bijmantra.adapters.nats import JetStreamEventFeed, JetStreamPublisher
from bijmantra.adapters.nats.stream import EVENTS_STREAM, connect, ensure_stream
from bijmantra.adapters.nats.stream_follower import MAX_RESUME_SCAN
from bijmantra.application.events import OutboxRecord
from bijmantra.kernel import uuid7
from bijmantra.testkit.servers import LocalNats
from nats.js import JetStreamContext

from bench.schema.bench_schema import write_result

SIZES = [int(n) for n in os.environ.get("BENCH_RESUME_SIZES", "1000,10000,49000").split(",")]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
CHUNK = 1000  # events per published batch
PAYLOAD = b'{"type":"germplasm.updated","data":{"padding":"' + b"x" * 560 + b'"}}'


def event(tenant_id: str) -> OutboxRecord:
    """An event as the relay publishes it (the scan reads headers; its payload is ~600 B)."""
    return OutboxRecord(str(uuid7()), "germplasm.updated", tenant_id, PAYLOAD)


async def stored_behind(js: JetStreamContext, others: int) -> tuple[OutboxRecord, int]:
    """The member's event, stored after ``others`` of another organization's, and where."""
    await js.purge_stream(EVENTS_STREAM)
    ours, theirs = event(str(uuid.uuid4())), str(uuid.uuid4())
    publisher = JetStreamPublisher(js)
    for start in range(0, others, CHUNK):
        await publisher.publish_batch(
            [event(theirs) for _ in range(start, min(start + CHUNK, others))]
        )
    await publisher.publish_batch([ours])
    return ours, int((await js.stream_info(EVENTS_STREAM)).state.last_seq)


async def timed(lookup: Any) -> float:
    started = time.perf_counter()
    await lookup
    return time.perf_counter() - started


async def measure(js: JetStreamContext, others: int) -> dict[str, Any]:
    ours, position = await stored_behind(js, others)
    # A bound the scan cannot reach here, so it is timed finding the event, not giving up.
    feed = JetStreamEventFeed(js, max_resume_scan=others + MAX_RESUME_SCAN)
    times: dict[str, list[float]] = {"scan": [], "token": []}
    for round_ in range(ROUNDS + 1):  # the first round warms up, uncounted
        scan = await timed(feed.position_of(ours.id, ours.tenant_id))
        token = await timed(feed.position_of(ours.id, ours.tenant_id, at=position))
        if round_:
            times["scan"].append(scan)
            times["token"].append(token)
    assert await feed.position_of(ours.id, ours.tenant_id) == position
    scan_ms, token_ms = (statistics.median(times[way]) * 1000 for way in ("scan", "token"))
    print(f"  {others:>7} other events: scan {scan_ms:9.2f} ms, token {token_ms:6.3f} ms")
    return {
        "other_events_before": others,
        "scan_ms": round(scan_ms, 3),
        "token_ms": round(token_ms, 3),
        "ratio_token_to_scan": round(token_ms / scan_ms, 5),
    }


async def run(url: str) -> list[dict[str, Any]]:
    nc = await connect(url, name="bench-resume")
    try:
        js = nc.jetstream()
        await ensure_stream(js)
        return [await measure(js, others) for others in SIZES]
    finally:
        await nc.close()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-resume-") as work:
        server = LocalNats(Path(work) / "nats")
        url = server.start()
        try:
            results = asyncio.run(run(url))
        finally:
            server.stop()
    write_result(
        "live_resume.json",
        {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average": os.getloadavg()[0],
            "rounds": ROUNDS,
            "baseline": "resumeFrom's header scan (an event id alone), same stream, same run",
            "resume": results,
        },
    )


if __name__ == "__main__":
    main()
