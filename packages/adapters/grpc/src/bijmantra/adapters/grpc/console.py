"""Client of domain-api's ConsoleService (ADR 0312); forwards the member's token."""

from __future__ import annotations

from bijmantra.adapters.grpc.calls import call_with_token
from bijmantra.contracts.console.v1 import console_service_pb2 as pb
from bijmantra.contracts.console.v1 import console_service_pb2_grpc as pb_grpc
from bijmantra.kernel import PageRequest

import grpc


class ConsoleClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = pb_grpc.ConsoleServiceStub(channel)

    async def dashboard(self, token: str, *, analyses: int, activity: int) -> bytes:
        """The dashboard's JSON document: only the parts the member may read are set."""
        request = pb.GetDashboardRequest(analyses=analyses, activity=activity)
        reply = await call_with_token(self._stub.GetDashboard, request, token)
        return bytes(reply.document_json)

    async def invoices(self, token: str, page: PageRequest, status: str) -> bytes:
        """A page of invoices ready to render: gross totals and partner names (ADR 0322)."""
        request = pb.ListInvoicesRequest(page=page.page, page_size=page.page_size, status=status)
        reply = await call_with_token(self._stub.ListInvoices, request, token)
        return bytes(reply.document_json)
