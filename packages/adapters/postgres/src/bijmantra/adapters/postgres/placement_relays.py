"""An outbox relay for every dedicated database (ADR 0102).

Each placement has its own outbox, written in the same transaction as its data. The shared
database's relay is the service's own (``run_relay``); this module runs one more per
dedicated database listed in the directory, joining new ones as they are registered, each
woken by NOTIFY on its own database after a commit there, with the polling fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from bijmantra.adapters.postgres.ddl import outbox_channel
from bijmantra.adapters.postgres.engine import libpq_url
from bijmantra.adapters.postgres.outbox import PostgresOutboxStore
from bijmantra.adapters.postgres.placement import PlacementEngines, placement_url
from bijmantra.adapters.postgres.relay_loop import OutboxWakeups, run_relay
from bijmantra.application.events import OutboxRelay
from bijmantra.application.events.ports import EventPublisher
from bijmantra.domain.tenancy.placement import PlacementDatabase

log = logging.getLogger(__name__)
DIRECTORY_POLL_SECONDS = 10.0  # how soon a newly registered database gets its relay


@dataclass
class _Running:
    wakeups: OutboxWakeups
    store: PostgresOutboxStore
    tasks: list[asyncio.Task[None]]


class PlacementRelays:
    """Relays (and NOTIFY senders) of the dedicated databases, started on discovery."""

    def __init__(
        self,
        placements: PlacementEngines,
        publisher: EventPublisher,
        service_url: str,
        *,
        schema: str = "domain",
        directory_poll: float = DIRECTORY_POLL_SECONDS,
    ) -> None:
        self._placements = placements
        self._publisher = publisher
        self._service_url = service_url
        self._channel = outbox_channel(schema)
        self._schema = schema
        self._poll = directory_poll
        self._running: dict[PlacementDatabase, _Running] = {}

    def wake(self, database: PlacementDatabase) -> None:
        """After a commit that wrote events in ``database`` (the unit of work's hook)."""
        if (running := self._running.get(database)) is not None:
            running.wakeups.wake()

    def _start(self, database: PlacementDatabase, stop: asyncio.Event) -> None:
        url = libpq_url(placement_url(self._service_url, database))
        store = PostgresOutboxStore(self._placements.engine_of(database), schema=self._schema)
        wakeups = OutboxWakeups(url, self._channel)
        relay = OutboxRelay(store, self._publisher)
        tasks = [
            asyncio.create_task(wakeups.run(stop)),
            asyncio.create_task(run_relay(relay, url, stop, channel=self._channel, purge=store)),
        ]
        self._running[database] = _Running(wakeups, store, tasks)
        log.info("outbox relay started for placement %s", database.name)

    async def run(self, stop: asyncio.Event) -> None:
        """Start a relay per dedicated database until ``stop``; look for new ones now and then."""
        try:
            while not stop.is_set():
                try:
                    for database in await self._placements.placements():
                        if database is not None and database not in self._running:
                            self._start(database, stop)
                except Exception:
                    log.warning("placement directory unreadable; relays unchanged", exc_info=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._poll)
        finally:
            tasks = [t for running in self._running.values() for t in running.tasks]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def pending(self) -> tuple[int, float]:
        """Events waiting in every dedicated outbox, and the oldest one's age in seconds."""
        count, oldest = 0, 0.0
        for running in list(self._running.values()):
            waiting, age = await running.store.pending()
            count, oldest = count + waiting, max(oldest, age)
        return count, oldest
