"""Graceful shutdown: SIGTERM/SIGINT set an event the service awaits, then it drains."""

from __future__ import annotations

import asyncio
import signal


def install_shutdown_handlers(loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Event:
    loop = loop or asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop
