"""Client of domain-api's OperationsService; forwards the caller's token on every call.

Every RPC answers one of three shapes (a document with its ETag, a page of documents, or a
bare document), so the client offers one method per shape and names the RPC.
"""

from __future__ import annotations

from typing import Any

from bijmantra.adapters.grpc.calls import call_with_token
from bijmantra.contracts.operations.v1 import operations_service_pb2 as pb
from bijmantra.contracts.operations.v1 import operations_service_pb2_grpc as pb_grpc
from bijmantra.kernel import Page, PageRequest

import grpc


class OperationsClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = pb_grpc.OperationsServiceStub(channel)

    async def call(self, rpc: str, token: str, **fields: Any) -> Any:
        request = getattr(pb, f"{rpc}Request")(**fields)
        return await call_with_token(getattr(self._stub, rpc), request, token)

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
