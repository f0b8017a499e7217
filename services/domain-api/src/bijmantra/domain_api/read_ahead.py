"""Overlap producing a stream with sending it: the next items are read while one is sent."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TypeVar

T = TypeVar("T")


async def read_ahead(source: AsyncIterator[T], depth: int = 2) -> AsyncIterator[T]:
    """Yield ``source``'s items while a task fetches up to ``depth`` further ones.

    A gRPC server stream's ``yield`` waits for the transport to take the message; reading the
    next genotype chunk from PostgreSQL meanwhile takes that wait off the critical path (ADR
    0070). ``source`` runs entirely in the producing task (its transaction is opened, used and
    closed there); its errors surface here, in order, after the items produced before them; if
    the consumer stops early, the producer is cancelled, which closes ``source``.
    """
    # An item travels boxed, so that ``None`` (the end) and an error cannot be mistaken for one.
    queue: asyncio.Queue[tuple[T] | Exception | None] = asyncio.Queue(maxsize=depth)

    async def produce() -> None:
        try:
            async for item in source:
                await queue.put((item,))
        except Exception as error:  # handed to the consumer, raised there
            await queue.put(error)
            return
        await queue.put(None)

    producer = asyncio.create_task(produce())
    try:
        while True:
            item = await queue.get()
            if item is None:
                break
            if isinstance(item, Exception):
                raise item
            yield item[0]
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producer
