"""A dead letter is listed and replayed to the consumer that failed it, and to no other (ADR 0370).

ADRs 0363 and 0367 tell operators to replay a dead letter; nothing could: republishing to the
original subject hands the event to every consumer again. Real NATS: two durables follow the
same event; one fails until "fixed", its dead letter is listed, replayed (handled once, by it
alone), and a second replay of the same dead letter changes nothing. Then the CLI."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable

import pytest
from bijmantra.adapters.nats import DurableConsumer, JetStreamPublisher
from bijmantra.adapters.nats.deadletter_cli import main
from bijmantra.adapters.nats.deadletters import DeadLetter, Refused, list_dead_letters, replay
from bijmantra.adapters.nats.stream import EVENTS_STREAM
from bijmantra.application.events import EventEnvelope, OutboxRecord
from bijmantra.application.events.ports import ConsumerSpec
from nats.js import JetStreamContext

pytestmark = pytest.mark.integration


async def until(check: Callable[[], bool], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def dead_letters(js: JetStreamContext, durable: str, count: int) -> list[DeadLetter]:
    deadline = asyncio.get_running_loop().time() + 10.0
    found = await list_dead_letters(js, durable)
    while len(found) < count and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
        found = await list_dead_letters(js, durable)
    return found


async def test_a_dead_letter_is_replayed_to_its_consumer_alone_and_once(
    js: JetStreamContext,
    nats_url: str,
    probe: Callable[..., OutboxRecord],
    capsys: pytest.CaptureFixture[str],
) -> None:
    record = probe()
    subject = f"bijmantra.events.{record.type}"
    failing, other = f"test-{uuid.uuid4().hex[:8]}", f"test-{uuid.uuid4().hex[:8]}"
    fixed = False
    handled: list[EventEnvelope] = []
    seen_by_other: list[str] = []

    async def fails_until_fixed(e: EventEnvelope) -> None:
        if not fixed:
            raise RuntimeError("partner mail server refused")
        handled.append(e)

    async def other_handler(e: EventEnvelope) -> None:
        seen_by_other.append(e.id)

    consumers = [
        DurableConsumer(js, ConsumerSpec(failing, [subject], fails_until_fixed), max_deliver=1),
        DurableConsumer(js, ConsumerSpec(other, [subject], other_handler), max_deliver=1),
    ]
    tasks = [asyncio.create_task(c.run()) for c in consumers]
    try:
        for c in consumers:
            await c.ready.wait()
        await JetStreamPublisher(js).publish_batch([record])
        [letter] = await dead_letters(js, failing, 1)
        assert letter.event_id == record.id
        assert letter.event_type == record.type
        assert letter.original_subject == subject
        assert letter.organization == str(record.tenant_id)
        assert letter.reason.startswith("handler failed: RuntimeError: partner mail")
        assert letter.deliveries == "1"
        assert seen_by_other == [record.id]

        fixed = True
        first = await replay(js, failing, letter.sequence)
        assert not first.duplicate
        await until(lambda: len(handled) == 1)
        assert handled[0].id == record.id
        assert handled[0].type == record.type  # decoded exactly as the original
        assert await list_dead_letters(js, failing) == []  # removed once replayed

        with pytest.raises(Refused, match="no message"):
            await replay(js, failing, letter.sequence)
        # A second operator who read the dead letter before it was deleted: a no-op.
        again = await js.publish(
            f"bijmantra.replay.{failing}",
            b"{}",
            headers={"Nats-Msg-Id": f"replay:{failing}:{letter.sequence}"},
        )
        assert again.duplicate
        await asyncio.sleep(1.0)
        assert len(handled) == 1
        assert seen_by_other == [record.id]  # the other consumer never saw the replay

        # Refusals, through the CLI: exit 2 and a reason.
        for argv, reason in [
            (["replay", f"nobody-{uuid.uuid4().hex[:6]}", "--seq", "1"], "unknown consumer"),
            (["replay", failing, "--seq", str(letter.sequence)], "no message"),
            (["replay", failing, "--seq", str(first.replay_sequence)], "not a dead letter"),
            (["list", f"nobody-{uuid.uuid4().hex[:6]}"], "unknown consumer"),
        ]:
            with pytest.raises(SystemExit) as exit_:
                await asyncio.to_thread(main, ["--nats-url", nats_url, *argv])
            assert exit_.value.code == 2, argv
            assert reason in capsys.readouterr().err, argv
    finally:
        for c in consumers:
            c.stop()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_the_cli_lists_in_pages_and_replays_all(
    js: JetStreamContext,
    nats_url: str,
    probe: Callable[..., OutboxRecord],
    capsys: pytest.CaptureFixture[str],
) -> None:
    records = [probe() for _ in range(3)]
    durable = f"test-{uuid.uuid4().hex[:8]}"
    handled: list[str] = []
    fixed = False

    async def handler(e: EventEnvelope) -> None:
        if not fixed:
            raise RuntimeError("down")
        handled.append(e.id)

    subjects = [f"bijmantra.events.{r.type}" for r in records]
    consumer = DurableConsumer(js, ConsumerSpec(durable, subjects, handler), max_deliver=1)
    task = asyncio.create_task(consumer.run())
    try:
        await consumer.ready.wait()
        await JetStreamPublisher(js).publish_batch(records)
        assert len(await dead_letters(js, durable, 3)) == 3
        cli = ["--nats-url", nats_url]

        await asyncio.to_thread(main, [*cli, "list", durable, "--limit", "2"])
        page = json.loads(capsys.readouterr().out)
        assert [d["event_id"] for d in page["dead_letters"]] == [r.id for r in records[:2]]
        await asyncio.to_thread(
            main, [*cli, "list", durable, "--after", str(page["next_after"]), "--limit", "2"]
        )
        rest = json.loads(capsys.readouterr().out)
        assert [d["event_id"] for d in rest["dead_letters"]] == [records[2].id]
        assert rest["next_after"] is None

        fixed = True
        await asyncio.to_thread(main, [*cli, "replay", durable, "--all"])
        assert len(json.loads(capsys.readouterr().out)["replayed"]) == 3
        await until(lambda: sorted(handled) == sorted(r.id for r in records))
        info = await js.stream_info(EVENTS_STREAM)
        assert info.state.messages > 0
        assert await list_dead_letters(js, durable) == []
    finally:
        consumer.stop()
        await task


async def test_a_replay_that_fails_again_is_a_new_dead_letter(
    js: JetStreamContext, probe: Callable[..., OutboxRecord]
) -> None:
    """Its dead letter's Nats-Msg-Id was the first one's: the dedupe window dropped it."""
    record = probe()
    subject = f"bijmantra.events.{record.type}"
    durable = f"test-{uuid.uuid4().hex[:8]}"
    tries: list[str] = []

    async def still_broken(e: EventEnvelope) -> None:
        tries.append(e.id)
        raise ValueError("still broken")

    consumer = DurableConsumer(js, ConsumerSpec(durable, [subject], still_broken), max_deliver=1)
    task = asyncio.create_task(consumer.run())
    try:
        await consumer.ready.wait()
        await JetStreamPublisher(js).publish_batch([record])
        [first] = await dead_letters(js, durable, 1)
        await replay(js, durable, first.sequence)
        await until(lambda: len(tries) == 2)
        [second] = await dead_letters(js, durable, 1)
        assert second.sequence > first.sequence
        assert second.event_id == record.id
        assert second.original_subject == subject  # not the replay subject
        assert second.reason == "handler failed: ValueError: still broken"
    finally:
        consumer.stop()
        await task


def test_the_cli_says_when_nats_cannot_be_reached(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--nats-url", "nats://127.0.0.1:1", "list", "distribution-mail"])
    assert exit_.value.code == 1
    assert "NATS at nats://127.0.0.1:1" in capsys.readouterr().err
