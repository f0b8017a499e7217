"""Client of domain-api's GermplasmService; forwards the caller's token on every call."""

from __future__ import annotations

from typing import Any

import grpc

from bijmantra.adapters.grpc.auth import bearer_metadata
from bijmantra.adapters.grpc.errors import error_from_rpc
from bijmantra.contracts.germplasm.v1 import germplasm_service_pb2 as pb
from bijmantra.contracts.germplasm.v1 import germplasm_service_pb2_grpc as pb_grpc
from bijmantra.kernel import Page, PageRequest

DEFAULT_TIMEOUT = 30.0


class GermplasmClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = pb_grpc.GermplasmServiceStub(channel)

    async def _call(self, method: Any, request: Any, token: str) -> Any:
        try:
            return await method(request, metadata=bearer_metadata(token), timeout=DEFAULT_TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from None

    async def list(self, token: str, filters: dict[str, list[str]], page: PageRequest) -> Page[bytes]:
        request = pb.ListGermplasmRequest(
            filter=pb.GermplasmFilter(**filters), page=page.page, page_size=page.page_size
        )
        response = await self._call(self._stub.ListGermplasm, request, token)
        return Page(list(response.documents), page, response.total_count)

    async def get(self, token: str, germplasm_db_id: str) -> bytes:
        request = pb.GetGermplasmRequest(germplasm_db_id=germplasm_db_id)
        return (await self._call(self._stub.GetGermplasm, request, token)).document  # type: ignore[no-any-return]

    async def create(self, token: str, new_germplasm_json: bytes) -> list[bytes]:
        request = pb.CreateGermplasmRequest(new_germplasm_json=new_germplasm_json)
        return list((await self._call(self._stub.CreateGermplasm, request, token)).documents)
