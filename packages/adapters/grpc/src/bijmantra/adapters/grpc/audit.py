"""Client of domain-api's AuditService; forwards the caller's token on every call."""

from __future__ import annotations

from typing import Any

from bijmantra.adapters.grpc.calls import call_with_token
from bijmantra.application.compliance.dto import ChainProblemDocument, ChainVerdictDocument
from bijmantra.contracts.compliance.v1 import audit_service_pb2 as pb
from bijmantra.contracts.compliance.v1 import audit_service_pb2_grpc as pb_grpc
from bijmantra.kernel import Page, PageRequest

import grpc

AUDIT_TIMEOUT = 60.0  # verification walks a whole chain


class AuditClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = pb_grpc.AuditServiceStub(channel)

    async def _call(self, method: Any, request: Any, token: str) -> Any:
        return await call_with_token(method, request, token, AUDIT_TIMEOUT)

    async def entries(
        self, token: str, page: PageRequest, *, newest_first: bool = False
    ) -> Page[bytes]:
        request = pb.ListAuditEntriesRequest(
            page=page.page, page_size=page.page_size, newest_first=newest_first
        )
        response = await self._call(self._stub.ListAuditEntries, request, token)
        return Page(list(response.documents), page, response.total_count)

    async def activity(self, token: str, resource: str, page: PageRequest) -> Page[bytes]:
        request = pb.ListActivityRequest(
            resource=resource, page=page.page, page_size=page.page_size
        )
        response = await self._call(self._stub.ListActivity, request, token)
        return Page(list(response.documents), page, response.total_count)

    async def verify(self, token: str) -> ChainVerdictDocument:
        response = await self._call(
            self._stub.VerifyAuditChain, pb.VerifyAuditChainRequest(), token
        )
        return ChainVerdictDocument(
            valid=response.valid,
            entries_checked=response.entries_checked,
            head_position=response.head_position,
            problems=[
                ChainProblemDocument(position=p.position, problem=p.problem)
                for p in response.problems
            ],
        )
