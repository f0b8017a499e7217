"""Runs the outbox relay: woken by PostgreSQL NOTIFY, with a polling fallback."""

from __future__ import annotations

import asyncio
import contextlib

import psycopg

from bijmantra.application.events import OutboxRelay
from bijmantra.observability import get_logger

log = get_logger(__name__)
POLL_INTERVAL = 1.0  # seconds; NOTIFY normally wakes the relay long before this


async def run_relay(relay: OutboxRelay, listen_url: str, stop: asyncio.Event) -> None:
    wake = asyncio.Event()
    listener = asyncio.create_task(_listen(listen_url, wake, stop))
    try:
        while not stop.is_set():
            try:
                published = await relay.relay_once()
            except Exception:  # NATS or PostgreSQL away: keep rows, retry later
                log.warning("outbox relay pass failed; retrying", exc_info=True)
                published = 0
                await asyncio.sleep(POLL_INTERVAL)
            if published:
                continue  # drain backlog before sleeping
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), POLL_INTERVAL)
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


async def _listen(url: str, wake: asyncio.Event, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                await conn.execute("LISTEN bijmantra_outbox")
                async for _ in conn.notifies():
                    wake.set()
        except psycopg.Error:
            log.warning("outbox LISTEN connection lost; reconnecting", exc_info=True)
            await asyncio.sleep(POLL_INTERVAL)
