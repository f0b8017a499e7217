"""Platform API routes of the operations context (``/api/v1``): seasons, work items,
comments, time entries, dependencies, activity and the breeding links.

Single documents carry their ETag as a header; writes honour ``If-Match`` (stale -> 412).
Documents from domain-api are spliced into the ``{data, meta, links}`` envelope as bytes.
"""

from __future__ import annotations

from typing import Any

import msgspec
from bijmantra.application.operations import READ, WRITE
from bijmantra.application.operations.dto import (
    BurndownDocument,
    CommentDocument,
    DependencyDocument,
    PlotOrderDocument,
    RemovedDependency,
    RoundProgressDocument,
    SeasonDocument,
    TimeEntryDocument,
    WorkItemActivityDocument,
    WorkItemDocument,
)
from bijmantra.edge.envelopes import Envelope, PageEnvelope
from bijmantra.gateway.compliance import page_body, page_query
from bijmantra.kernel import FieldError, ValidationFailed
from litestar import Request, Response, delete, get, patch, post
from litestar.datastructures import State

JSON = "application/json"
MAX_BODY = 1024 * 1024  # 10,000 unit ids of a harvest fit with room to spare
PAGING = frozenset({"page", "page_size"})
_encode = msgspec.json.encode
Req = Request[Any, Any, Any]
READS = {"permission": READ}
WRITES = {"permission": WRITE}


def _single(
    request: Req, document: bytes, etag: str | None = None, status: int = 200
) -> Response[bytes]:
    meta = _encode({"request_id": request.scope.get("state", {}).get("request_id")})
    body = b"".join((b'{"data":', document, b',"meta":', meta, b',"links":{}}'))
    headers = {"ETag": etag} if etag else None
    return Response(body, status_code=status, media_type=JSON, headers=headers)


def _if_match(request: Req) -> dict[str, str]:
    value = request.headers.get("if-match")
    return {} if value is None else {"if_match": value}


def _required(request: Req, name: str) -> str:
    value = request.query_params.get(name, "")
    if not value:
        raise ValidationFailed(
            f"Query parameter {name} is required", [FieldError(name, "required")]
        )
    return value


# Seasons
@post(
    "/api/v1/seasons",
    opt={**WRITES, "returns": Envelope[SeasonDocument]},
    request_max_body_size=MAX_BODY,
)
async def create_season(request: Req, state: State) -> Response[bytes]:
    document, etag = await state.operations.document(
        "CreateSeason", request.auth, body=await request.body()
    )
    return _single(request, document, etag, 201)


@get("/api/v1/seasons", opt={**READS, "returns": PageEnvelope[SeasonDocument]})
async def list_seasons(request: Req, state: State) -> Response[bytes]:
    return page_body(
        request, await state.operations.page("ListSeasons", request.auth, page_query(request))
    )


@get("/api/v1/seasons/{season_id:str}", opt={**READS, "returns": Envelope[SeasonDocument]})
async def get_season(request: Req, state: State, season_id: str) -> Response[bytes]:
    document, etag = await state.operations.document("GetSeason", request.auth, season_id=season_id)
    return _single(request, document, etag)


@patch(
    "/api/v1/seasons/{season_id:str}",
    opt={**WRITES, "returns": Envelope[SeasonDocument]},
    request_max_body_size=MAX_BODY,
)
async def update_season(request: Req, state: State, season_id: str) -> Response[bytes]:
    document, etag = await state.operations.document(
        "UpdateSeason",
        request.auth,
        season_id=season_id,
        body=await request.body(),
        **_if_match(request),
    )
    return _single(request, document, etag)


@get(
    "/api/v1/seasons/{season_id:str}/burndown", opt={**READS, "returns": Envelope[BurndownDocument]}
)
async def season_burndown(request: Req, state: State, season_id: str) -> Response[bytes]:
    return _single(
        request, await state.operations.raw("GetBurndown", request.auth, season_id=season_id)
    )


# Work items
@post(
    "/api/v1/work-items",
    opt={**WRITES, "returns": Envelope[WorkItemDocument]},
    request_max_body_size=MAX_BODY,
)
async def create_work_item(request: Req, state: State) -> Response[bytes]:
    document, etag = await state.operations.document(
        "CreateWorkItem", request.auth, body=await request.body()
    )
    return _single(request, document, etag, 201)


@get("/api/v1/work-items", opt={**READS, "returns": PageEnvelope[WorkItemDocument]})
async def list_work_items(request: Req, state: State) -> Response[bytes]:
    """A board page: ``parent_id`` (an operation's or plan's board), ``season_id``,
    ``status``, ``kind``, ``assignee`` ("my tasks"), in board order."""
    filters = {k: v for k, v in request.query_params.items() if k not in PAGING}
    page = await state.operations.page(
        "ListWorkItems", request.auth, page_query(request), filters=filters
    )
    return page_body(request, page)


@get("/api/v1/work-items/{item_id:str}", opt={**READS, "returns": Envelope[WorkItemDocument]})
async def get_work_item(request: Req, state: State, item_id: str) -> Response[bytes]:
    document, etag = await state.operations.document(
        "GetWorkItem", request.auth, work_item_id=item_id
    )
    return _single(request, document, etag)


