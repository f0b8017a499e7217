"""``DeviceTelemetryBridge``: the device edge's telemetry streams into the ingestion use case,
acknowledged after each batch's transaction committed (ADR 0371).

A durable pull consumer on each organization's stream (ADR 0386; one per deployment, shared
by domain-api's replicas) fetches batches into a window bounded in bytes, one organization's
into at most half of it, so that another's backlog never keeps an organization's batches
out; organizations take turns in the window (ADR 0348) and one device's
batches commit in the order the stream holds them (``DeviceTurns``, ADR 0294). A batch is
acknowledged once stored, or once refused for good (its device revoked, a body that is no
batch): nothing retrying could change. A failure that might pass (PostgreSQL away) is
negatively acknowledged with a growing delay, and the device's batches behind it in the
window go back with it, so that they are not stored ahead of it. After ``max_deliver``
failures the batch is dead-lettered on the edge's stream, as the event consumers do (ADR
0367, 0370): ``bijmantra-deadletters --stream DEVICE_TELEMETRY`` lists and replays them.

Redelivery stores nothing twice: a batch is one transaction whose readings are inserted
with ``ON CONFLICT DO NOTHING`` semantics (ADR 0293).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from bijmantra.adapters.nats.consumer import dead_letter
from bijmantra.adapters.nats.device_stream import (
    DEVICE_DURABLE,
    DEVICE_REPLAY,
    DEVICE_STREAM,
    HEADER_ROOM,
    organization_stream,
    organizations_with_streams,
)
from bijmantra.adapters.nats.devices import MAX_PAYLOAD
from bijmantra.kernel import BijmantraError, TenantId, Unavailable
from bijmantra.observability import get_logger

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

log = get_logger(__name__)
# Bytes of batches fetched and not yet acknowledged in one replica: nats-py's default bound on
# a subscription's pending messages, which the plain subscription had (ADR 0348).
MAX_QUEUED_BYTES = 128 * 1024 * 1024
MAX_FETCH = 64  # batches asked for at once (fewer when the window has less room)
MAX_DELIVER = 5  # tries of a batch before it is dead-lettered
ACK_WAIT = 60.0  # seconds; waiting batches are kept in progress meanwhile
RETRY_DELAY = 0.5  # seconds between fetch attempts while the edge is away
DISCOVER_EVERY = 5.0  # seconds between looks for organizations' streams another replica made
LARGEST = MAX_PAYLOAD + HEADER_ROOM
# tenant, device, batch, and the batch's turn among its device's (held around its transaction)
Ingest = Callable[[TenantId, str, bytes, AbstractAsyncContextManager[None]], Awaitable[Any]]


class TurnForfeited(Exception):
    """A batch ahead of this one of the same device was sent back: this one goes back too."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"a batch ahead of this one will be tried again in {delay} s")
        self.delay = delay


class DeviceTurns:
    """Per device, the order its batches arrived in: each batch's transaction waits for the
    previous batch of the same device to finish, so a device's batches commit (and their
    events go out) in arrival order, while other devices' batches, and the decoding of
    this device's next ones, run meanwhile (ADR 0294)."""

    def __init__(self) -> None:
        self._last: dict[str, asyncio.Future[float | None]] = {}

    def reserve(self, device: str) -> DeviceTurn:
        """Take the next place in ``device``'s line (call in arrival order)."""
        done: asyncio.Future[float | None] = asyncio.get_running_loop().create_future()
        previous, self._last[device] = self._last.get(device), done
        return DeviceTurn(self._last, device, previous, done)


class DeviceTurn(AbstractAsyncContextManager[None]):
    """One batch's place in its device's line: ``async with`` waits for the batches ahead,
    and raises ``TurnForfeited`` when one of them was sent back to be tried again."""

    def __init__(
        self,
        lines: dict[str, asyncio.Future[float | None]],
        device: str,
        previous: asyncio.Future[float | None] | None,
        done: asyncio.Future[float | None],
    ) -> None:
        self._lines, self._device = lines, device
        self._previous, self._done = previous, done

    async def _ahead(self) -> float | None:
        """None when the batches ahead are done with; else the delay one was sent back for."""
        return None if self._previous is None else await asyncio.shield(self._previous)

    async def __aenter__(self) -> None:
        delay = await self._ahead()
        if delay is not None:
            raise TurnForfeited(delay)

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def finish(self, retry_in: float | None = None) -> None:
        """Let the next batch go, after the one ahead even if this batch never took its turn
        (refused before its transaction), so no batch overtakes another of its device.
        ``retry_in``: this batch was sent back, so the next ones go back too."""
        ahead = await self._ahead()
        self._done.set_result(ahead if ahead is not None else retry_in)
        if self._lines.get(self._device) is self._done:
            del self._lines[self._device]


def batch_subject(message: Msg) -> str:
    """The device topic a batch was published on (a replayed dead letter names it)."""
    if message.subject == DEVICE_REPLAY:
        return (message.headers or {}).get("Bijmantra-Original-Subject", "")
    return message.subject


