"""Error answers sent straight from middleware, in the envelope of the path's API."""

from __future__ import annotations

import msgspec
from bijmantra.application.envelopes import brapi_error_body, http_status, platform_error_body
from bijmantra.kernel import BijmantraError
from litestar.types import Scope, Send


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
    start_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(headers or []),
    ]
    await send(
        {
            "type": "http.response.start",
            "status": status or http_status(error),
            "headers": start_headers,
        }
    )
    await send({"type": "http.response.body", "body": body})


def header(scope: Scope, name: bytes) -> str:
    """The first value of a request header, or ''."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""
