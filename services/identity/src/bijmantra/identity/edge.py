"""Identity's HTTP edge helpers: request ids, the platform-API envelopes, bearer principals."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from bijmantra.edge import client_address, platform_body, request_id
from bijmantra.edge import error_response as edge_error_response
from bijmantra.kernel import (
    BijmantraError,
    Principal,
    Unauthorized,
    ValidationFailed,
)
from bijmantra.observability import get_logger
from litestar import Request, Response
from litestar.datastructures import State

log = get_logger(__name__)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
MAX_BODY = 64 * 1024
T = TypeVar("T")


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


def error_response(request: Request[Any, Any, Any], error: BijmantraError) -> Response[Any]:
    """The shared edge's answer; a ``MalformedRequest`` is 400 (no request could hold it)."""
    response = edge_error_response(request, error)
    if isinstance(error, MalformedRequest):
        response.status_code = 400
    return response


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