@patch(
    "/api/v1/work-items/{item_id:str}",
    opt={**WRITES, "returns": Envelope[WorkItemDocument]},
    request_max_body_size=MAX_BODY,
)
async def update_work_item(request: Req, state: State, item_id: str) -> Response[bytes]:
    document, etag = await state.operations.document(
        "UpdateWorkItem",
        request.auth,
        work_item_id=item_id,
        body=await request.body(),
        **_if_match(request),
    )
    return _single(request, document, etag)


@post(
    "/api/v1/work-items/{item_id:str}/comments",
    opt={**WRITES, "returns": Envelope[CommentDocument]},
    request_max_body_size=MAX_BODY,
)
async def add_comment(request: Req, state: State, item_id: str) -> Response[bytes]:
    document = await state.operations.raw(
        "AddComment", request.auth, work_item_id=item_id, body=await request.body()
    )
    return _single(request, document, status=201)


async def _item_page(request: Req, state: State, rpc: str, item_id: str) -> Response[bytes]:
    page = await state.operations.page(rpc, request.auth, page_query(request), work_item_id=item_id)
    return page_body(request, page)


@get(
    "/api/v1/work-items/{item_id:str}/comments",
    opt={**READS, "returns": PageEnvelope[CommentDocument]},
)
async def list_comments(request: Req, state: State, item_id: str) -> Response[bytes]:
    return await _item_page(request, state, "ListComments", item_id)


@get(
    "/api/v1/work-items/{item_id:str}/time-entries",
    opt={**READS, "returns": PageEnvelope[TimeEntryDocument]},
)
async def list_item_time(request: Req, state: State, item_id: str) -> Response[bytes]:
    return await _item_page(request, state, "ListTimeEntries", item_id)


@get(
    "/api/v1/work-items/{item_id:str}/dependencies",
    opt={**READS, "returns": PageEnvelope[DependencyDocument]},
)
async def list_item_dependencies(request: Req, state: State, item_id: str) -> Response[bytes]:
    return await _item_page(request, state, "ListDependencies", item_id)


@get(
    "/api/v1/work-items/{item_id:str}/activity",
    opt={**READS, "returns": PageEnvelope[WorkItemActivityDocument]},
)
async def list_item_activity(request: Req, state: State, item_id: str) -> Response[bytes]:
    return await _item_page(request, state, "ListItemActivity", item_id)


@get(
    "/api/v1/work-items/{item_id:str}/plot-order",
    opt={**READS, "returns": Envelope[PlotOrderDocument]},
)
async def plot_order(request: Req, state: State, item_id: str) -> Response[bytes]:
    pattern = request.query_params.get("pattern", "serpentine")
    document = await state.operations.raw(
        "GetPlotOrder", request.auth, work_item_id=item_id, pattern=pattern
    )
    return _single(request, document)


@get(
    "/api/v1/work-items/{item_id:str}/progress",
    opt={**READS, "returns": Envelope[RoundProgressDocument]},
)
async def round_progress(request: Req, state: State, item_id: str) -> Response[bytes]:
    document = await state.operations.raw("GetRoundProgress", request.auth, work_item_id=item_id)
    return _single(request, document)


# Time entries and dependencies
@post(
    "/api/v1/time-entries",
    opt={**WRITES, "returns": Envelope[TimeEntryDocument]},
    request_max_body_size=MAX_BODY,
)
async def add_time_entry(request: Req, state: State) -> Response[bytes]:
    document = await state.operations.raw("AddTimeEntry", request.auth, body=await request.body())
    return _single(request, document, status=201)


@get("/api/v1/time-entries", opt={**READS, "returns": PageEnvelope[TimeEntryDocument]})
async def list_time_entries(request: Req, state: State) -> Response[bytes]:
    return await _item_page(request, state, "ListTimeEntries", _required(request, "work_item_id"))


@post(
    "/api/v1/dependencies",
    opt={**WRITES, "returns": Envelope[DependencyDocument]},
    request_max_body_size=MAX_BODY,
)
async def add_dependency(request: Req, state: State) -> Response[bytes]:
    document = await state.operations.raw("AddDependency", request.auth, body=await request.body())
    return _single(request, document, status=201)


@get("/api/v1/dependencies", opt={**READS, "returns": PageEnvelope[DependencyDocument]})
async def list_dependencies(request: Req, state: State) -> Response[bytes]:
    return await _item_page(request, state, "ListDependencies", _required(request, "work_item_id"))


@delete(
    "/api/v1/dependencies", opt={**WRITES, "returns": Envelope[RemovedDependency]}, status_code=200
)
async def remove_dependency(request: Req, state: State) -> Response[bytes]:
    predecessor, successor = (
        _required(request, "predecessor_id"),
        _required(request, "successor_id"),
    )
    await state.operations.call(
        "RemoveDependency", request.auth, predecessor_id=predecessor, successor_id=successor
    )
    body = RemovedDependency(predecessor_id=predecessor, successor_id=successor, removed=True)
    return _single(request, _encode(body))


ROUTES = [
    create_season,
    list_seasons,
    get_season,
    update_season,
    season_burndown,
    create_work_item,
    list_work_items,
    get_work_item,
    update_work_item,
    add_comment,
    list_comments,
    list_item_time,
    list_item_dependencies,
    list_item_activity,
    plot_order,
    round_progress,
    add_time_entry,
    list_time_entries,
    add_dependency,
    list_dependencies,
    remove_dependency,
]
