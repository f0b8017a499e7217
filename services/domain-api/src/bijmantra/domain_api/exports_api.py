"""Inbound gRPC for organization exports (ADR 0285), and the export runner's periodic pass."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import msgspec
from bijmantra.adapters.postgres import libpq_url
from bijmantra.adapters.postgres.export_runner import clear_scratch, run_exports_once
from bijmantra.application.tenancy.exports import (
    DownloadExport,
    ExportsUnitOfWorkFactory,
    RequestExport,
    ShowExport,
    export_view,
)
from bijmantra.contracts.tenancy.v1 import export_service_pb2 as pb
from bijmantra.contracts.tenancy.v1 import export_service_pb2_grpc as pb_grpc
from bijmantra.domain_api.grpc_api import current_principal
from bijmantra.kernel import SystemClock
from bijmantra.observability import get_logger
from bijmantra.observability.metrics import Periodic

_encode = msgspec.json.encode
# How often a replica with the owner's URL looks for queued exports and expired archives.
EXPORT_POLL_SECONDS = 2.0
log = get_logger(__name__)


class ExportServicer(pb_grpc.ExportServiceServicer):
    def __init__(self, request: RequestExport, show: ShowExport, download: DownloadExport) -> None:
        self._request, self._show, self._download = request, show, download

    async def RequestExport(
        self, request: pb.RequestExportRequest, context: Any
    ) -> pb.RequestExportResponse:
        job = await self._request(current_principal())
        return pb.RequestExportResponse(document=_encode(export_view(job)))

    async def GetExport(self, request: pb.GetExportRequest, context: Any) -> pb.GetExportResponse:
        job = await self._show(current_principal(), request.export_id)
        return pb.GetExportResponse(document=_encode(export_view(job)))

    async def DownloadExport(
        self, request: pb.DownloadExportRequest, context: Any
    ) -> AsyncIterator[pb.DownloadExportResponse]:
        principal = current_principal()
        job = await self._download.open(principal, request.export_id)
        yield pb.DownloadExportResponse(document=_encode(export_view(job)))
        async for piece in self._download.pieces(principal, job):
            yield pb.DownloadExportResponse(data=piece)


def add_export_service(server: grpc.aio.Server, uow: ExportsUnitOfWorkFactory) -> None:
    servicer = ExportServicer(RequestExport(uow), ShowExport(uow), DownloadExport(uow))
    pb_grpc.add_ExportServiceServicer_to_server(servicer, server)


def export_runner(owner_url: str, scratch: str) -> Periodic:
    """The runner's periodic pass (in a thread: the archive code is synchronous psycopg)."""
    clock, folder = SystemClock(), Path(scratch or tempfile.gettempdir())

    async def run() -> None:
        await asyncio.to_thread(run_exports_once, libpq_url(owner_url), clock.now, folder)

    return EXPORT_POLL_SECONDS, run


async def run_exports_until(stop: asyncio.Event, owner_url: str, scratch: str) -> None:
    """The runner alone (``bijmantra-domain-api export-runner``, ADR 0287): the one process
    that holds the owner's URL, so the API replicas need not. A failed pass is logged and
    the next one tries again (a claimed job is taken over once its runner falls silent)."""
    interval, run = export_runner(owner_url, scratch)
    # The runner's own scratch space keeps what a killed predecessor in this pod left.
    left = clear_scratch(Path(scratch)) if scratch else 0
    log.info("export runner started", poll_seconds=interval, scratch_cleared=left)
    while not stop.is_set():
        try:
            await run()
        except Exception:
            log.warning("export pass failed", exc_info=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
