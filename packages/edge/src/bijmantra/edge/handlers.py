"""Errors as HTTP answers: typed errors, the framework's own, and the catch-all.

One ``error_response`` for both edges: the BrAPI envelope under ``/brapi/``, the platform
envelope elsewhere, with the status and headers of ``statuses``. Every unexpected
exception is logged with its traceback and answered 500 ``internal`` in the same envelope,
so no client sees a framework page or a bare connection reset.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bijmantra.edge.envelopes import brapi_error_body, platform_error_body
from bijmantra.edge.requests import request_id
from bijmantra.edge.statuses import ALLOW, error_headers, http_status
from bijmantra.edge.timing import begin, header_value
from bijmantra.kernel import (
    BijmantraError,
    FieldError,
    Forbidden,
    Internal,
    MethodNotAllowed,
    NotFound,
    Unauthorized,
    ValidationFailed,
)
from bijmantra.observability import get_logger
from litestar import Request, Response
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

log = get_logger(__name__)
BRAPI_PREFIX = "/brapi/"
API_PREFIXES = ("/brapi/", "/api/")
AnyRequest = Request[Any, Any, Any]
# Where an error answer leaves its code in the request's scope state, for the middlewares
# that wrap the handler (the gateway's Idempotency-Key keeps no ``storage_full``, ADR 0343).
ERROR_CODE = "error_code"
# Where a middleware that refuses a request (a rate limit, the fair share, a body bound)
# leaves the status and headers of its answer; the route's own exception handler then
# answers, so a refusal reads as the route's other errors do (ADR 0354).
REFUSAL = "refusal"


@dataclass(frozen=True, slots=True)
class Refusal:
    """A middleware's answer to a request it refused: its status and its own headers
    (lower-case names: ``retry-after``, ``ratelimit-policy``, …)."""

    status: int
    headers: dict[str, str]


def refusal_of(request: AnyRequest) -> Refusal | None:
    found = request.scope.get("state", {}).get(REFUSAL)
    return found if isinstance(found, Refusal) else None


def answer_headers(request: AnyRequest, error: BijmantraError) -> dict[str, str]:
    """The headers ``error`` implies, and those of the middleware that refused the request
    (its ``Retry-After`` wins over the error's)."""
    implied = error_headers(error)
    refusal = refusal_of(request)
    if refusal is None:
        return implied
    kept = {k: v for k, v in implied.items() if k.lower() not in refusal.headers}
    return {**kept, **refusal.headers}


def error_response(request: AnyRequest, error: BijmantraError) -> Response[Any]:
    request.scope.setdefault("state", {})[ERROR_CODE] = error.code
    brapi = request.url.path.startswith(BRAPI_PREFIX)
    body = brapi_error_body(error) if brapi else platform_error_body(error, request_id(request))
    refusal = refusal_of(request)
    status = refusal.status if refusal else http_status(error, brapi=brapi)
    return Response(body, status_code=status, headers=answer_headers(request, error))


_HTTP_TO_ERROR: dict[int, type[BijmantraError]] = {
    400: ValidationFailed,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
}


def http_exception_handler(request: AnyRequest, exc: HTTPException) -> Response[Any]:
    """Litestar's own errors (unknown route, wrong method, body over its limit) in our
    envelope, keeping their status."""
    if isinstance(exc, NotAuthorizedException):
        return error_response(request, Unauthorized(exc.detail or "Unauthorized"))
    if isinstance(exc, PermissionDeniedException):
        return error_response(request, Forbidden(exc.detail or "Forbidden"))
    if exc.status_code == 405:
        return error_response(request, _method_not_allowed(request, exc))
    error_type = _HTTP_TO_ERROR.get(exc.status_code, ValidationFailed)
    response = error_response(request, error_type(exc.detail or error_type.__name__))
    response.status_code = exc.status_code
    return response


def _method_not_allowed(request: AnyRequest, exc: HTTPException) -> MethodNotAllowed:
    """A 405 of its own code (it was ``validation``, as if the body were wrong), naming the
    methods the path is served with: the detail becomes the ``Allow`` header (RFC 9110)."""
    allowed = (exc.headers or {}).get("allow")  # Litestar's router names them there
    details = [FieldError(ALLOW, allowed)] if allowed else []
    return MethodNotAllowed(f"{request.method} is not served at this path", details)


def unexpected_error_handler(request: AnyRequest, exc: Exception) -> Response[Any]:
    """The catch-all: logged with its traceback, 500 ``internal`` in the path's envelope."""
    log.exception("unhandled error", path=request.url.path)
    return error_response(request, Internal("Internal server error"))


def exception_handlers() -> dict[int | type[Exception], Any]:
    """For ``Litestar(exception_handlers=...)``: typed, framework, and everything else."""
    return {
        BijmantraError: error_response,
        HTTPException: http_exception_handler,
        Exception: unexpected_error_handler,
    }


def _handler_for(handlers: Mapping[int | type[Exception], Any], exc: Exception) -> Any:
    """The handler Litestar would pick: by status code first, then by the exception's MRO."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and status in handlers:
        return handlers[status]
    return next((handlers[kind] for kind in type(exc).__mro__ if kind in handlers), None)


def errors_answered_inside(app: ASGIApp) -> ASGIApp:
    """Answers what the middleware after it raise (authentication's 401, a session's or a
    URL's refusal) with the route's exception handlers, through the ``send`` it was given.
    Litestar catches those outside every middleware, so their answers went out without the
    request id, ``Server-Timing`` and ``no-store`` of the wrappers before this one, and the
    request metrics counted a 401 as a 200 that took no time."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await app(scope, receive, watched)
        except Exception as exc:
            route = scope.get("route_handler")
            handler = (
                None if route is None else _handler_for(route.resolve_exception_handlers(), exc)
            )
            if started or handler is None:
                raise
            litestar_app = scope["litestar_app"]
            request = litestar_app.request_class(scope=scope, receive=receive, send=send)
            answer = handler(request, exc).to_asgi_response(app=None, request=request)
            await answer(scope, receive, watched)

    return middleware


async def nosniff(message: Message, scope: Scope) -> None:
    """``before_send`` hook (``Litestar(before_send=[nosniff])``): ``nosniff`` on every HTTP
    answer. A hook rather than a middleware because Litestar answers an unknown route or
    method (404, 405) outside the middleware stack, and those answers need it too."""
    if message["type"] != "http.response.start":
        return
    headers = list(message.get("headers", []))
    if all(k.lower() != b"x-content-type-options" for k, _ in headers):
        headers.append((b"x-content-type-options", b"nosniff"))
        message["headers"] = headers


def security_headers_middleware(app: ASGIApp) -> ASGIApp:
    """``Cache-Control: no-store`` on API answers to a request that carried credentials (a
    shared cache or the browser's must not keep tenant data), unless the handler chose its
    own caching. Also ``Server-Timing: app;dur=…``: the
    milliseconds from here to the response head (a rendered page is complete by then), so
    a client or benchmark can tell server time from queueing and the network; the phases a
    handler named follow it (``bijmantra.edge.timing``)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        phases = begin(scope)
        credentials = any(k in (b"authorization", b"cookie") for k, _ in scope["headers"])
        private = credentials and scope["path"].startswith(API_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if private and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                now = time.perf_counter()
                timing = header_value((now - started) * 1000, phases, now)
                headers.append((b"server-timing", timing))
                message["headers"] = headers
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware
