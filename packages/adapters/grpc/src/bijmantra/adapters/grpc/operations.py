"""Client of domain-api's OperationsService; forwards the caller's token on every call.

Every RPC answers one of three shapes (a document with its ETag, a page of documents, or a
bare document), so the client offers one method per shape and names the RPC.
"""

from __future__ import annotations

from typing import Any

from bijmantra.adapters.grpc.auth import bearer_metadata
from bijmantra.adapters.grpc.errors import error_from_rpc
from bijmantra.contracts.operations.v1 import operations_service_pb2 as pb
from bijmantra.contracts.operations.v1 import operations_service_pb2_grpc as pb_grpc
from bijmantra.kernel import Page, PageRequest

import grpc

DEFAULT_TIMEOUT = 30.0


class OperationsClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = pb_grpc.OperationsServiceStub(channel)

    async def call(self, rpc: str, token: str, **fields: Any) -> Any:
        request = getattr(pb, f"{rpc}Request")(**fields)
        try:
            return await getattr(self._stub, rpc)(
                request, metadata=bearer_metadata(token), timeout=DEFAULT_TIMEOUT
            )
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from None

    async def document(self, rpc: str, token: str, **fields: Any) -> tuple[bytes, str]:
        """A document and its ETag (from a ``Document`` field of the response)."""
        response = await self.call(rpc, token, **fields)
        document = getattr(response, response.DESCRIPTOR.fields[0].name)
        return bytes(document.document), str(document.etag)

    async def page(self, rpc: str, token: str, page: PageRequest, **fields: Any) -> Page[bytes]:
        response = await self.call(rpc, token, page=page.page, page_size=page.page_size, **fields)
        return Page(list(response.page.documents), page, response.page.total_count)

    async def raw(self, rpc: str, token: str, **fields: Any) -> bytes:
        response = await self.call(rpc, token, **fields)
        return bytes(response.document)
