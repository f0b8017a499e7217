"""Identity's HTTP edge helpers: request ids, the platform-API envelopes, bearer principals."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from bijmantra.application.json_input import check_shape, unreadable
from bijmantra.edge import client_address, platform_response
from bijmantra.kernel import Malformed, Principal, Unauthorized, ValidationFailed
from bijmantra.observability import get_logger
from litestar import Request, Response
from litestar.datastructures import State

log = get_logger(__name__)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
MAX_BODY = 64 * 1024
T = TypeVar("T")


def reject_nul(value: Any) -> None:
    """Raise ``Malformed`` (400) if any string in a decoded body holds a NUL character: no
    valid request can hold one (PostgreSQL text cannot store it; it once was an unlogged 500)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                log.info("request.rejected", reason="NUL character in input")
                raise Malformed("Text must not contain NUL characters")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


def decode_json(body: bytes, shape: type[T]) -> T:
    if len(body) > MAX_BODY:
        raise ValidationFailed("Request body too large")
    check_shape(body)  # nesting depth, before the decoder recurses
    try:
        decoded = msgspec.json.decode(body, type=shape)
    except msgspec.ValidationError as exc:
        raise ValidationFailed(f"Invalid request: {exc}") from exc
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise unreadable(exc, "JSON") from None
    reject_nul(msgspec.to_builtins(decoded))
    return decoded


def ok(
    request: Request[Any, Any, Any],
    data: Any,
    *,
    status: int = 200,
    links: dict[str, str] | None = None,
) -> Response[bytes]:
    return platform_response(request, data, status=status, links=links, headers=NO_STORE)


async def decode_body(request: Request[Any, Any, Any], shape: type[T]) -> T:
    return decode_json(await request.body(), shape)


async def bearer_principal(request: Request[Any, Any, Any], state: State) -> Principal:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Missing bearer token")
    principal: Principal = await state.verifier.verify(token.strip())
    return principal


def client_ip(request: Request[Any, Any, Any], state: State) -> str | None:
    """The client's address; ``X-Forwarded-For`` counts only from configured trusted proxies."""
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers.get("x-forwarded-for"), state.trusted_proxies)
