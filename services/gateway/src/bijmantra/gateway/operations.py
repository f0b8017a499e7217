"""Platform API routes of the operations context (``/api/v1``): seasons, work items,
comments, time entries, dependencies, activity and the breeding links.

Single documents carry their ETag as a header; writes honour ``If-Match`` (stale -> 412).
All routes but one only forward to domain-api's OperationsService (``forwarding``): each
row names the RPC and the fields it passes.
"""

from __future__ import annotations

from collections.abc import Callable
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
from bijmantra.domain.operations.layout import Pattern
from bijmantra.domain.operations.model import Kind, Status
from bijmantra.edge import QUERY, Query, query_given, query_value, undeclared_names
from bijmantra.edge.envelopes import Envelope, PageEnvelope
from bijmantra.gateway.compliance import PAGING
from bijmantra.gateway.forwarding import Call, Forward, document_body, forward
from bijmantra.kernel import FieldError, Page, ValidationFailed
from litestar import Request, Response, delete, get, patch, post
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler

MAX_BODY = 1024 * 1024  # 10,000 unit ids of a harvest fit with room to spare
WORK_ITEM_ID = (Query("work_item_id", required=True), *PAGING)
BOARD = (  # the filters of a board page (``application.operations.queries.FILTERS``)
    Query("parent_id", description="an operation's or plan's board"),
    Query("season_id"),
    Query("status", enum=tuple(s.value for s in Status)),
    Query("kind", enum=tuple(k.value for k in Kind)),
    Query("assignee", description='"my tasks"'),
    *PAGING,
)
Req = Request[Any, Any, Any]
SEASONS = "/api/v1/seasons"
SEASON = SEASONS + "/{season_id:str}"
ITEMS = "/api/v1/work-items"
ITEM = ITEMS + "/{item_id:str}"


def _reads(answer: Any, query: tuple[Query, ...] = ()) -> dict[str, Any]:
    return {"permission": READ, "returns": answer, QUERY: query}


def _writes(answer: Any) -> dict[str, Any]:
    return {"permission": WRITE, "returns": answer}


def _if_match(request: Req) -> dict[str, str]:
    value = request.headers.get("if-match")
    return {} if value is None else {"if_match": value}


def _required(request: Req, name: str) -> str:
    value = query_value(request, name)
    if not value:
        raise ValidationFailed(
            f"Query parameter {name} is required", [FieldError(name, "required")]
        )
    return value


def _board(call: Call) -> dict[str, str]:
    """The board's filters; any other parameter is refused as domain-api refused it."""
    unknown = undeclared_names(call.request)
    if unknown:
        raise ValidationFailed(
            "Invalid work item filter", [FieldError(k, "unknown filter") for k in unknown]
        )
    paging = {p.name for p in PAGING}
    filters = (q.name for q in BOARD if q.name not in paging)
    return {k: v for k in filters if (v := query_given(call.request, k)) is not None}


def _item_page(rpc: str, item_id: Callable[[Call], str] = lambda c: c.path("item_id")) -> Forward:
    """One page of what hangs off a work item (comments, time, dependencies, activity)."""

    async def read(state: State, call: Call) -> Page[bytes]:
        item = item_id(call)  # a missing work_item_id is reported before a bad page
        page: Page[bytes] = await state.operations.page(
            rpc, call.auth, call.page(), work_item_id=item
        )
        return page

    return read


def _queried_item(call: Call) -> str:
    return _required(call.request, "work_item_id")


# What hangs off a work item, listed a page at a time: (operation, path, document, RPC).
ITEM_PAGES = (
    ("list_comments", "comments", CommentDocument, "ListComments"),
    ("list_item_time", "time-entries", TimeEntryDocument, "ListTimeEntries"),
    ("list_item_dependencies", "dependencies", DependencyDocument, "ListDependencies"),
    ("list_item_activity", "activity", WorkItemActivityDocument, "ListItemActivity"),
)


def _item_list(name: str, tail: str, document: Any, rpc: str) -> HTTPRouteHandler:
    route = get(f"{ITEM}/{tail}", opt=_reads(PageEnvelope[document], PAGING))
    return forward(name, route, _item_page(rpc))


