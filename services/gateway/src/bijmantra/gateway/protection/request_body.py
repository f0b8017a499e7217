"""Reading a request body in middleware, bounded: past the limit the read stops at once."""

from __future__ import annotations

from collections.abc import AsyncIterator

from litestar.types import Receive


class BodyTooLarge(Exception):
    """More than the limit arrived; nothing past it was read."""


async def body_chunks(receive: Receive, limit: int) -> AsyncIterator[bytes]:
    """The body's chunks as the client sends them; ``BodyTooLarge`` once they pass ``limit``."""
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        yield chunk
        if not message.get("more_body", False):
            return
