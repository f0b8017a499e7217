"""Inbound gRPC for the distribution context: records, lifecycles, documents, the export,
and the worker's side (storing rendered PDFs, reporting partner mail)."""

from __future__ import annotations

from typing import Any

import msgspec
from bijmantra.application.distribution.mail import parse_report
from bijmantra.application.distribution.service import Distribution
from bijmantra.contracts.distribution.v1 import distribution_service_pb2 as pb
from bijmantra.contracts.distribution.v1 import distribution_service_pb2_grpc as pb_grpc
from bijmantra.domain_api.grpc_api import current_principal
from bijmantra.domain_api.paging import page_fields, requested_page

_encode = msgspec.json.encode
PDF = "application/pdf"


class DistributionServicer(pb_grpc.DistributionServiceServicer):
    def __init__(self, distribution: Distribution) -> None:
        self._d = distribution

    async def CreateRecord(
        self, request: pb.CreateRecordRequest, context: Any
    ) -> pb.CreateRecordResponse:
        document = await self._d.of(request.resource).create(current_principal(), request.body)
        return pb.CreateRecordResponse(document=_encode(document))

    async def GetRecord(self, request: pb.GetRecordRequest, context: Any) -> pb.GetRecordResponse:
        document = await self._d.of(request.resource).get(current_principal(), request.id)
        return pb.GetRecordResponse(document=_encode(document))

    async def ListRecords(
        self, request: pb.ListRecordsRequest, context: Any
    ) -> pb.ListRecordsResponse:
        result = await self._d.of(request.resource).list(
            current_principal(), requested_page(request), request.status or None
        )
        return pb.ListRecordsResponse(**page_fields(result, _encode))

    async def ApplyAction(
        self, request: pb.ApplyActionRequest, context: Any
    ) -> pb.ApplyActionResponse:
        use_cases = self._d.of(request.resource)
        document = await use_cases.act(current_principal(), request.id, request.body)
        return pb.ApplyActionResponse(document=_encode(document))

    async def ResendNotification(
        self, request: pb.ResendNotificationRequest, context: Any
    ) -> pb.ResendNotificationResponse:
        use_cases = self._d.of(request.resource)
        document = await use_cases.resend_notification(current_principal(), request.id)
        return pb.ResendNotificationResponse(document=_encode(document))

    async def SignAgreement(
        self, request: pb.SignAgreementRequest, context: Any
    ) -> pb.SignAgreementResponse:
        document = await self._d.agreements.sign(current_principal(), request.id, request.body)
        return pb.SignAgreementResponse(document=_encode(document))

    async def EditInvoice(
        self, request: pb.EditInvoiceRequest, context: Any
    ) -> pb.EditInvoiceResponse:
        document = await self._d.invoices.edit(current_principal(), request.id, request.body)
        return pb.EditInvoiceResponse(document=_encode(document))

    async def CreateCreditNote(
        self, request: pb.CreateCreditNoteRequest, context: Any
    ) -> pb.CreateCreditNoteResponse:
        document = await self._d.invoices.credit(current_principal(), request.id)
        return pb.CreateCreditNoteResponse(document=_encode(document))

    async def GetDocument(
        self, request: pb.GetDocumentRequest, context: Any
    ) -> pb.GetDocumentResponse:
        kind = request.kind or self._d.kind(request.resource)
        stored = await self._d.documents.pdf(current_principal(), request.id, kind)
        return pb.GetDocumentResponse(content=stored.content, sha256=stored.sha256, media_type=PDF)

    async def ExportSmta(
        self, request: pb.ExportSmtaRequest, context: Any
    ) -> pb.ExportSmtaResponse:
        return pb.ExportSmtaResponse(csv=await self._d.agreements.smta_csv(current_principal()))


class DistributionWorkerServicer(pb_grpc.DistributionWorkerServiceServicer):
    def __init__(self, distribution: Distribution) -> None:
        self._d = distribution

    async def StoreDocument(
        self, request: pb.StoreDocumentRequest, context: Any
    ) -> pb.StoreDocumentResponse:
        sha256 = await self._d.documents.store(
            current_principal(),
            request.kind,
            request.owner_id,
            request.content,
            request.source_sha256,
        )
        return pb.StoreDocumentResponse(sha256=sha256)

    async def ReportPartnerMail(
        self, request: pb.ReportPartnerMailRequest, context: Any
    ) -> pb.ReportPartnerMailResponse:
        report = parse_report(
            request.kind,
            request.id,
            request.attempt,
            request.status,
            request.at,
            request.failure,
            request.tries,
            request.next_try_at,
        )
        document = await self._d.report_mail(current_principal(), report)
        return pb.ReportPartnerMailResponse(notification=_encode(document.get("notification")))

    async def PartnerMailRecipient(
        self, request: pb.PartnerMailRecipientRequest, context: Any
    ) -> pb.PartnerMailRecipientResponse:
        found = await self._d.partner_mail_recipient(current_principal(), request.kind, request.id)
        return pb.PartnerMailRecipientResponse(document=_encode(found))
