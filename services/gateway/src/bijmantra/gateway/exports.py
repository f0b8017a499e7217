"""``/api/v1/organization/exports``: an organization admin exports all of its data (ADR 0285).

``POST`` queues a job (202, the job in the envelope, ``Location`` to follow it); ``GET
…/{id}`` shows its status and progress; ``GET …/{id}/archive`` streams the finished archive
as an attachment. Every call is the caller's organization's: another organization's export
id is not found.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from bijmantra.application.tenancy.exports import EXPORT, ExportView
from bijmantra.edge import content_disposition
from bijmantra.edge.envelopes import Envelope, platform_body
from bijmantra.edge.requests import request_id
from bijmantra.gateway.forwarding import BODYLESS
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.response import Stream

ADMIN = {"permission": EXPORT}
BASE = "/api/v1/organization/exports"
_view = msgspec.json.Decoder(ExportView)


ExportEnvelope = Envelope[ExportView]  # one export job in the platform envelope (ADR 0250)
ANSWERS_ONE = {**ADMIN, "returns": ExportEnvelope}


def export_view(document: bytes) -> ExportView:
    return _view.decode(document)


def _envelope(request: Request[Any, Any, Any], document: bytes) -> ExportEnvelope:
    view = _view.decode(document)
    links = {"self": f"{BASE}/{view.id}"}
    if view.status == "ready":
        links["archive"] = f"{BASE}/{view.id}/archive"
    return platform_body(view, request_id(request), links)


@post(BASE, opt={**ANSWERS_ONE, BODYLESS: True}, status_code=202, request_max_body_size=1024)
async def request_export(request: Request[Any, Any, Any], state: State) -> Response[ExportEnvelope]:
    """Queue an export of every row of the caller's organization (admins only)."""
    body = _envelope(request, await state.exports.request(request.auth))
    return Response(body, status_code=202, headers={"Location": body.links["self"]})


@get(BASE + "/{export_id:str}", opt=ANSWERS_ONE)
async def show_export(
    request: Request[Any, Any, Any], state: State, export_id: str
) -> ExportEnvelope:
    """An export's status, progress and, once ready, its archive's size and SHA-256."""
    return _envelope(request, await state.exports.get(request.auth, export_id))


def archive_response(document: bytes, pieces: AsyncIterator[bytes]) -> Stream:
    """A ready archive as a streamed attachment, with its size and SHA-256 (also the
    console's download)."""
    view = _view.decode(document)
    name = f"organization-export-{view.id}.tar"
    headers = {"Content-Disposition": content_disposition(name)}
    if view.archive_bytes is not None:
        headers["Content-Length"] = str(view.archive_bytes)
    if view.archive_sha256:  # RFC 9530: the archive's SHA-256, base64 between colons
        digest = base64.b64encode(bytes.fromhex(view.archive_sha256)).decode()
        headers["Repr-Digest"] = f"sha-256=:{digest}:"
    return Stream(pieces, media_type="application/x-tar", headers=headers)


@get(BASE + "/{export_id:str}/archive", opt=ADMIN)
async def download_export(request: Request[Any, Any, Any], state: State, export_id: str) -> Stream:
    """The archive (tar: manifest.json and one COPY file per table), streamed."""
    return archive_response(*await state.exports.download(request.auth, export_id))


ROUTES = [request_export, show_export, download_export]
