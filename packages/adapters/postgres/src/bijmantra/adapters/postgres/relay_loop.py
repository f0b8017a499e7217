"""Runs an outbox relay: woken by NOTIFY on the outbox's channel, with a polling fallback.

Shared by every service that owns an outbox (domain-api: ``bijmantra_outbox``; identity:
``bijmantra_outbox_identity``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg
import psycopg.sql
from bijmantra.application.events import OutboxRelay

log = logging.getLogger(__name__)
POLL_INTERVAL = 1.0  # seconds; NOTIFY normally wakes the relay long before this


async def run_relay(
    relay: OutboxRelay, listen_url: str, stop: asyncio.Event, *, channel: str = "bijmantra_outbox"
) -> None:
    wake = asyncio.Event()
    listener = asyncio.create_task(_listen(listen_url, channel, wake, stop))
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


async def _listen(url: str, channel: str, wake: asyncio.Event, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                await conn.execute(
                    psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(channel))
                )
                async for _ in conn.notifies():
                    wake.set()
        except psycopg.Error:
            log.warning("outbox LISTEN connection lost; reconnecting", exc_info=True)
            await asyncio.sleep(POLL_INTERVAL)
