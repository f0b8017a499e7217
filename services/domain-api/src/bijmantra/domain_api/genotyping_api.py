"""Inbound gRPC for the genotype store and analysis jobs (users and worker replicas)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
from bijmantra.adapters.grpc.genotyping import SIDE_FILE_LIMIT, SIDE_FILES
from bijmantra.application.analysis import (
    Artifact,
    AttachFigures,
    CancelAnalysis,
    ClaimAnalysis,
    CompleteAnalysis,
    DeleteAnalysis,
    FailAnalysis,
    GetAnalysis,
    GetArtifact,
    GetResultPage,
    ListAnalyses,
    ListVariantSetAnalyses,
    ReportProgress,
    RequestAnalysis,
    ReserveAnalysis,
    StreamJobGenotypes,
    decode_request,
)
from bijmantra.application.genotyping import (
    DeleteVariantSet,
    ExportGenotypes,
    GenotypeChunk,
    GetVariantSet,
    ImportGenotypes,
    ImportSpec,
    StreamGenotypes,
)
from bijmantra.application.ports import UnitOfWorkFactory
from bijmantra.application.ports.analysis import AnalysisScheduler
from bijmantra.contracts.analysis.v1 import analysis_service_pb2 as analysis_pb
from bijmantra.contracts.analysis.v1 import analysis_service_pb2_grpc as analysis_grpc
from bijmantra.contracts.genotyping.v1 import genotyping_service_pb2 as pb
from bijmantra.contracts.genotyping.v1 import genotyping_service_pb2_grpc as pb_grpc
from bijmantra.domain.analysis import Withheld
from bijmantra.domain.genotyping import GENOTYPE_FORMATS
from bijmantra.domain_api.grpc_api import current_principal
from bijmantra.domain_api.paging import requested_page
from bijmantra.domain_api.read_ahead import read_ahead
from bijmantra.domain_api.uploads import StreamedGenotypeFile
from bijmantra.kernel import FieldError, PageRequest, Unavailable, ValidationFailed

_encode = msgspec.json.encode
RESULT_PAGE_SIZE = 1000  # rows of an analysis's result table per page, unless asked


def fill_chunk(message: pb.StreamGenotypesResponse, chunk: GenotypeChunk) -> None:
    """Set a chunk's fields on ``message`` in place: wrapping a ready message in another
    (``Response(chunk=message)``) makes upb copy it the slow way, ~4 ms per 1 MB chunk."""
    message.variant_start = chunk.variant_start
    message.n_variants = chunk.n_variants
    message.n_samples = chunk.n_samples
    message.codec = chunk.codec
    message.dosages = chunk.dosages
    message.chrom.extend(chunk.chrom)
    message.pos.extend(chunk.pos)
    message.variant_db_ids.extend(chunk.variant_db_ids)


def job_chunk_message(chunk: GenotypeChunk) -> analysis_pb.StreamJobGenotypesResponse:
    response = analysis_pb.StreamJobGenotypesResponse()
    fill_chunk(response.chunk, chunk)
    return response


def chunk_message(chunk: GenotypeChunk) -> pb.StreamGenotypesResponse:
    response = pb.StreamGenotypesResponse()
    fill_chunk(response, chunk)
    return response


async def read_side_files(messages: AsyncIterator[Any]) -> tuple[dict[str, bytes], Any]:
    """The side files that follow an upload's header, each joined from its pieces (at most
    ``SIDE_FILE_LIMIT``), and the first message after them (None: no data)."""
    pieces: dict[str, list[bytes]] = {}
    sizes: dict[str, int] = dict.fromkeys(SIDE_FILES, 0)
    message = await anext(messages, None)
    while message is not None and message.HasField("side"):
        name, piece = message.side.name, message.side.data
        if name not in sizes:
            raise ValidationFailed(
                "Unknown side file", [FieldError("side", f"one of {', '.join(SIDE_FILES)}")]
            )
        sizes[name] += len(piece)
        if sizes[name] > SIDE_FILE_LIMIT:
            raise ValidationFailed(
                f"The {name} file is larger than {SIDE_FILE_LIMIT} bytes",
                [FieldError(name, f"at most {SIDE_FILE_LIMIT} bytes")],
            )
        pieces.setdefault(name, []).append(piece)
        message = await anext(messages, None)
    return {name: b"".join(parts) for name, parts in pieces.items()}, message


class GenotypingServicer(pb_grpc.GenotypingServiceServicer):
    def __init__(
        self,
        importer: ImportGenotypes,
        get: GetVariantSet,
        stream: StreamGenotypes,
        export: ExportGenotypes,
        delete: DeleteVariantSet,
    ) -> None:
        self._import, self._get, self._stream = importer, get, stream
        self._export, self._delete = export, delete

    async def ImportGenotypes(self, requests: Any, context: Any) -> pb.ImportGenotypesResponse:
        messages = aiter(requests)
        first = await anext(messages, None)
        if first is None or not first.HasField("header"):
            raise ValidationFailed(
                "The upload must start with its header", [FieldError("header", "missing")]
            )
        header = first.header
        if header.format not in GENOTYPE_FORMATS:
            raise ValidationFailed(
                "Unknown genotype format",
                [FieldError("format", f"one of {sorted(GENOTYPE_FORMATS)}")],
            )

        side_files, message = await read_side_files(messages)

        async def data() -> AsyncIterator[bytes]:
            current = message
            while current is not None:
                if not current.HasField("data"):
                    raise ValidationFailed(
                        "Only the first message may be a header, and side files come before "
                        "the data",
                        [FieldError("header", "out of place")],
                    )
                yield current.data
                current = await anext(messages, None)

        upload = StreamedGenotypeFile(
            header.format,
            data(),
            bim=side_files.get("bim", b""),
            fam=side_files.get("fam", b""),
            genetic_map=side_files.get("map", b""),
        )
        spec = ImportSpec(
            header.variant_set_name,
            header.format,
            header.common_crop_name,
            header.vendor_order_id,
        )
        summary = await self._import(current_principal(), spec, upload)
        return pb.ImportGenotypesResponse(summary_json=_encode(summary))

    async def CheckImport(
        self, request: pb.CheckImportRequest, context: Any
    ) -> pb.CheckImportResponse:
        await self._import.admits(current_principal())
        return pb.CheckImportResponse()

    async def GetVariantSet(
        self, request: pb.GetVariantSetRequest, context: Any
    ) -> pb.GetVariantSetResponse:
        found = await self._get(current_principal(), request.variant_set_db_id)
        return pb.GetVariantSetResponse(document_json=_encode(found.document()))

    async def DeleteVariantSet(
        self, request: pb.DeleteVariantSetRequest, context: Any
    ) -> pb.DeleteVariantSetResponse:
        document = await self._delete(current_principal(), request.variant_set_db_id)
        return pb.DeleteVariantSetResponse(document_json=_encode(document))

    async def StreamGenotypes(
        self, request: pb.StreamGenotypesRequest, context: Any
    ) -> AsyncIterator[Any]:
        chunks = self._stream(
            current_principal(), request.variant_set_db_id, tuple(request.call_set_db_ids)
        )
        async for chunk in read_ahead(chunks):
            yield chunk_message(chunk)

    async def ExportGenotypes(
        self, request: pb.ExportGenotypesRequest, context: Any
    ) -> AsyncIterator[pb.ExportGenotypesResponse]:
        pieces = self._export(current_principal(), request.variant_set_db_id, request.format)
        async for piece in read_ahead(pieces):
            yield pb.ExportGenotypesResponse(data=piece)


class AnalysisServicer(analysis_grpc.AnalysisServiceServicer):
    def __init__(self, uow: UnitOfWorkFactory, *, memory_budget: int) -> None:
        """Each RPC's use case, over one unit of work; ``memory_budget``: bytes one job may
        need in a worker (ADR 0338)."""
        self._request = RequestAnalysis(uow, memory_budget=memory_budget)
        self._get = GetAnalysis(uow)
        self._cancel, self._list = CancelAnalysis(uow), ListAnalyses(uow)
        self._of_variant_set = ListVariantSetAnalyses(uow)
        self._delete = DeleteAnalysis(uow)
        self._page, self._artifact = GetResultPage(uow), GetArtifact(uow)

    async def RequestAnalysis(
        self, request: Any, context: Any
    ) -> analysis_pb.RequestAnalysisResponse:
        document = await self._request(current_principal(), decode_request(request.request_json))
        return analysis_pb.RequestAnalysisResponse(document_json=_encode(document))

    async def GetAnalysis(self, request: Any, context: Any) -> analysis_pb.GetAnalysisResponse:
        document = await self._get(current_principal(), request.analysis_db_id)
        return analysis_pb.GetAnalysisResponse(document_json=_encode(document))

    async def ListAnalyses(self, request: Any, context: Any) -> analysis_pb.ListAnalysesResponse:
        documents = await self._list(
            current_principal(), limit=request.limit, active_only=request.active_only
        )
        return analysis_pb.ListAnalysesResponse(documents_json=_encode(documents))

    async def ListVariantSetAnalyses(
        self, request: Any, context: Any
    ) -> analysis_pb.ListVariantSetAnalysesResponse:
        page = PageRequest(request.page, request.page_size)
        found = await self._of_variant_set(current_principal(), request.variant_set_db_id, page)
        return analysis_pb.ListVariantSetAnalysesResponse(
            documents=[_encode(d) for d in found.items], total_count=found.total_count
        )

    async def CancelAnalysis(
        self, request: Any, context: Any
    ) -> analysis_pb.CancelAnalysisResponse:
        document = await self._cancel(current_principal(), request.analysis_db_id)
        return analysis_pb.CancelAnalysisResponse(document_json=_encode(document))

    async def DeleteAnalysis(
        self, request: Any, context: Any
    ) -> analysis_pb.DeleteAnalysisResponse:
        document = await self._delete(current_principal(), request.analysis_db_id)
        return analysis_pb.DeleteAnalysisResponse(document_json=_encode(document))

    async def GetResultPage(self, request: Any, context: Any) -> analysis_pb.GetResultPageResponse:
        page = requested_page(request, RESULT_PAGE_SIZE)
        found = await self._page(current_principal(), request.analysis_db_id, request.table, page)
        return analysis_pb.GetResultPageResponse(
            rows_json=b"[" + b",".join(found.items) + b"]", total_count=found.total_count
        )

    async def GetArtifact(self, request: Any, context: Any) -> analysis_pb.GetArtifactResponse:
        found = await self._artifact(current_principal(), request.analysis_db_id, request.name)
        if found.data is None:  # a figure still being drawn after the use case's wait
            raise Unavailable(f"{request.name} is not drawn yet; try again shortly")
        return analysis_pb.GetArtifactResponse(media_type=found.media_type, data=found.data)


class AnalysisWorkerServicer(analysis_grpc.AnalysisWorkerServiceServicer):
    def __init__(self, uow: UnitOfWorkFactory, scheduler: AnalysisScheduler) -> None:
        """Each RPC's use case, over one unit of work (and the scheduler that picks jobs)."""
        self._reserve = ReserveAnalysis(scheduler)
        self._claim, self._stream = ClaimAnalysis(uow), StreamJobGenotypes(uow)
        self._progress, self._complete = ReportProgress(uow), CompleteAnalysis(uow)
        self._attach, self._fail = AttachFigures(uow), FailAnalysis(uow)

    async def ReserveAnalysis(
        self, request: Any, context: Any
    ) -> analysis_pb.ReserveAnalysisResponse:
        reserved = await self._reserve(current_principal(), request.delivery)
        if reserved is None:
            return analysis_pb.ReserveAnalysisResponse(reserved=False)
        return analysis_pb.ReserveAnalysisResponse(
            reserved=True,
            tenant_id=str(reserved.tenant_id),
            analysis_db_id=reserved.analysis_db_id,
        )

    async def ClaimAnalysis(self, request: Any, context: Any) -> analysis_pb.ClaimAnalysisResponse:
        claim = await self._claim(current_principal(), request.analysis_db_id, request.worker)
        return analysis_pb.ClaimAnalysisResponse(
            proceed=claim.proceed,
            attempt=claim.attempt,
            job_json=_encode(claim.job),
            figures_only=claim.figures_only,
        )

    async def StreamJobGenotypes(self, request: Any, context: Any) -> AsyncIterator[Any]:
        chunks = self._stream(
            current_principal(),
            request.analysis_db_id,
            request.attempt,
            variants=not request.dosages_only,
        )
        async for chunk in read_ahead(chunks):
            yield job_chunk_message(chunk)

    async def ReportProgress(
        self, request: Any, context: Any
    ) -> analysis_pb.ReportProgressResponse:
        proceed = await self._progress(
            current_principal(),
            request.analysis_db_id,
            request.attempt,
            request.fraction,
            request.stage,
        )
        return analysis_pb.ReportProgressResponse(proceed=proceed)

    async def CompleteAnalysis(
        self, request: Any, context: Any
    ) -> analysis_pb.CompleteAnalysisResponse:
        try:
            summary = msgspec.json.decode(request.summary_json) if request.summary_json else {}
        except msgspec.DecodeError as exc:
            raise ValidationFailed(
                "summary_json is not JSON", [FieldError("summary_json", str(exc))]
            ) from None
        accepted = await self._complete(
            current_principal(),
            request.analysis_db_id,
            request.attempt,
            summary=summary,
            tables={t.name: t.rows_json for t in request.tables},
            artifacts=[
                Artifact(a.name, a.media_type, a.data, a.upper_triangle) for a in request.artifacts
            ]
            + [Artifact(f.name, f.media_type, None) for f in request.figures],
            timings={
                "readSeconds": request.read_seconds,
                "computeSeconds": request.compute_seconds,
            },
        )
        return analysis_pb.CompleteAnalysisResponse(accepted=accepted)

    async def AttachFigures(self, request: Any, context: Any) -> analysis_pb.AttachFiguresResponse:
        attached = await self._attach(
            current_principal(),
            request.analysis_db_id,
            [Artifact(f.name, f.media_type, f.data) for f in request.figures],
            {w.name: _withheld(w.reason) for w in request.withheld},
        )
        return analysis_pb.AttachFiguresResponse(attached=attached)

    async def FailAnalysis(self, request: Any, context: Any) -> analysis_pb.FailAnalysisResponse:
        accepted = await self._fail(
            current_principal(), request.analysis_db_id, request.attempt, request.message
        )
        return analysis_pb.FailAnalysisResponse(accepted=accepted)


def _withheld(reason: str) -> Withheld:
    try:
        return Withheld(reason)
    except ValueError:
        known = ", ".join(w.value for w in Withheld)
        field = FieldError("withheld.reason", f"one of {known}")
        raise ValidationFailed("Unknown reason for a withheld figure", [field]) from None
