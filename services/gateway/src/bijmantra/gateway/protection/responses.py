"""Error answers sent straight from middleware, in the envelope of the path's API."""

from __future__ import annotations

import msgspec
from bijmantra.edge.envelopes import brapi_error_body, platform_error_body
from bijmantra.edge.statuses import error_headers, http_status
from bijmantra.kernel import BijmantraError
from litestar.enums import ScopeType
from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, Scope, Send


async def send_error(
    scope: Scope,
    send: Send,
    error: BijmantraError,
    headers: list[tuple[bytes, bytes]] | None = None,
    status: int | None = None,
) -> None:
    if scope["path"].startswith("/brapi/"):
        body = msgspec.json.encode(brapi_error_body(error))
    else:
        request_id = scope.get("state", {}).get("request_id")
        body = msgspec.json.encode(platform_error_body(error, request_id))
    given = [*(headers or [])]
    named = {name.lower() for name, _ in given}
    implied = [  # the headers the error's code implies (Retry-After on a 503), as the edge's
        (name.lower().encode(), value.encode())
        for name, value in error_headers(error).items()
        if name.lower().encode() not in named
    ]
    start_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *given,
        *implied,
    ]
    await send_whole(send, status or http_status(error), start_headers, body)


async def send_whole(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    """A complete response from middleware: one start message, one body message."""
    await send(HTTPResponseStartEvent(type="http.response.start", status=status, headers=headers))
    await send(HTTPResponseBodyEvent(type="http.response.body", body=body, more_body=False))


def http_method(scope: Scope) -> str:
    """The method of an HTTP scope; '' for a WebSocket scope, which has none."""
    return scope["method"] if scope["type"] == ScopeType.HTTP else ""


def header(scope: Scope, name: bytes) -> str:
    """The first value of a request header, or ''."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""
