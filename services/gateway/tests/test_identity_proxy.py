"""The identity proxy forwards only what the gateway routed to it (ADR 0348)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import pytest
from bijmantra.edge.client_address import parse_networks
from bijmantra.gateway.identity_proxy import IdentityProxy
from litestar.types import Message, Scope


class _Recorder(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        body = b'{"status":"ok"}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def identity() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server standing in for identity: it answers 200 to every path it gets."""
    seen: list[str] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


async def _get(proxy: IdentityProxy, path: str, raw: bytes) -> tuple[int, bytes]:
    """One GET through the proxy as the gateway mounts it: ``path`` is what the router
    matched (decoded, a mount prefix in front), ``raw`` what the client sent."""
    sent: list[dict[str, Any]] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(dict(message))

    scope: Scope = cast(
        "Scope",
        {
            "type": "http",
            "method": "GET",
            "path": path,
            "raw_path": raw,
            "query_string": b"",
            "headers": [],
            "client": ("127.0.0.1", 5000),
            "scheme": "http",
            "state": {},
        },
    )
    await proxy(scope, receive, send)
    start, body = sent[0], sent[1]
    return start["status"], body["body"]


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/oauth/../health/ready", b"/oauth/../health/ready"),
        ("/.well-known/../api/v1/users/me", b"/.well-known/../api/v1/users/me"),
        ("/oauth/../health/ready", b"/oauth/%2e%2e/health/ready"),
        ("/oauth/./../health/ready", b"/oauth/./%2E%2E/health/ready"),
    ],
)
async def test_a_path_that_climbs_out_of_the_mounted_prefix_is_not_forwarded(
    identity: tuple[str, list[str]], path: str, raw: bytes
) -> None:
    """The gateway mounts the proxy on identity's public prefixes (``/oauth``, …) and sends
    the client's raw path on. httpx resolves ``..`` segments, so ``/oauth/../health/ready``
    reached identity's ``/health/ready``, and ``/oauth/../api/v1/organizations/…`` its bearer
    routes past the gateway's rate limits: any identity path, whatever the gateway routes."""
    url, seen = identity
    proxy = IdentityProxy(url, parse_networks(""))
    try:
        status, body = await _get(proxy, path, raw)
    finally:
        await proxy.close()
    assert status == 404, body
    assert seen == []


async def test_a_path_under_the_prefix_is_forwarded_as_sent(
    identity: tuple[str, list[str]],
) -> None:
    url, seen = identity
    proxy = IdentityProxy(url, parse_networks(""))
    try:
        status, _ = await _get(proxy, "/.well-known/jwks.json", b"/.well-known/jwks.json")
    finally:
        await proxy.close()
    assert status == 200
    assert seen == ["/.well-known/jwks.json"]