def _logged(
    path: str, document: Any, add: tuple[str, str], listed: tuple[str, str]
) -> list[HTTPRouteHandler]:
    """Add one (a time entry, a dependency: the body names its work item) and list a work
    item's, named by the required ``work_item_id`` query parameter. ``add`` and ``listed``
    are (operation, RPC)."""
    (add_name, add_rpc), (list_name, list_rpc) = add, listed
    return [
        forward(
            add_name,
            post(path, opt=_writes(Envelope[document]), request_max_body_size=MAX_BODY),
            lambda s, c: s.operations.raw(add_rpc, c.auth, body=c.body),
        ),
        forward(
            list_name,
            get(path, opt=_reads(PageEnvelope[document], WORK_ITEM_ID)),
            _item_page(list_rpc, _queried_item),
        ),
    ]


def _versioned(
    noun: str, rpc: str, base: str, param: str, field: str, document: Any
) -> list[HTTPRouteHandler]:
    """Create, get and update of a versioned record (a season, a work item): each answer
    carries the record's ETag, and an update honours ``If-Match``."""
    one = f"{base}/{{{param}:str}}"
    writes = _writes(Envelope[document])
    return [
        forward(
            f"create_{noun}",
            post(base, opt=writes, request_max_body_size=MAX_BODY),
            lambda s, c: s.operations.document(f"Create{rpc}", c.auth, body=c.body),
        ),
        forward(
            f"get_{noun}",
            get(one, opt=_reads(Envelope[document])),
            lambda s, c: s.operations.document(f"Get{rpc}", c.auth, **{field: c.path(param)}),
        ),
        forward(
            f"update_{noun}",
            patch(one, opt=writes, request_max_body_size=MAX_BODY),
            lambda s, c: s.operations.document(
                f"Update{rpc}",
                c.auth,
                body=c.body,
                **{field: c.path(param)},
                **_if_match(c.request),
            ),
        ),
    ]


@delete(
    "/api/v1/dependencies",
    opt={
        **_writes(Envelope[RemovedDependency]),
        QUERY: (Query("predecessor_id", required=True), Query("successor_id", required=True)),
    },
    status_code=200,
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
    return document_body(request, msgspec.json.encode(body))


ROUTES = [
    *_versioned("season", "Season", SEASONS, "season_id", "season_id", SeasonDocument),
    *_versioned("work_item", "WorkItem", ITEMS, "item_id", "work_item_id", WorkItemDocument),
    forward(
        "list_seasons",
        get(SEASONS, opt=_reads(PageEnvelope[SeasonDocument], PAGING)),
        lambda s, c: s.operations.page("ListSeasons", c.auth, c.page()),
    ),
    forward(
        "season_burndown",
        get(SEASON + "/burndown", opt=_reads(Envelope[BurndownDocument])),
        lambda s, c: s.operations.raw("GetBurndown", c.auth, season_id=c.path("season_id")),
    ),
    forward(
        "list_work_items",
        get(ITEMS, opt=_reads(PageEnvelope[WorkItemDocument], BOARD)),
        lambda s, c: s.operations.page("ListWorkItems", c.auth, c.page(), filters=_board(c)),
        summary="""A board page: ``parent_id`` (an operation's or plan's board), ``season_id``,
        ``status``, ``kind``, ``assignee`` ("my tasks"), in board order.""",
    ),
    forward(
        "add_comment",
        post(
            ITEM + "/comments",
            opt=_writes(Envelope[CommentDocument]),
            request_max_body_size=MAX_BODY,
        ),
        lambda s, c: s.operations.raw(
            "AddComment", c.auth, work_item_id=c.path("item_id"), body=c.body
        ),
    ),
    forward(
        "plot_order",
        get(
            ITEM + "/plot-order",
            opt=_reads(
                Envelope[PlotOrderDocument],
                (Query("pattern", enum=tuple(p.value for p in Pattern)),),
            ),
        ),
        lambda s, c: s.operations.raw(
            "GetPlotOrder",
            c.auth,
            work_item_id=c.path("item_id"),
            pattern=c.query("pattern") or "serpentine",
        ),
    ),
    forward(
        "round_progress",
        get(ITEM + "/progress", opt=_reads(Envelope[RoundProgressDocument])),
        lambda s, c: s.operations.raw("GetRoundProgress", c.auth, work_item_id=c.path("item_id")),
    ),
    *(_item_list(*row) for row in ITEM_PAGES),
    *_logged(
        "/api/v1/time-entries",
        TimeEntryDocument,
        ("add_time_entry", "AddTimeEntry"),
        ("list_time_entries", "ListTimeEntries"),
    ),
    *_logged(
        "/api/v1/dependencies",
        DependencyDocument,
        ("add_dependency", "AddDependency"),
        ("list_dependencies", "ListDependencies"),
    ),
    remove_dependency,
]
