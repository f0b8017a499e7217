"""A minimal HTTP endpoint for probes and scrapes.

live = the loop answers; ready = consumers attached; /metrics = Prometheus text format.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


async def serve_health(
    port: int, is_ready: Callable[[], bool], host: str = "127.0.0.1"
) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), 5)
            path = request_line.split()[1].decode() if len(request_line.split()) > 1 else "/"
            while (await reader.readline()).strip():
                pass
            content_type = "application/json"
            if path == "/health/live":
                status, body = 200, b'{"status":"ok"}'
            elif path == "/metrics":
                status, body, content_type = 200, generate_latest(), CONTENT_TYPE_LATEST
            elif path in ("/health/ready", "/health/startup"):
                ok = is_ready()
                status, body = (200, b'{"status":"ok"}') if ok else (503, b'{"status":"starting"}')
            else:
                status, body = 404, b'{"status":"not found"}'
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)
