"""Inbound gRPC for the compliance context: the audit trail and resource activity."""

from __future__ import annotations

from typing import Any

from bijmantra.application.compliance import (
    ListActivity,
    ListAuditEntries,
    VerifyAuditChain,
    activity_document,
    entry_document,
)
from bijmantra.contracts.compliance.v1 import audit_service_pb2 as pb
from bijmantra.contracts.compliance.v1 import audit_service_pb2_grpc as pb_grpc
from bijmantra.domain_api.grpc_api import current_principal
from bijmantra.domain_api.paging import page_fields, requested_page


class AuditServicer(pb_grpc.AuditServiceServicer):
    def __init__(
        self, entries: ListAuditEntries, verify: VerifyAuditChain, activity: ListActivity
    ) -> None:
        self._entries, self._verify, self._activity = entries, verify, activity

    async def ListAuditEntries(
        self, request: pb.ListAuditEntriesRequest, context: Any
    ) -> pb.ListAuditEntriesResponse:
        result = await self._entries(
            current_principal(), requested_page(request), newest_first=request.newest_first
        )
        return pb.ListAuditEntriesResponse(**page_fields(result, entry_document))

    async def VerifyAuditChain(
        self, request: pb.VerifyAuditChainRequest, context: Any
    ) -> pb.VerifyAuditChainResponse:
        verdict = await self._verify(current_principal())
        return pb.VerifyAuditChainResponse(
            valid=verdict.valid,
            entries_checked=verdict.entries_checked,
            head_position=verdict.head_position,
            problems=[
                pb.ChainProblem(position=p.position, problem=p.problem) for p in verdict.problems
            ],
        )

    async def ListActivity(
        self, request: pb.ListActivityRequest, context: Any
    ) -> pb.ListActivityResponse:
        page = requested_page(request)
        result = await self._activity(current_principal(), request.resource, page)
        return pb.ListActivityResponse(**page_fields(result, activity_document))
