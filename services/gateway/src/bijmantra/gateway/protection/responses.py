"""Error answers of middleware that refuses a request: through the route's own exception
handler, so the JSON APIs answer in their envelopes and the console with a page (ADR 0354)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from bijmantra.edge.envelopes import brapi_error_body, platform_error_body
from bijmantra.edge.handlers import REFUSAL, Refusal
from bijmantra.edge.statuses import error_headers, http_status
from bijmantra.kernel import BijmantraError
from litestar import Request, Response
from litestar.enums import ScopeType
from litestar.types import (
    HTTPRequestEvent,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Scope,
    Send,
)

ErrorHandler = Callable[[Request[Any, Any, Any], BijmantraError], Response[Any]]


async def send_error(
    scope: Scope,
    send: Send,
    error: BijmantraError,
    headers: list[tuple[bytes, bytes]] | None = None,
    status: int | None = None,
) -> None:
    """Refuse the request with ``error``: ``status`` (else the error's) and ``headers`` (the
    middleware's own, e.g. ``Retry-After``) are left in the request's state as its
    ``Refusal``, and the exception handler the route declared for the error answers: the
    one answer path of every error, whichever layer found it."""
    handler = route_error_handler(scope, error)
    if handler is None:  # a middleware called without an application (its unit tests)
        await send_envelope(scope, send, error, headers, status)
        return
    given = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers or []}
    scope.setdefault("state", {})[REFUSAL] = Refusal(status or http_status(error), given)
    request: Request[Any, Any, Any] = Request(scope, receive=_no_body, send=send)
    response = handler(request, error)
    route = scope["route_handler"]
    answer = response.to_asgi_response(
        app=None, request=request, type_encoders=route.resolve_type_encoders()
    )
    await answer(scope, _no_body, send)


def route_error_handler(scope: Scope, error: BijmantraError) -> ErrorHandler | None:
    """The exception handler the matched route resolves for ``error`` (nearest class first),
    as Litestar would pick it for an exception raised in the handler."""
    route = scope.get("route_handler")
    if route is None or "litestar_app" not in scope:
        return None
    handlers = route.resolve_exception_handlers()
    for kind in type(error).__mro__:
        if kind in handlers:
            found: ErrorHandler = handlers[kind]
            return found
    return None


async def _no_body() -> HTTPRequestEvent:
    """A refused request's body is never read by its answer."""
    return HTTPRequestEvent(type="http.request", body=b"", more_body=False)


async def send_envelope(
    scope: Scope,
    send: Send,
    error: BijmantraError,
    headers: list[tuple[bytes, bytes]] | None = None,
    status: int | None = None,
) -> None:
    """The error in the envelope of the path's API, without an application to ask."""
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
