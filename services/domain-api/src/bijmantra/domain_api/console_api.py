"""Inbound gRPC for console pages that read several contexts at once (ADR 0312)."""

from __future__ import annotations

from typing import Any

from bijmantra.application.console.dashboard import ReadDashboard
from bijmantra.application.console.invoices import ListInvoices
from bijmantra.contracts.console.v1 import console_service_pb2 as pb
from bijmantra.contracts.console.v1 import console_service_pb2_grpc as pb_grpc
from bijmantra.domain_api.grpc_api import current_principal
from bijmantra.domain_api.paging import requested_page


class ConsoleServicer(pb_grpc.ConsoleServiceServicer):
    def __init__(self, dashboard: ReadDashboard, invoices: ListInvoices) -> None:
        self._dashboard, self._invoices = dashboard, invoices

    async def GetDashboard(
        self, request: pb.GetDashboardRequest, context: Any
    ) -> pb.GetDashboardResponse:
        document = await self._dashboard(
            current_principal(), analyses=request.analyses, activity=request.activity
        )
        return pb.GetDashboardResponse(document_json=document)

    async def ListInvoices(
        self, request: pb.ListInvoicesRequest, context: Any
    ) -> pb.ListInvoicesResponse:
        document = await self._invoices(
            current_principal(), requested_page(request, 25), request.status
        )
        return pb.ListInvoicesResponse(document_json=document)
