"""Runs an outbox relay: woken by NOTIFY on the outbox's channel, with a polling fallback.

Shared by every service that owns an outbox (domain-api: ``bijmantra_outbox``; identity:
``bijmantra_outbox_identity``). Writers send the NOTIFY after they commit
(``OutboxWakeups``), never inside the writing transaction."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta

import psycopg
import psycopg.sql
from bijmantra.adapters.postgres.outbox import PostgresOutboxStore
from bijmantra.application.events import OutboxRelay

log = logging.getLogger(__name__)
RECONNECT_DELAY = 1.0  # seconds between LISTEN reconnection attempts
# How long one of the relay's own sessions may stay away before it is worth a warning: a
# server restart or failover ends them, and they come back with the server (ADR 0346).
QUIET_RECONNECT = 30.0
# Published rows are kept this long (far beyond the stream's duplicate window), then purged.
PUBLISHED_RETENTION = timedelta(days=1)
PURGE_INTERVAL = 600.0  # seconds


async def run_relay(
    relay: OutboxRelay,
    listen_url: str,
    stop: asyncio.Event,
    *,
    channel: str = "bijmantra_outbox",
    purge: PostgresOutboxStore | None = None,
) -> None:
    """Relay until ``stop``; with ``purge``, also delete long-published rows now and then."""
    wake = asyncio.Event()
    helpers = [asyncio.create_task(listen(listen_url, channel, wake, stop))]
    if purge is not None:
        helpers.append(asyncio.create_task(_purge(purge, stop)))
    try:
        await relay.run(wake, stop)
    finally:
        for task in helpers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class _Session:
    """One of the relay's own sessions (LISTEN, NOTIFY), which a server restart ends.

    A session that had been up a while reconnects at once, as a unit of work's first
    statement does on a fresh connection (ADR 0341); a reconnection that fails waits
    ``RECONNECT_DELAY`` before the next. Being away is logged as info; only a session away
    longer than a restart takes (``QUIET_RECONNECT``) is a warning (ADR 0346)."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._up_since: float | None = None
        self._away_since: float | None = None

    def up(self) -> None:
        self._up_since, self._away_since = time.monotonic(), None

    async def down(self) -> None:
        """Called in the ``except`` block of the session's failure."""
        now = time.monotonic()
        at_once = self._up_since is not None and now - self._up_since >= RECONNECT_DELAY
        self._up_since = None
        if self._away_since is None:
            self._away_since = now
            log.info("%s session ended; reconnecting", self._what)
        elif now - self._away_since > QUIET_RECONNECT:
            log.warning(
                "%s session away for %.0f s; reconnecting",
                self._what,
                now - self._away_since,
                exc_info=True,
            )
        if not at_once:
            await asyncio.sleep(RECONNECT_DELAY)


async def listen(url: str, channel: str, wake: asyncio.Event, stop: asyncio.Event) -> None:
    """Set ``wake`` on each NOTIFY on ``channel``; reconnect until ``stop``.

    Polling covers the gaps while disconnected."""
    session = _Session(f"LISTEN {channel}")
    while not stop.is_set():
        try:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                await conn.execute(
                    psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(channel))
                )
                session.up()
                wake.set()  # anything committed while we were away
                async for _ in conn.notifies():
                    wake.set()
        except psycopg.Error:
            await session.down()


class OutboxWakeups:
    """Wakes the relays after a commit: a NOTIFY sent outside the writing transaction.

    A NOTIFY inside the writing transaction serialises every writer's commit, WAL flush
    included: PostgreSQL holds a database-wide lock from a notifying transaction's
    pre-commit to the end of its commit. That capped single-event writes at ~300 commits/s
    on a 2-core host. Here a writer only raises a flag after its commit; one connection
    sends a NOTIFY whenever the flag is up, so commits arriving while one NOTIFY is in
    flight share the next. Its commits are asynchronous (``synchronous_commit = off``): a
    lost wake-up only delays the relay to its next poll, it never loses an event.
    """

    def __init__(self, url: str, channel: str) -> None:
        self._url, self._channel = url, channel
        self._pending = asyncio.Event()

    def wake(self) -> None:
        """Called after a commit that wrote outbox rows."""
        self._pending.set()

    async def run(self, stop: asyncio.Event) -> None:
        notify = psycopg.sql.SQL("NOTIFY {}").format(psycopg.sql.Identifier(self._channel))
        session = _Session(f"NOTIFY {self._channel}")
        while not stop.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True
                ) as conn:
                    await conn.execute("SET synchronous_commit = off")
                    session.up()
                    while not stop.is_set():
                        await self._pending.wait()
                        self._pending.clear()
                        try:
                            await conn.execute(notify)
                        except psycopg.Error:
                            self._pending.set()  # not sent: sent on the next session
                            raise
            except psycopg.Error:
                await session.down()


async def _purge(store: PostgresOutboxStore, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            if purged := await store.purge_published(PUBLISHED_RETENTION):
                log.info("purged %s published outbox rows", purged)
        except Exception:
            log.warning("outbox purge failed", exc_info=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), PURGE_INTERVAL)
