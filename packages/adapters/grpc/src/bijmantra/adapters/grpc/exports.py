"""Client of domain-api's ExportService (ADR 0285); forwards the caller's token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from bijmantra.adapters.grpc.auth import bearer_metadata
from bijmantra.adapters.grpc.calls import call_with_token
from bijmantra.adapters.grpc.errors import error_from_rpc
from bijmantra.contracts.tenancy.v1 import export_service_pb2 as pb
from bijmantra.contracts.tenancy.v1 import export_service_pb2_grpc as pb_grpc
from bijmantra.kernel import Unavailable

import grpc

DEFAULT_TIMEOUT = 30.0
DOWNLOAD_TIMEOUT = 3600.0  # a large archive over a slow client


class ExportClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = pb_grpc.ExportServiceStub(channel)

    async def _call(self, method: Any, request: Any, token: str) -> bytes:
        return bytes((await call_with_token(method, request, token, DEFAULT_TIMEOUT)).document)

    async def request(self, token: str) -> bytes:
        """The queued job's JSON document."""
        return await self._call(self._stub.RequestExport, pb.RequestExportRequest(), token)

    async def get(self, token: str, export_id: str) -> bytes:
        return await self._call(
            self._stub.GetExport, pb.GetExportRequest(export_id=export_id), token
        )

    async def download(self, token: str, export_id: str) -> tuple[bytes, AsyncIterator[bytes]]:
        """The job's document (raises before any byte when there is no archive), then the
        archive's pieces as they arrive."""
        call = self._stub.DownloadExport(
            pb.DownloadExportRequest(export_id=export_id),
            metadata=bearer_metadata(token),
            timeout=DOWNLOAD_TIMEOUT,
        )
        try:
            first = await call.read()
        except grpc.aio.AioRpcError as exc:
            call.cancel()
            raise error_from_rpc(exc) from None
        if not isinstance(first, pb.DownloadExportResponse):  # the stream's end marker
            call.cancel()
            raise Unavailable("domain-api ended the download before sending the export")

        async def pieces() -> AsyncIterator[bytes]:
            try:
                while isinstance(piece := await call.read(), pb.DownloadExportResponse):
                    yield piece.data
            except grpc.aio.AioRpcError as exc:
                raise error_from_rpc(exc) from None
            finally:
                call.cancel()

        return bytes(first.document), pieces()
