"""Clients of domain-api's genotype store and analysis jobs.

``GenotypingClient`` and ``AnalysisClient`` forward a user's token (gateway);
``AnalysisWorkerClient`` signs a service token for the job's tenant (analytics-worker).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bijmantra.adapters.grpc.auth import bearer_metadata
from bijmantra.adapters.grpc.calls import ServiceTokenClient, call_with_token, stream_with_token
from bijmantra.adapters.grpc.errors import error_from_rpc
from bijmantra.contracts.analysis.v1 import analysis_service_pb2 as analysis_pb
from bijmantra.contracts.analysis.v1 import analysis_service_pb2_grpc as analysis_grpc
from bijmantra.contracts.genotyping.v1 import genotyping_service_pb2 as pb
from bijmantra.contracts.genotyping.v1 import genotyping_service_pb2_grpc as pb_grpc
from bijmantra.domain.analysis.scheduling import Reservation
from bijmantra.kernel import Page, PageRequest, TenantId

import grpc

UPLOAD_TIMEOUT = 3600.0
# A variant set's delete is one transaction over all of its chunks (ADR 0345), measured at
# 16 s for 10^10 calls (2.7 GB packed): whatever an import could write within its own
# deadline is deleted within the same. Past it the delete is cancelled and rolls back whole.
DELETE_TIMEOUT = UPLOAD_TIMEOUT
# Large enough for an upload's .bim/.fam header, a genotype chunk, a result set or a GRM as
# .npy; clients and domain-api's server both bound one message by it.
MAX_MESSAGE_BYTES = 512 * 1024 * 1024
# Each side file of an upload (.bim, .fam, .map), sent in pieces after the header: a .bim of
# ~5M variants. domain-api holds it whole to parse it.
SIDE_FILE_LIMIT = 256 << 20
SIDE_FILES = ("bim", "fam", "map")
MESSAGE_SIZE_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]
CHANNEL_OPTIONS = [
    *MESSAGE_SIZE_OPTIONS,
    ("grpc.keepalive_time_ms", 30_000),
    # A restarted upstream is used again within a second (gRPC's default backoff grows to 120 s).
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 1_000),
]


@dataclass(frozen=True, slots=True)
class DosageChunk:
    variant_start: int
    n_variants: int
    n_samples: int
    codec: str
    dosages: bytes
    chrom: list[str]
    pos: list[int]
    variant_db_ids: list[str]


def _chunk(message: Any) -> DosageChunk:
    return DosageChunk(
        message.variant_start,
        message.n_variants,
        message.n_samples,
        message.codec,
        message.dosages,
        list(message.chrom),
        list(message.pos),
        list(message.variant_db_ids),
    )


async def _chunks(
    messages: AsyncIterator[Any], field: str | None = None
) -> AsyncIterator[DosageChunk]:
    async for message in messages:
        yield _chunk(getattr(message, field) if field else message)


async def _document(method: Any, request: Any, token: str) -> bytes:
    """The ``document_json`` of a job or variant-set RPC's response, as JSON bytes."""
    return bytes((await call_with_token(method, request, token)).document_json)


class GenotypingClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = pb_grpc.GenotypingServiceStub(channel)

    async def import_file(
        self,
        token: str,
        *,
        source_format: str,
        name: str,
        crop: str,
        data: AsyncIterator[bytes],
        side_files: Sequence[tuple[str, AsyncIterator[bytes]]] = (),
        vendor_order_id: str = "",
    ) -> bytes:
        """Stream an upload to domain-api: the header, each side file (``bim``, ``fam``,
        ``map``) in pieces, then ``data``; returns the import summary (JSON). No message
        holds a whole file (ADR 0376)."""

        async def requests() -> AsyncIterator[pb.ImportGenotypesRequest]:
            header = pb.ImportHeader(
                format=source_format,
                variant_set_name=name,
                common_crop_name=crop,
                vendor_order_id=vendor_order_id,
            )
            yield pb.ImportGenotypesRequest(header=header)
            for side_name, pieces in side_files:
                async for piece in pieces:
                    side = pb.SideFilePiece(name=side_name, data=piece)
                    yield pb.ImportGenotypesRequest(side=side)
            async for piece in data:
                if piece:
                    yield pb.ImportGenotypesRequest(data=piece)

        upload = self._stub.ImportGenotypes
        try:  # the one client-streaming call: call_with_token takes unary ones
            response = await upload(
                requests(), metadata=bearer_metadata(token), timeout=UPLOAD_TIMEOUT
            )
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from None
        return bytes(response.summary_json)

    async def check_import(self, token: str) -> None:
        """Raise the quota's 429 when the organization's day of genotype calls is used up
        (ADR 0340): asked before a multipart upload is read."""
        request = pb.CheckImportRequest()
        await call_with_token(self._stub.CheckImport, request, token, keyed=False)

    async def get_variant_set(self, token: str, variant_set_db_id: str) -> bytes:
        request = pb.GetVariantSetRequest(variant_set_db_id=variant_set_db_id)
        return await _document(self._stub.GetVariantSet, request, token)

    async def delete_variant_set(self, token: str, variant_set_db_id: str) -> bytes:
        """Remove the set and its calls (ADR 0345); a large set's delete takes its time."""
        request = pb.DeleteVariantSetRequest(variant_set_db_id=variant_set_db_id)
        reply = await call_with_token(self._stub.DeleteVariantSet, request, token, DELETE_TIMEOUT)
        return bytes(reply.document_json)

    def stream_genotypes(
        self, token: str, variant_set_db_id: str, call_set_db_ids: Sequence[str] = ()
    ) -> AsyncIterator[DosageChunk]:
        request = pb.StreamGenotypesRequest(
            variant_set_db_id=variant_set_db_id, call_set_db_ids=call_set_db_ids
        )
        return _chunks(
            stream_with_token(self._stub.StreamGenotypes, request, token, UPLOAD_TIMEOUT)
        )

    async def export_genotypes(
        self, token: str, variant_set_db_id: str, file_format: str
    ) -> AsyncIterator[bytes]:
        """The file's text piece by piece (the first piece is the header)."""
        request = pb.ExportGenotypesRequest(variant_set_db_id=variant_set_db_id, format=file_format)
        pieces = stream_with_token(self._stub.ExportGenotypes, request, token, UPLOAD_TIMEOUT)
        async for message in pieces:
            yield message.data


class AnalysisClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = analysis_grpc.AnalysisServiceStub(channel)

    async def request(self, token: str, body: bytes) -> bytes:
        request = analysis_pb.RequestAnalysisRequest(request_json=body)
        return await _document(self._stub.RequestAnalysis, request, token)

    async def get(self, token: str, analysis_db_id: str) -> bytes:
        request = analysis_pb.GetAnalysisRequest(analysis_db_id=analysis_db_id)
        return await _document(self._stub.GetAnalysis, request, token)

    async def recent(self, token: str, *, limit: int, active_only: bool) -> bytes:
        """A JSON array of the organization's job documents, running ones first."""
        request = analysis_pb.ListAnalysesRequest(limit=limit, active_only=active_only)
        reply = await call_with_token(self._stub.ListAnalyses, request, token)
        return bytes(reply.documents_json)

    async def of_variant_set(
        self, token: str, variant_set_db_id: str, page: PageRequest
    ) -> Page[bytes]:
        """One page of the job documents computed from ``variant_set_db_id``, newest first."""
        request = analysis_pb.ListVariantSetAnalysesRequest(
            variant_set_db_id=variant_set_db_id, page=page.page, page_size=page.page_size
        )
        reply = await call_with_token(self._stub.ListVariantSetAnalyses, request, token)
        return Page(list(reply.documents), page, reply.total_count)

    async def cancel(self, token: str, analysis_db_id: str) -> bytes:
        request = analysis_pb.CancelAnalysisRequest(analysis_db_id=analysis_db_id)
        return await _document(self._stub.CancelAnalysis, request, token)

    async def delete(self, token: str, analysis_db_id: str) -> bytes:
        request = analysis_pb.DeleteAnalysisRequest(analysis_db_id=analysis_db_id)
        return await _document(self._stub.DeleteAnalysis, request, token)

    async def result_page(
        self, token: str, analysis_db_id: str, table: str, page: PageRequest
    ) -> Page[bytes]:
        request = analysis_pb.GetResultPageRequest(
            analysis_db_id=analysis_db_id, table=table, page=page.page, page_size=page.page_size
        )
        response = await call_with_token(self._stub.GetResultPage, request, token)
        return Page([response.rows_json], page, response.total_count)

    async def artifact(self, token: str, analysis_db_id: str, name: str) -> tuple[str, bytes]:
        request = analysis_pb.GetArtifactRequest(analysis_db_id=analysis_db_id, name=name)
        response = await call_with_token(self._stub.GetArtifact, request, token)
        return response.media_type, response.data


@dataclass(frozen=True, slots=True)
class WorkerClaim:
    proceed: bool
    attempt: int
    job_json: bytes
    figures_only: bool = False


