"""Organization export for administrators (ADR 0285): ask for one, follow it, download it.

The same ExportService as ``/api/v1/organization/exports``, with the session's token.
"""

from __future__ import annotations

from typing import Any

from bijmantra.application.tenancy.exports import EXPORT
from bijmantra.gateway.console.web import PREFIX, view
from bijmantra.gateway.exports import archive_response, export_view
from bijmantra.kernel import Conflict
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.response import Redirect, Stream, Template


@get(f"{PREFIX}/export", name="console:export")
async def export_page(request: Request[Any, Any, Any], state: State) -> Template:
    page = view(request, EXPORT)
    export_id = request.query_params.get("id", "")
    job = export_view(await state.exports.get(page.token, export_id)) if export_id else None
    return page.render("admin/export.html", job=job, error="")


@post(f"{PREFIX}/export", name="console:export-request")
async def ask_for_export(request: Request[Any, Any, Any], state: State) -> Redirect | Template:
    page = view(request, EXPORT)
    try:
        job = export_view(await state.exports.request(page.token))
    except Conflict as error:
        return page.render("admin/export.html", job=None, error=error.message, status_code=409)
    return Redirect(f"{PREFIX}/export?id={job.id}")


@get(f"{PREFIX}/export/{{export_id:str}}/archive", name="console:export-archive")
async def download(request: Request[Any, Any, Any], state: State, export_id: str) -> Stream:
    page = view(request, EXPORT)
    return archive_response(*await state.exports.download(page.token, export_id))


ROUTES = [export_page, ask_for_export, download]