def _retrying(error: Exception) -> bool:
    """A failure another try may not meet: anything but the use case's refusals of the batch
    itself (a revoked device, a body that is no batch, the day's quota), and not ``Unavailable``."""
    return isinstance(error, Unavailable) or not isinstance(error, BijmantraError | ValueError)


class DeviceTelemetryBridge:
    """Up to ``in_flight`` batches stored at once, from a window of at most ``max_queued``
    bytes fetched from the streams; each acknowledged after its transaction."""

    # What it takes from the shared stream (the batches themselves are in each organization's)
    SHARED_SUBJECTS: tuple[str, ...] = (DEVICE_REPLAY,)

    def __init__(
        self,
        js: JetStreamContext,
        ingest: Ingest,
        *,
        in_flight: int = 4,
        max_queued: int = MAX_QUEUED_BYTES,
        max_deliver: int = MAX_DELIVER,
        ack_wait: float = ACK_WAIT,
        discover_every: float = DISCOVER_EVERY,
    ) -> None:
        if max_queued < LARGEST:
            raise ValueError("the bridge's window must hold one batch")
        self._js, self._ingest = js, ingest
        self._in_flight, self._max_queued = in_flight, max_queued
        self._max_deliver, self._ack_wait = max_deliver, ack_wait
        self._discover_every = discover_every
        self._turns = DeviceTurns()
        self._lines: dict[str, deque[tuple[Msg, str, DeviceTurn]]] = {}
        self._ready: deque[str] = deque()  # organizations with batches waiting, in turn
        self._waiting = asyncio.Semaphore(0)  # one release per batch in a line
        self._held: dict[int, Msg] = {}  # fetched, not yet acknowledged (by id)
        self._held_bytes = 0
        self._held_per_stream: dict[str, int] = {}
        # one stream's part of the window: at least one batch, at most half
        self._stream_share = max(LARGEST, max_queued // 2)
        self._followed: set[str] = set()
        self._fetchers: list[asyncio.Task[None]] = []
        self._room = asyncio.Event()
        self._idle = asyncio.Event()  # nothing fetched is unacknowledged
        self._idle.set()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Create the durables, or update them to this configuration (the server keeps their
        place), then fetch and store: from every organization's stream, and the replays."""
        await self._follow(DEVICE_STREAM, list(self.SHARED_SUBJECTS))
        for tenant in await organizations_with_streams(self._js):
            await self.follow(tenant)
        self._tasks = [asyncio.create_task(self._runner()) for _ in range(self._in_flight)]
        self._tasks += [
            asyncio.create_task(self._keep_in_progress()),
            asyncio.create_task(self._discover()),
        ]

    async def follow(self, tenant: str) -> None:
        """Consume ``tenant``'s stream too (its first device was let in; once)."""
        await self._follow(organization_stream(tenant), None)

    async def _follow(self, stream: str, filters: list[str] | None) -> None:
        if stream in self._followed or self._stopping.is_set():
            return
        self._followed.add(stream)
        config = ConsumerConfig(
            durable_name=DEVICE_DURABLE,
            filter_subjects=filters,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            # One delivery more than tries: a batch whose last try's process died is
            # dead-lettered then, not dropped by the server unseen (ADR 0367).
            max_deliver=self._max_deliver + 1,
            ack_wait=self._ack_wait,
            max_ack_pending=10_000,
        )
        try:
            await self._js.add_consumer(stream, config)
            subscription = await self._js.pull_subscribe_bind(DEVICE_DURABLE, stream)
        except nats.errors.Error:
            self._followed.discard(stream)  # looked for again by ``_discover``
            raise
        # Fetchers of reclaimed streams have ended: keep the list to the ones running.
        self._fetchers = [fetcher for fetcher in self._fetchers if not fetcher.done()]
        self._fetchers.append(asyncio.create_task(self._fetch(stream, subscription, config)))

    async def _discover(self) -> None:
        """Follow the streams another replica made (its callout let a new organization in)."""
        while not self._stopping.is_set():
            await asyncio.sleep(self._discover_every)
            try:
                for tenant in await organizations_with_streams(self._js):
                    await self.follow(tenant)
            except nats.errors.Error:
                log.info("device streams not listed", exc_info=True)

    async def _fetch(
        self, stream: str, subscription: JetStreamContext.PullSubscription, durable: ConsumerConfig
    ) -> None:
        while not self._stopping.is_set():
            room = min(
                self._max_queued - self._held_bytes,
                self._stream_share - self._held_per_stream.get(stream, 0),
            )
            if room < LARGEST:
                self._room.clear()
                await self._room.wait()
                continue
            try:
                messages = await subscription.fetch(min(room // LARGEST, MAX_FETCH), timeout=1.0)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except nats.errors.Error:  # disconnected, reconnecting, JetStream not yet back
                if not await self._still_there(stream, durable):
                    self._followed.discard(stream)  # followed again when made again
                    break
                log.info("device telemetry waiting for the edge", exc_info=True)
                await asyncio.sleep(RETRY_DELAY)
                continue
            for message in messages:
                await self._admit(message)
        with contextlib.suppress(nats.errors.Error):
            await subscription.unsubscribe()

    async def _still_there(self, stream: str, durable: ConsumerConfig) -> bool:
        """After a failed fetch: False when the stream is gone (its organization's share was
        reclaimed, ADR 0386); when it was made again meanwhile, its durable is made again too
        (a pull names the durable, so this fetcher goes on)."""
        try:
            await self._js.consumer_info(stream, DEVICE_DURABLE)
        except NotFoundError:
            try:
                await self._js.add_consumer(stream, durable)
            except NotFoundError:
                return False
            except nats.errors.Error:  # the edge away: tried again after a pause
                pass
        except nats.errors.Error:
            pass
        return True

    async def _admit(self, message: Msg) -> None:
        subject = batch_subject(message)
        parts = subject.split(".")
        if len(parts) != 4:  # bijmantra.t.<organization>.<device>, or a replay naming none
            reason = "names no device topic"
            try:
                await dead_letter(self._js, DEVICE_DURABLE, message, 1, reason, "no_device")
            except nats.errors.Error:  # left unacknowledged: tried again after ack_wait
                log.warning("a batch naming no device was not set aside", exc_info=True)
            return
        organization = parts[2]
        self._held[id(message)] = message
        self._hold(message, len(message.data))
        self._idle.clear()
        line = self._lines.get(organization)
        if line is None:
            line = self._lines[organization] = deque()
            self._ready.append(organization)
        line.append((message, subject, self._turns.reserve(subject)))
        self._waiting.release()

    async def _runner(self) -> None:
        while True:
            await self._waiting.acquire()
            organization = self._ready.popleft()
            line = self._lines[organization]
            message, subject, turn = line.popleft()
            if line:
                self._ready.append(organization)  # its next batch after the others' turn
            else:
                del self._lines[organization]
            try:
                await self._run(message, subject, turn)
            finally:
                del self._held[id(message)]
                self._hold(message, -len(message.data))
                self._room.set()
                if not self._held:
                    self._idle.set()

    def _hold(self, message: Msg, size: int) -> None:
        stream = message.metadata.stream
        self._held_bytes += size
        self._held_per_stream[stream] = self._held_per_stream.get(stream, 0) + size

    async def _run(self, message: Msg, subject: str, turn: DeviceTurn) -> None:
        _, _, tenant, device = subject.split(".")
        deliveries = message.metadata.num_delivered or 1
        retry_in: float | None = None
        try:
            if deliveries > self._max_deliver:  # the last try's process died storing it
                await self._give_up(
                    message, deliveries, "its handler's process died", "process_died"
                )
                return
            try:
                await self._ingest(TenantId(uuid.UUID(tenant)), device, message.data, turn)
            except TurnForfeited as forfeited:
                retry_in = forfeited.delay
            except Exception as error:
                if not _retrying(error):
                    # The publisher is a device, not a caller: nothing to answer; keep why.
                    log.info("device batch refused", device=device, reason=str(error))
                elif deliveries >= self._max_deliver:
                    reason = f"handler failed: {type(error).__name__}: {error}"[:200]
                    await self._give_up(message, deliveries, reason, type(error).__name__)
                    return
                else:
                    log.warning("device batch failed", device=device, exc_info=True)
                    retry_in = min(2.0**deliveries, 30.0)
            if retry_in is None:
                await message.ack()
            else:
                await message.nak(delay=retry_in)
        except nats.errors.Error:  # the ack was lost: the batch comes again, harmlessly
            log.warning("device batch acknowledgement failed", device=device, exc_info=True)
        finally:
            await turn.finish(retry_in)

    async def _give_up(self, message: Msg, deliveries: int, reason: str, cause: str) -> None:
        log.error("device batch dead-lettered", subject=message.subject, reason=reason)
        sequence = message.metadata.sequence.stream if message.metadata.sequence else 0
        await dead_letter(
            self._js, DEVICE_DURABLE, message, deliveries, reason, cause, letter_id=str(sequence)
        )

    async def _keep_in_progress(self) -> None:
        """Every ``ack_wait / 3``, tell the server the fetched batches are in hand: waiting
        their turn behind slow transactions they would otherwise be delivered again."""
        while True:
            await asyncio.sleep(self._ack_wait / 3)
            for message in list(self._held.values()):
                try:
                    await message.in_progress()
                except Exception:  # connection blip: the next turn (or redelivery) covers it
                    log.warning("in-progress for a fetched batch failed", exc_info=True)
                    break

    async def finish(self) -> None:
        """Fetch no more, store and acknowledge what was fetched, then stop."""
        self._stopping.set()
        self._room.set()
        await asyncio.gather(*self._fetchers, return_exceptions=True)
        await self._idle.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