class AnalysisWorkerClient(ServiceTokenClient):
    """The worker's side of the attempt protocol."""

    def __init__(
        self, channel: grpc.aio.Channel, token_for: Callable[[TenantId], Awaitable[str]]
    ) -> None:
        super().__init__(token_for)
        self._stub = analysis_grpc.AnalysisWorkerServiceStub(channel)

    async def reserve(self, tenant: TenantId, delivery: str) -> Reservation | None:
        """The job this delivery runs (ADR 0329), asked with the message's organization's token;
        the answer may be another organization's job."""
        request = analysis_pb.ReserveAnalysisRequest(delivery=delivery)
        response = await self._call(self._stub.ReserveAnalysis, request, tenant)
        if not response.reserved:
            return None
        return Reservation(TenantId(uuid.UUID(response.tenant_id)), response.analysis_db_id)

    async def claim(self, tenant: TenantId, analysis_db_id: str, worker: str) -> WorkerClaim:
        request = analysis_pb.ClaimAnalysisRequest(analysis_db_id=analysis_db_id, worker=worker)
        response = await self._call(self._stub.ClaimAnalysis, request, tenant)
        return WorkerClaim(
            response.proceed, response.attempt, response.job_json, response.figures_only
        )

    async def genotypes(
        self, tenant: TenantId, analysis_db_id: str, attempt: int, *, variants: bool = True
    ) -> AsyncIterator[DosageChunk]:
        """The job's chunks; ``variants=False``: dosages only (chrom, pos, ids left empty)."""
        request = analysis_pb.StreamJobGenotypesRequest(
            analysis_db_id=analysis_db_id, attempt=attempt, dosages_only=not variants
        )
        token = await self._token_for(tenant)
        call = stream_with_token(self._stub.StreamJobGenotypes, request, token, UPLOAD_TIMEOUT)
        async for chunk in _chunks(call, "chunk"):
            yield chunk

    async def progress(
        self, tenant: TenantId, analysis_db_id: str, attempt: int, fraction: float, stage: str
    ) -> bool:
        request = analysis_pb.ReportProgressRequest(
            analysis_db_id=analysis_db_id, attempt=attempt, fraction=fraction, stage=stage
        )
        return bool((await self._call(self._stub.ReportProgress, request, tenant)).proceed)

    async def complete(
        self,
        tenant: TenantId,
        analysis_db_id: str,
        attempt: int,
        *,
        summary: bytes,
        tables: dict[str, bytes],
        artifacts: list[tuple[str, str, bytes, bool]],
        figures: list[tuple[str, str]],
        read_seconds: float,
        compute_seconds: float,
    ) -> bool:
        request = analysis_pb.CompleteAnalysisRequest(
            analysis_db_id=analysis_db_id,
            attempt=attempt,
            summary_json=summary,
            read_seconds=read_seconds,
            compute_seconds=compute_seconds,
        )
        # Built in place with add(): passing ready messages (``artifacts=[Artifact(...)]``)
        # makes upb copy each one the slow way, ~0.1-0.4 s for a 16 MB GRM (ADR 0070).
        for name, rows in tables.items():
            request.tables.add(name=name, rows_json=rows)
        for name, media_type, data, upper_triangle in artifacts:
            request.artifacts.add(
                name=name, media_type=media_type, data=data, upper_triangle=upper_triangle
            )
        for name, media_type in figures:
            request.figures.add(name=name, media_type=media_type)
        return bool((await self._call(self._stub.CompleteAnalysis, request, tenant, 300)).accepted)

    async def attach_figures(
        self,
        tenant: TenantId,
        analysis_db_id: str,
        figures: list[tuple[str, str, bytes]],
        withheld: Mapping[str, str] | None = None,
    ) -> int:
        """Attach ``figures``; ``withheld`` names figures that will never come, with why."""
        request = analysis_pb.AttachFiguresRequest(analysis_db_id=analysis_db_id)
        for name, media_type, data in figures:
            request.figures.add(name=name, media_type=media_type, data=data)
        for name, reason in (withheld or {}).items():
            request.withheld.add(name=name, reason=reason)
        response = await self._call(self._stub.AttachFigures, request, tenant)
        return int(response.attached)

    async def fail(self, tenant: TenantId, analysis_db_id: str, attempt: int, message: str) -> bool:
        request = analysis_pb.FailAnalysisRequest(
            analysis_db_id=analysis_db_id, attempt=attempt, message=message
        )
        return bool((await self._call(self._stub.FailAnalysis, request, tenant)).accepted)
