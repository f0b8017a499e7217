"""Request ids: adopted from ``X-Request-ID`` (if sane) or assigned, bound to every log line
of the request and echoed on the response, so a client's report finds the server's logs."""

from __future__ import annotations

import uuid
from typing import Any

from bijmantra.observability import bind_context, clear_context
from litestar import Request
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
MAX_REQUEST_ID = 128


def adopted_request_id(given: str | bytes | None) -> str:
    """The client's id if it is short printable ASCII, else a new one (no log injection)."""
    text = given.decode("latin-1") if isinstance(given, bytes) else given or ""
    if 0 < len(text) <= MAX_REQUEST_ID and text.isascii() and text.isprintable():
        return text
    return uuid.uuid4().hex


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Adopt or assign a request id; the log context and the response header carry it."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == REQUEST_ID_HEADER.encode()), None)
        request_id = adopted_request_id(given)
        scope.setdefault("state", {})["request_id"] = request_id
        clear_context()
        bind_context(request_id=request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                message["headers"] = headers
            await send(message)

        await app(scope, receive, send_with_id)

    return middleware


def request_id(request: Request[Any, Any, Any]) -> str:
    """This request's id (the middleware's, or adopted here when it did not run)."""
    assigned = request.scope.get("state", {}).get("request_id")
    if isinstance(assigned, str):
        return assigned
    return adopted_request_id(request.headers.get(REQUEST_ID_HEADER))
