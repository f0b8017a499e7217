"""Inbound gRPC for console pages that read several contexts at once (ADR 0312)."""

from __future__ import annotations

from typing import Any

from bijmantra.application.console.dashboard import ReadDashboard
from bijmantra.contracts.console.v1 import console_service_pb2 as pb
from bijmantra.contracts.console.v1 import console_service_pb2_grpc as pb_grpc
from bijmantra.domain_api.grpc_api import current_principal


class ConsoleServicer(pb_grpc.ConsoleServiceServicer):
    def __init__(self, dashboard: ReadDashboard) -> None:
        self._dashboard = dashboard

    async def GetDashboard(
        self, request: pb.GetDashboardRequest, context: Any
    ) -> pb.GetDashboardResponse:
        document = await self._dashboard(
            current_principal(), analyses=request.analyses, activity=request.activity
        )
        return pb.GetDashboardResponse(document_json=document)
