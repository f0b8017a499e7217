"""Cross-cutting edge concerns: request ids, authentication, permissions, error envelopes."""

from __future__ import annotations

import uuid
from typing import Any

from bijmantra.application.envelopes import brapi_error_body, http_status, platform_error_body
from bijmantra.application.ports import TokenVerifier
from bijmantra.application.security import authorize
from bijmantra.kernel import (
    BijmantraError,
    Forbidden,
    Internal,
    NotFound,
    Principal,
    Unauthorized,
    ValidationFailed,
)
from bijmantra.kernel.errors import ErrorCode
from bijmantra.observability import bind_context, clear_context, get_logger
from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp, Message, Receive, Scope, Send

log = get_logger(__name__)
REQUEST_ID_HEADER = "x-request-id"


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Adopt or assign a request id; log context and response header carry it."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        request_id = (
            next(
                (
                    v.decode()
                    for k, v in scope["headers"]
                    if k == b"x-request-id" and 0 < len(v) <= 128
                ),
                None,
            )
            or uuid.uuid4().hex
        )
        scope.setdefault("state", {})["request_id"] = request_id
        clear_context()
        bind_context(request_id=request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        await app(scope, receive, send_with_id)

    return middleware


API_PREFIXES = ("/brapi/", "/api/")


def security_headers_middleware(app: ASGIApp) -> ASGIApp:
    """``nosniff`` on every response; ``Cache-Control: no-store`` on API answers to a request
    that carried credentials (a shared cache or the browser's must not keep tenant data),
    unless the handler chose its own caching."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        credentials = any(k in (b"authorization", b"cookie") for k, _ in scope["headers"])
        private = credentials and scope["path"].startswith(API_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                if private and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware


class BearerAuthentication(AbstractAuthenticationMiddleware):
    """Verifies ``Authorization: Bearer`` against identity's keys; the token is kept to forward."""

    verifier: TokenVerifier

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Missing bearer token")
        principal = await self.verifier.verify(token.strip())
        bind_context(tenant_id=str(principal.tenant_id), subject=principal.subject)
        return AuthenticationResult(user=principal, auth=token.strip())


def authentication_middleware(verifier: TokenVerifier) -> type[BearerAuthentication]:
    return type("BoundBearerAuthentication", (BearerAuthentication,), {"verifier": verifier})


async def permission_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Each route declares the permission it needs (``opt['permission']``)."""
    needed = handler.opt.get("permission")
    if needed is not None:
        principal: Principal = connection.user
        authorize(principal, needed)


def _is_brapi(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith("/brapi/")


def error_response(request: Request[Any, Any, Any], error: BijmantraError) -> Response[Any]:
    headers = {"WWW-Authenticate": "Bearer"} if error.code is ErrorCode.UNAUTHORIZED else None
    if _is_brapi(request):
        # BrAPI lists 400 for every invalid request; the platform API keeps 422.
        status = 400 if error.code is ErrorCode.VALIDATION else http_status(error)
        return Response(brapi_error_body(error), status_code=status, headers=headers)
    request_id = request.scope.get("state", {}).get("request_id")
    return Response(
        platform_error_body(error, request_id), status_code=http_status(error), headers=headers
    )


_HTTP_TO_ERROR: dict[int, type[BijmantraError]] = {
    400: ValidationFailed,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
}


def http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, NotAuthorizedException):
        return error_response(request, Unauthorized(exc.detail or "Unauthorized"))
    if isinstance(exc, PermissionDeniedException):
        return error_response(request, Forbidden(exc.detail or "Forbidden"))
    error_type = _HTTP_TO_ERROR.get(exc.status_code)
    if error_type is None:
        body_error = BijmantraError(exc.detail or "Request failed")
        response = error_response(request, body_error)
        response.status_code = exc.status_code
        return response
    return error_response(request, error_type(exc.detail or error_type.__name__))


def unexpected_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The catch-all: logged with its traceback, 500 in the envelope of the path's API."""
    log.exception("unhandled error", path=request.url.path)
    return error_response(request, Internal("Internal server error"))
