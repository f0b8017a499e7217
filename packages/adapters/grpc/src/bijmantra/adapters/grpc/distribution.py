"""Clients of domain-api's distribution services: the gateway's (forwarding the caller's
token) and the worker's (a service token for the record's organization)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from bijmantra.adapters.grpc.calls import ServiceTokenClient, call_with_token
from bijmantra.application.distribution.mail import MailReport
from bijmantra.contracts.distribution.v1 import distribution_service_pb2 as pb
from bijmantra.contracts.distribution.v1 import distribution_service_pb2_grpc as pb_grpc
from bijmantra.kernel import Page, PageRequest, TenantId

import grpc


async def _document(method: Any, request: Any, token: str) -> bytes:
    """The ``document`` of a record RPC's response: the record as JSON bytes."""
    return bytes((await call_with_token(method, request, token)).document)


class DistributionClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = pb_grpc.DistributionServiceStub(channel)

    async def create(self, token: str, resource: str, body: bytes) -> bytes:
        request = pb.CreateRecordRequest(resource=resource, body=body)
        return await _document(self._stub.CreateRecord, request, token)

    async def get(self, token: str, resource: str, record_id: str) -> bytes:
        request = pb.GetRecordRequest(resource=resource, id=record_id)
        return await _document(self._stub.GetRecord, request, token)

    async def list(
        self, token: str, resource: str, page: PageRequest, status: str | None
    ) -> Page[bytes]:
        request = pb.ListRecordsRequest(
            resource=resource, page=page.page, page_size=page.page_size, status=status or ""
        )
        response = await call_with_token(self._stub.ListRecords, request, token)
        return Page(list(response.documents), page, response.total_count)

    async def act(self, token: str, resource: str, record_id: str, body: bytes) -> bytes:
        request = pb.ApplyActionRequest(resource=resource, id=record_id, body=body)
        return await _document(self._stub.ApplyAction, request, token)

    async def resend_notification(self, token: str, resource: str, record_id: str) -> bytes:
        request = pb.ResendNotificationRequest(resource=resource, id=record_id)
        return await _document(self._stub.ResendNotification, request, token)

    async def sign(self, token: str, record_id: str, body: bytes) -> bytes:
        request = pb.SignAgreementRequest(id=record_id, body=body)
        return await _document(self._stub.SignAgreement, request, token)

    async def edit_invoice(self, token: str, record_id: str, body: bytes) -> bytes:
        request = pb.EditInvoiceRequest(id=record_id, body=body)
        return await _document(self._stub.EditInvoice, request, token)

    async def credit_note(self, token: str, record_id: str) -> bytes:
        request = pb.CreateCreditNoteRequest(id=record_id)
        return await _document(self._stub.CreateCreditNote, request, token)

    async def document(
        self, token: str, resource: str, record_id: str, kind: str = ""
    ) -> tuple[bytes, str]:
        request = pb.GetDocumentRequest(resource=resource, id=record_id, kind=kind)
        response = await call_with_token(self._stub.GetDocument, request, token)
        return bytes(response.content), response.sha256

    async def smta_csv(self, token: str) -> bytes:
        return bytes(
            (await call_with_token(self._stub.ExportSmta, pb.ExportSmtaRequest(), token)).csv
        )


class DistributionWorkerClient(ServiceTokenClient):
    def __init__(
        self, channel: grpc.aio.Channel, token_for: Callable[[TenantId], Awaitable[str]]
    ) -> None:
        super().__init__(token_for)
        self._stub = pb_grpc.DistributionWorkerServiceStub(channel)

    async def store_document(
        self, tenant: TenantId, kind: str, owner_id: str, content: bytes, source_sha256: str
    ) -> str:
        request = pb.StoreDocumentRequest(
            kind=kind, owner_id=owner_id, content=content, source_sha256=source_sha256
        )
        return str((await self._call(self._stub.StoreDocument, request, tenant)).sha256)

    async def report_mail(self, tenant: TenantId, report: MailReport) -> None:
        """Tell domain-api how a partner mail's attempt ended (ADR 0363), or when its next
        try is (ADR 0381)."""
        next_try_at = report.next_try_at
        request = pb.ReportPartnerMailRequest(
            kind=report.kind,
            id=report.record_id,
            attempt=report.attempt,
            status=report.status.value,
            at=report.at.isoformat(),
            failure="" if report.failure is None else report.failure.value,
            tries=report.tries,
            next_try_at="" if next_try_at is None else next_try_at.isoformat(),
        )
        await self._call(self._stub.ReportPartnerMail, request, tenant)

    async def partner_mail_recipient(
        self, tenant: TenantId, kind: str, record_id: str
    ) -> dict[str, Any]:
        """Who a record's partner mail goes to (ADR 0389); another organization's: NotFound."""
        request = pb.PartnerMailRecipientRequest(kind=kind, id=record_id)
        response = await self._call(self._stub.PartnerMailRecipient, request, tenant)
        found: dict[str, Any] = json.loads(response.document)
        return found
