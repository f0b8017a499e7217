"""Graceful shutdown: SIGTERM/SIGINT set an event the service awaits, then it drains and
closes what it opened (pools, clients, connections), each service the same way."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Iterable

# Releases one resource at shutdown: a pool's ``dispose``, a client's ``close``.
Closer = Callable[[], Awaitable[object]]


def install_shutdown_handlers(loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Event:
    loop = loop or asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def close_all(closers: Iterable[Closer]) -> None:
    """Close each resource in the order given."""
    for close in closers:
        await close()
