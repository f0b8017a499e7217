"""In-memory fakes of the event stream's subscriptions and of the audit trail.

``FakeEventSubscriptions`` keeps what each durable consumer would handle; a test delivers
an event with ``deliver`` exactly as the stream would (at least once, in order).
``FakeAuditStore`` builds the same hash chain as PostgreSQL, so ``VerifyAuditChain`` over
it checks the real rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC

from bijmantra.application.compliance.chain import AuditEntry, ChainHead, next_entry
from bijmantra.application.distribution.notifications import Claim, MailOutcome
from bijmantra.application.events import EventEnvelope, event_resources
from bijmantra.application.events.live_feed import FeedItem
from bijmantra.application.events.ports import ConsumerSpec, EventBatchHandler, EventHandler
from bijmantra.kernel import Clock, NotFound, Page, PageRequest, SystemClock, TenantId


@dataclass
class FakeEventConsumer:
    """One durable subscription: nothing runs; ``deliver`` hands it events."""

    durable: str
    filter_subjects: list[str]
    handler: EventHandler
    batch_handler: EventBatchHandler | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    stopped: bool = False

    async def run(self) -> None:
        self.ready.set()

    def stop(self) -> None:
        self.stopped = True

    async def sample_lag(self) -> None:
        return None


@dataclass
class FakeEventSubscriptions:
    """The ``EventSubscriptions`` port in memory: consumers by durable name."""

    consumers: dict[str, FakeEventConsumer] = field(default_factory=dict)

    def consumer(self, spec: ConsumerSpec) -> FakeEventConsumer:
        assert spec.durable not in self.consumers, f"two consumers share the durable {spec.durable}"
        made = FakeEventConsumer(
            spec.durable, list(spec.filter_subjects), spec.handler, spec.batch_handler
        )
        self.consumers[spec.durable] = made
        return made

    async def deliver(self, durable: str, *events: EventEnvelope) -> None:
        """Hand ``events`` to one consumer, one at a time, as the stream would."""
        for event in events:
            await self.consumers[durable].handler(event)


@dataclass
class FakeAuditStore:
    """The ``AuditStore`` port in memory: one hash chain per tenant, each event once per
    consumer."""

    clock: Clock = field(default_factory=SystemClock)
    chains: dict[str, list[tuple[AuditEntry, list[str]]]] = field(default_factory=dict)
    recorded: set[tuple[str, str]] = field(default_factory=set)  # (consumer, event id)

    async def append(self, consumer: str, event: EventEnvelope, envelope: bytes) -> bool:
        return await self.append_many(consumer, [(event, envelope)]) == 1

    async def append_many(
        self, consumer: str, events: Sequence[tuple[EventEnvelope, bytes]]
    ) -> int:
        appended = 0
        recorded_at = self.clock.now().astimezone(UTC)
        for event, envelope in events:
            if (consumer, event.id) in self.recorded:
                continue
            self.recorded.add((consumer, event.id))
            chain = self.chains.setdefault(event.tenant_id, [])
            head = ChainHead(chain[-1][0].position, chain[-1][0].hash) if chain else None
            chain.append((next_entry(head, event, envelope, recorded_at), event_resources(event)))
            appended += 1
        return appended

    def _chain(self, tenant_id: TenantId) -> list[tuple[AuditEntry, list[str]]]:
        return self.chains.get(str(tenant_id), [])

    async def page(
        self, tenant_id: TenantId, page: PageRequest, *, resource: str | None = None
    ) -> Page[AuditEntry]:
        about = [
            entry
            for entry, resources in self._chain(tenant_id)
            if resource is None or entry.subject == resource or resource in resources
        ]
        return Page(about[page.offset : page.offset + page.page_size], page, len(about))

    async def newest(self, tenant_id: TenantId, page: PageRequest) -> Page[AuditEntry]:
        chain = [entry for entry, _ in reversed(self._chain(tenant_id))]
        return Page(chain[page.offset : page.offset + page.page_size], page, len(chain))

    async def entries(self, tenant_id: TenantId, up_to: int) -> AsyncIterator[AuditEntry]:
        for entry, _ in self._chain(tenant_id):
            if entry.position <= up_to:
                yield entry

    async def head(self, tenant_id: TenantId) -> ChainHead | None:
        chain = self._chain(tenant_id)
        return ChainHead(chain[-1][0].position, chain[-1][0].hash) if chain else None


@dataclass
class FakeDocumentLookup:
    """The ``DocumentLookup`` port over a table of stored documents."""

    documents: dict[tuple[TenantId, str, str], bytes] = field(default_factory=dict)

    async def document_bytes(self, tenant_id: TenantId, entity: str, db_id: str) -> bytes | None:
        return self.documents.get((tenant_id, entity, db_id))


class FakeEventFeed:
    """The ``EventFeed`` port in memory: ``publish`` appends to the stream (positions 1, 2,
    …); a follower gets what was stored after its position, then every new event.
    ``followers`` counts the follows open now, as a NATS server counts consumers."""

    def __init__(self) -> None:
        self.items: list[FeedItem] = []
        self._followers: list[asyncio.Queue[FeedItem]] = []
        self.followers = 0

    def publish(self, item: FeedItem) -> None:
        item = dataclasses.replace(item, position=len(self.items) + 1)
        self.items.append(item)
        for queue in self._followers:
            queue.put_nowait(item)

    async def last_position(self) -> int:
        return len(self.items)

    async def next_position(self, after: int) -> int | None:
        return after + 1 if after < len(self.items) else None

    async def position_of(self, event_id: str, tenant_id: str, *, at: int | None = None) -> int:
        stored = self.items if at is None else self.items[at - 1 : at] if at > 0 else []
        for item in stored:
            if item.event_id == event_id and item.tenant_id == tenant_id:
                return item.position
        raise NotFound(f"Event {event_id} is not in the stream")

    @contextlib.asynccontextmanager
    async def follow(
        self, *, after: int, through: int | None = None
    ) -> AsyncIterator[AsyncIterator[FeedItem]]:
        queue: asyncio.Queue[FeedItem] = asyncio.Queue()
        for item in self.items[after:through]:
            queue.put_nowait(item)
        if through is None:
            self._followers.append(queue)
        self.followers += 1

        async def items() -> AsyncIterator[FeedItem]:
            while through is None or not queue.empty():
                item = await queue.get()
                yield dataclasses.replace(item, behind=len(self.items) - item.position)

        try:
            yield items()
        finally:
            self.followers -= 1
            if through is None:
                self._followers.remove(queue)


class QueueInbox:
    """A socket's bounded queue as the live hub sees it (``live_hub.Inbox``). ``write`` runs
    its sender: it takes what waits into ``sent``, as the gateway's sender takes frames; a
    socket whose ``write`` never runs never makes room. ``overflowed``: the hub closed it."""

    def __init__(self, limit: int = 1000) -> None:
        self.waiting: asyncio.Queue[FeedItem] = asyncio.Queue(limit)
        self.sent: list[FeedItem] = []
        self.overflowed = False
        self._taken = asyncio.Event()

    @property
    def sent_ids(self) -> list[str]:
        return [item.event_id for item in self.sent]

    def offer(self, item: FeedItem) -> bool:
        if self.waiting.full():
            return False
        self.waiting.put_nowait(item)
        return True

    async def room(self) -> None:
        while self.waiting.full():
            self._taken.clear()
            await self._taken.wait()

    def overflow(self) -> None:
        self.overflowed = True

    async def write(self, pause: float = 0.0) -> None:
        """Take what waits, one event each ``pause`` seconds (0: all at once)."""
        while True:
            if pause:
                await asyncio.sleep(pause)
            self.sent.append(await self.waiting.get())
            self._taken.set()

    async def until_sent(self, event_id: str) -> None:
        while event_id not in self.sent_ids:
            self._taken.clear()
            await self._taken.wait()


@dataclass
class FakeDeliveryLedger:
    """The ``DeliveryLedger`` port in memory: a claim is recorded, with the outcome its block
    set, only when its block ends without an exception, so a failed send is retried and a
    redelivery is skipped (and reads the outcome back)."""

    claimed: set[tuple[str, str]] = field(default_factory=set)  # (consumer, event id)
    # (consumer, organization) -> claims recorded (the fake's "today" is its whole life)
    handled: dict[tuple[str, str], int] = field(default_factory=dict)
    outcomes: dict[str, MailOutcome] = field(default_factory=dict)  # event id -> outcome
    tries: dict[str, int] = field(default_factory=dict)  # event id -> deliveries begun

    @contextlib.asynccontextmanager
    async def claim(self, consumer: str, envelope: EventEnvelope) -> AsyncIterator[Claim]:
        key, day = (consumer, envelope.id), (consumer, envelope.tenant_id)
        fresh = key not in self.claimed
        kept = None if fresh else self.outcomes.get(envelope.id)
        claim = Claim(fresh, self.handled.get(day, 0), self.tries.get(envelope.id, 0), kept)
        yield claim
        if fresh:
            self.claimed.add(key)
            self.handled[day] = self.handled.get(day, 0) + 1
            if claim.outcome is not None:
                self.outcomes[envelope.id] = claim.outcome

    async def began_try(self, consumer: str, envelope: EventEnvelope) -> None:
        self.tries[envelope.id] = self.tries.get(envelope.id, 0) + 1


__all__ = [
    "FakeAuditStore",
    "FakeDeliveryLedger",
    "FakeDocumentLookup",
    "FakeEventConsumer",
    "FakeEventFeed",
    "FakeEventSubscriptions",
    "QueueInbox",
]
