"""Calls to another service, made the same way by every client that forwards the caller's
token: one unary call, or the messages of a server stream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol, TypeVar, runtime_checkable

from bijmantra.adapters.grpc.auth import bearer_metadata
from bijmantra.adapters.grpc.errors import error_from_rpc
from bijmantra.kernel import TenantId, Unauthorized

import grpc

DEFAULT_TIMEOUT = 30.0
RequestT = TypeVar("RequestT")
ResponseT = TypeVar("ResponseT")


async def call_with_token(
    method: grpc.aio.UnaryUnaryMultiCallable[RequestT, ResponseT],
    request: RequestT,
    token: str,
    deadline: float = DEFAULT_TIMEOUT,
    *,
    keyed: bool = True,
) -> ResponseT:
    """``method(request)`` as the token's holder; a failed RPC raises the typed error it carries.
    ``keyed=False``: a read that takes none of the request's ``Idempotency-Key`` call keys."""
    try:
        metadata = bearer_metadata(token, keyed=keyed)
        return await method(request, metadata=metadata, timeout=deadline)
    except grpc.aio.AioRpcError as exc:
        raise error_from_rpc(exc) from None


async def stream_with_token(
    method: grpc.aio.UnaryStreamMultiCallable[RequestT, ResponseT],
    request: RequestT,
    token: str,
    deadline: float,
) -> AsyncIterator[ResponseT]:
    """The messages of a server stream ``method(request)`` as the token's holder, as they
    arrive; a failed RPC raises the typed error it carries, and a reader that stops early
    cancels the call."""
    call = method(request, metadata=bearer_metadata(token), timeout=deadline)
    try:
        async for message in call:
            yield message
    except grpc.aio.AioRpcError as exc:
        raise error_from_rpc(exc) from None
    finally:
        call.cancel()


@runtime_checkable
class RenewableTokens(Protocol):
    """A token source that can drop a token the services refused, so the next is new."""

    async def __call__(self, tenant: TenantId) -> str: ...

    def forget(self, tenant: TenantId, token: str) -> None: ...


class ServiceTokenClient:
    """Base of the analytics-worker's clients: each call carries a service token for the
    organization it concerns, which ``token_for`` gets (identity's client credentials).

    A refused token is renewed once: the revocation list refuses every token issued before
    its Redis started (ADR 0336), and a worker's cached token would otherwise fail each call
    until it expired."""

    def __init__(self, token_for: Callable[[TenantId], Awaitable[str]]) -> None:
        self._token_for = token_for

    async def _call(
        self,
        method: grpc.aio.UnaryUnaryMultiCallable[RequestT, ResponseT],
        request: RequestT,
        tenant: TenantId,
        deadline: float = DEFAULT_TIMEOUT,
    ) -> ResponseT:
        token = await self._token_for(tenant)
        try:
            return await call_with_token(method, request, token, deadline)
        except Unauthorized:
            if not isinstance(self._token_for, RenewableTokens):
                raise
            self._token_for.forget(tenant, token)
            return await call_with_token(method, request, await self._token_for(tenant), deadline)
