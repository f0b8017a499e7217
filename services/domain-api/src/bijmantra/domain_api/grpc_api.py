"""Inbound gRPC: authenticate every call, then hand it to a use case."""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import grpc
from bijmantra.adapters.grpc import abort_with
from bijmantra.application.germplasm import (
    CreateGermplasm,
    GermplasmFilter,
    GetGermplasm,
    ListGermplasm,
    decode_new_requests,
)
from bijmantra.application.ports import TokenVerifier
from bijmantra.contracts.germplasm.v1 import germplasm_service_pb2 as pb
from bijmantra.contracts.germplasm.v1 import germplasm_service_pb2_grpc as pb_grpc
from bijmantra.kernel import BijmantraError, PageRequest, Principal, Unauthorized
from bijmantra.observability import bind_context, clear_context

_principal: contextvars.ContextVar[Principal] = contextvars.ContextVar("principal")
UNAUTHENTICATED_METHODS = frozenset(
    {"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"}
)


def current_principal() -> Principal:
    return _principal.get()


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Verify the forwarded bearer token; the tenant comes only from its signed claims.

    ``service_verifiers`` maps a gRPC service name to the only verifier accepted there
    (worker-facing services take service tokens, never user tokens); every other service
    takes user tokens from identity.
    """

    def __init__(
        self,
        verifier: TokenVerifier,
        *,
        service_verifiers: Mapping[str, TokenVerifier] | None = None,
    ) -> None:
        self._verifier = verifier
        self._service_verifiers = dict(service_verifiers or {})

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        method = details.method
        if (
            handler is None
            or method in UNAUTHENTICATED_METHODS
            or method.startswith("/grpc.reflection.")
        ):
            return handler
        service = method.split("/")[1] if method.count("/") >= 2 else ""
        verifier = self._service_verifiers.get(service, self._verifier)
        metadata = dict(details.invocation_metadata or ())

        async def authenticate(context: grpc.aio.ServicerContext) -> None:  # type: ignore[type-arg]
            clear_context()
            if request_id := metadata.get("x-request-id"):
                bind_context(request_id=request_id)
            header = str(metadata.get("authorization", ""))
            scheme, _, token = header.partition(" ")
            try:
                if scheme.lower() != "bearer" or not token:
                    raise Unauthorized("Missing bearer token")
                principal = await verifier.verify(token)
            except BijmantraError as error:
                await abort_with(context, error)
            bind_context(tenant_id=str(principal.tenant_id), subject=principal.subject)
            _principal.set(principal)

        codecs = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            unary = handler.unary_unary

            async def unary_call(request: Any, context: grpc.aio.ServicerContext) -> Any:  # type: ignore[type-arg]
                await authenticate(context)
                return await unary(request, context)

            return grpc.unary_unary_rpc_method_handler(unary_call, **codecs)
        if handler.unary_stream is not None:
            streaming = handler.unary_stream

            async def stream_out(
                request: Any, context: grpc.aio.ServicerContext
            ) -> AsyncIterator[Any]:  # type: ignore[type-arg]
                await authenticate(context)
                async for response in streaming(request, context):
                    yield response

            return grpc.unary_stream_rpc_method_handler(stream_out, **codecs)
        if handler.stream_unary is not None:
            upload = handler.stream_unary

            async def stream_in(requests: Any, context: grpc.aio.ServicerContext) -> Any:  # type: ignore[type-arg]
                await authenticate(context)
                return await upload(requests, context)

            return grpc.stream_unary_rpc_method_handler(stream_in, **codecs)
        raise RuntimeError(
            f"{method}: bidirectional streams are not authenticated by this interceptor"
        )


def use_case_errors(
    method: Callable[..., Awaitable[Any]],
) -> Callable[..., Awaitable[Any]]:
    """Map the kernel's error taxonomy onto gRPC status codes, once for every RPC."""

    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:  # type: ignore[type-arg]
        try:
            return await method(self, request, context)
        except BijmantraError as error:
            await abort_with(context, error)

    return wrapper


def stream_errors(
    method: Callable[..., AsyncIterator[Any]],
) -> Callable[..., AsyncIterator[Any]]:
    """``use_case_errors`` for server-streaming RPCs (async generators)."""

    async def wrapper(
        self: Any, request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:  # type: ignore[type-arg]
        try:
            async for response in method(self, request, context):
                yield response
        except BijmantraError as error:
            await abort_with(context, error)

    return wrapper


class GermplasmServicer(pb_grpc.GermplasmServiceServicer):
    def __init__(self, create: CreateGermplasm, get: GetGermplasm, list_: ListGermplasm) -> None:
        self._create, self._get, self._list = create, get, list_

    @use_case_errors
    async def ListGermplasm(
        self, request: pb.ListGermplasmRequest, context: Any
    ) -> pb.ListGermplasmResponse:
        criteria = GermplasmFilter(
            **{name: tuple(getattr(request.filter, name)) for name in _FILTER_FIELDS}
        )
        page = PageRequest(request.page, request.page_size or 1000)
        result = await self._list(current_principal(), criteria, page)
        return pb.ListGermplasmResponse(
            documents=result.items,
            total_count=result.total_count,
            page=page.page,
            page_size=page.page_size,
            total_pages=result.total_pages,
        )

    @use_case_errors
    async def GetGermplasm(
        self, request: pb.GetGermplasmRequest, context: Any
    ) -> pb.GetGermplasmResponse:
        return pb.GetGermplasmResponse(
            document=await self._get(current_principal(), request.germplasm_db_id)
        )

    @use_case_errors
    async def CreateGermplasm(
        self, request: pb.CreateGermplasmRequest, context: Any
    ) -> pb.CreateGermplasmResponse:
        requests = decode_new_requests(request.new_germplasm_json)
        return pb.CreateGermplasmResponse(
            documents=await self._create(current_principal(), requests)
        )


_FILTER_FIELDS = tuple(f.name for f in pb.GermplasmFilter.DESCRIPTOR.fields)
assert set(_FILTER_FIELDS) <= set(GermplasmFilter.__dataclass_fields__), "proto and filter agree"
