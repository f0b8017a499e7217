"""Identity's HTTP edge helpers: request ids, the platform-API envelopes, bearer principals."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

import msgspec
from bijmantra.application.client_address import client_address
from bijmantra.application.envelopes import http_status, platform_body, platform_error_body
from bijmantra.kernel import (
    BijmantraError,
    Internal,
    NotFound,
    Principal,
    RateLimited,
    Unauthorized,
    ValidationFailed,
)
from bijmantra.kernel.errors import ErrorCode
from bijmantra.observability import get_logger
from litestar import Request, Response
from litestar.datastructures import State
from litestar.exceptions import HTTPException

log = get_logger(__name__)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
MAX_BODY = 64 * 1024
T = TypeVar("T")
log = get_logger(__name__)


class MalformedRequest(ValidationFailed):
    """400: input no valid request can hold (a NUL character: PostgreSQL text cannot store it,
    so it once surfaced as an unlogged 500)."""


def reject_nul(value: Any) -> None:
    """Raise ``MalformedRequest`` if any string in a decoded body holds a NUL character."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                log.info("request.rejected", reason="NUL character in input")
                raise MalformedRequest("Text must not contain NUL characters")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


def decode_json(body: bytes, shape: type[T]) -> T:
    if len(body) > MAX_BODY:
        raise ValidationFailed("Request body too large")
    try:
        decoded = msgspec.json.decode(body, type=shape)
    except msgspec.ValidationError as exc:
        raise ValidationFailed(f"Invalid request: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise ValidationFailed(f"Malformed JSON: {exc}") from exc
    reject_nul(msgspec.to_builtins(decoded))
    return decoded


def request_id(request: Request[Any, Any, Any]) -> str:
    given = request.headers.get("x-request-id", "")
    return given if 0 < len(given) <= 128 else uuid.uuid4().hex


def error_response(request: Request[Any, Any, Any], error: BijmantraError) -> Response[Any]:
    headers = dict(NO_STORE)
    if isinstance(error, RateLimited):
        retry = next((d.message for d in error.details if d.location == "retryAfter"), None)
        if retry is not None:
            headers["Retry-After"] = retry
    if error.code is ErrorCode.UNAUTHORIZED:
        headers["WWW-Authenticate"] = "Bearer"
    return Response(
        platform_error_body(error, request_id(request)),
        status_code=400 if isinstance(error, MalformedRequest) else http_status(error),
        headers=headers,
    )


def http_exception_response(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Litestar's own 4xx (unknown route, bad path parameter, wrong method) in our envelope."""
    error: BijmantraError = (
        NotFound("Not found") if exc.status_code == 404 else ValidationFailed(exc.detail)
    )
    response = error_response(request, error)
    response.status_code = exc.status_code if 400 <= exc.status_code < 500 else 400
    return response


def unexpected_error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The catch-all: logged with its traceback, answered 500 in the platform envelope."""
    log.exception("unhandled error", path=request.url.path)
    return error_response(request, Internal("Internal server error"))


def ok(
    request: Request[Any, Any, Any],
    data: Any,
    *,
    status: int = 200,
    links: dict[str, str] | None = None,
) -> Response[Any]:
    return Response(
        platform_body(data, request_id(request), links), status_code=status, headers=NO_STORE
    )


async def decode_body(request: Request[Any, Any, Any], shape: type[T]) -> T:
    return decode_json(await request.body(), shape)


async def bearer_principal(request: Request[Any, Any, Any], state: State) -> Principal:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Missing bearer token")
    return await state.verifier.verify(token.strip())  # type: ignore[no-any-return]


def client_ip(request: Request[Any, Any, Any], state: State) -> str | None:
    """The client's address; ``X-Forwarded-For`` counts only from configured trusted proxies."""
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers.get("x-forwarded-for"), state.trusted_proxies)
