"""Field operations pages: plans and seasons, a board by status (move with a button or by
dragging), an item's detail (comments, time, dependencies, activity), my tasks, and a
season's plan with its burndown. Every move sends the card's ETag, so a stale board refuses
to overwrite a newer change (412). A plan is started from the overview, and work is added on
the board it belongs to: operations on a plan's, tasks on an operation's."""

from __future__ import annotations

import contextlib
from typing import Any

import msgspec
from bijmantra.application.security import Action, permissions
from bijmantra.domain.operations.model import HIERARCHY, OperationType, Priority
from bijmantra.gateway.console.row_forms import REFUSED_FORM
from bijmantra.gateway.console.web import PREFIX, View, said, view
from bijmantra.kernel import BijmantraError, PageRequest
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.response import Redirect, Template

READ, WRITE = permissions("operations", Action.READ, Action.WRITE)
STATUSES = ("todo", "in_progress", "blocked", "done", "cancelled")
LABELS = {
    "todo": "To do",
    "in_progress": "In progress",
    "blocked": "Blocked",
    "done": "Done",
    "cancelled": "Cancelled",
}
BOARD_LIMIT = 500  # cards on one board page
LIST = PageRequest(0, 100)
Req = Request[Any, Any, Any]
_encode = msgspec.json.encode
# What a board adds: the kind that sits under the board's own kind (a plan's operations, an
# operation's tasks).
ADDS = {parent.value: kind.value for kind, parent in HIERARCHY.items() if parent is not None}
NEW_FIELDS = ("title", "operation_type", "season_id", "due", "estimate_hours", "priority")


def _documents(page: Any) -> list[dict[str, Any]]:
    return [msgspec.json.decode(d) for d in page.items]


async def _items(state: State, token: str, page: PageRequest, **filters: str) -> Any:
    return await state.operations.page("ListWorkItems", token, page, filters=filters)


@get(f"{PREFIX}/operations", name="console:operations")
async def overview(request: Req, state: State) -> Template:
    return await _overview(state, view(request, READ))


async def _overview(
    state: State, page: View, given: dict[str, str] | None = None, error: str = ""
) -> Template:
    """Plans and seasons, and the form that starts a plan (``given``: what was typed into
    it, kept with ``error`` when the plan was refused)."""
    plans = await _items(state, page.token, LIST, kind="plan")
    seasons = await state.operations.page("ListSeasons", page.token, LIST)
    return page.render(
        "operations/overview.html",
        plans=_documents(plans),
        seasons=_documents(seasons),
        statuses=LABELS,
        given=given or {},
        error=error,
        status_code=422 if error else 200,
    )


@get(f"{PREFIX}/operations/board/{{board_id:str}}", name="console:operations-board")
async def board(request: Req, state: State, board_id: str) -> Template:
    return await _board(state, view(request, READ), board_id)


async def _board(
    state: State, page: View, board_id: str, given: dict[str, str] | None = None, error: str = ""
) -> Template:
    """The board, and the form that adds work to it (kept as typed, with ``error``, when the
    work was refused)."""
    raw, _ = await state.operations.document("GetWorkItem", page.token, work_item_id=board_id)
    owner = msgspec.json.decode(raw)
    cards = _documents(
        await _items(state, page.token, PageRequest(0, BOARD_LIMIT), parent_id=board_id)
    )
    columns = [(s, LABELS[s], [c for c in cards if c["status"] == s]) for s in STATUSES]
    return page.render(
        "operations/board.html",
        owner=owner,
        columns=columns,
        statuses=LABELS,
        adds=ADDS.get(owner["kind"]),
        operation_types=[t.value for t in OperationType],
        priorities=[p.value for p in Priority],
        given=given or {},
        error=error,
        status_code=422 if error else 200,
    )


@get(f"{PREFIX}/operations/mine", name="console:operations-mine")
async def mine(request: Req, state: State) -> Template:
    page = view(request, READ)
    found = await _items(state, page.token, LIST, assignee=page.principal.subject, kind="task")
    open_first = sorted(
        _documents(found), key=lambda i: (i["status"] in ("done", "cancelled"), i["due"] or "9999")
    )
    return page.render("operations/mine.html", items=open_first, statuses=LABELS)


@get(f"{PREFIX}/operations/items/{{item_id:str}}", name="console:operations-item")
async def item(request: Req, state: State, item_id: str) -> Template:
    page = view(request, READ)
    raw, etag = await state.operations.document("GetWorkItem", page.token, work_item_id=item_id)
    pages: dict[str, Any] = {}  # template context: one list per tab
    for name, rpc in (
        ("comments", "ListComments"),
        ("time", "ListTimeEntries"),
        ("dependencies", "ListDependencies"),
        ("activity", "ListItemActivity"),
    ):
        pages[name] = _documents(
            await state.operations.page(rpc, page.token, LIST, work_item_id=item_id)
        )
    found = msgspec.json.decode(raw)
    return page.render(
        "operations/item.html",
        item=found,
        etag=etag,
        statuses=LABELS,
        titles=await _titles(state, page, found) if found.get("parent_id") else {},
        **pages,
    )


async def _titles(state: State, page: View, found: dict[str, Any]) -> dict[str, str]:
    """Titles of the item's board and of the cards on it, for naming the board and the
    dependencies (one between boards is named by its id)."""
    parent = found["parent_id"]
    raw, _ = await state.operations.document("GetWorkItem", page.token, work_item_id=parent)
    cards = await _items(state, page.token, PageRequest(0, BOARD_LIMIT), parent_id=parent)
    titles = {c["id"]: c["title"] for c in _documents(cards)}
    titles[parent] = msgspec.json.decode(raw)["title"]
    return titles


@get(f"{PREFIX}/operations/seasons/{{season_id:str}}", name="console:operations-season")
async def season(request: Req, state: State, season_id: str) -> Template:
    page = view(request, READ)
    chart = msgspec.json.decode(
        await state.operations.raw("GetBurndown", page.token, season_id=season_id)
    )
    tasks = _documents(await _items(state, page.token, LIST, season_id=season_id))
    return page.render(
        "operations/season.html", chart=chart, line=_polyline(chart), tasks=tasks, statuses=LABELS
    )


def _polyline(chart: dict[str, Any]) -> dict[str, str]:
    """SVG points (300 x 120 view box) of the remaining and ideal hours."""
    points = chart["points"]
    top = max([p["ideal_hours"] for p in points] + [p["remaining_hours"] for p in points] + [1])
    step = 300 / max(len(points) - 1, 1)

    def line(key: str) -> str:
        return " ".join(
            f"{n * step:.1f},{120 - 120 * p[key] / top:.1f}" for n, p in enumerate(points)
        )

    return {"remaining": line("remaining_hours"), "ideal": line("ideal_hours")}


async def _form(request: Req) -> dict[str, str]:
    form = await request.form()
    return {k: str(v) for k, v in form.items()}


@post(f"{PREFIX}/operations/items/{{item_id:str}}/status", name="console:operations-move")
async def move(request: Req, state: State, item_id: str) -> Redirect:
    """The board's move (button or drop): the card's ETag makes a stale move a 412."""
    page = view(request, WRITE)
    form = await _form(request)
    await state.operations.document(
        "UpdateWorkItem",
        page.token,
        work_item_id=item_id,
        body=_encode({"status": form.get("status", "")}),
        if_match=form.get("etag", ""),
    )
    return Redirect(path=_back(form, f"{PREFIX}/operations/items/{item_id}"))


@post(f"{PREFIX}/operations/items/{{item_id:str}}/comments", name="console:operations-comment")
async def comment(request: Req, state: State, item_id: str) -> Redirect:
    page = view(request, WRITE)
    form = await _form(request)
    body = _encode({"body": form.get("body", "")})
    await state.operations.raw("AddComment", page.token, work_item_id=item_id, body=body)
    return Redirect(path=f"{PREFIX}/operations/items/{item_id}")


@post(f"{PREFIX}/operations/items/{{item_id:str}}/time", name="console:operations-time")
async def log_time(request: Req, state: State, item_id: str) -> Redirect:
    page = view(request, WRITE)
    form = await _form(request)
    try:
        hours: Any = float(form.get("hours", ""))
    except ValueError:
        hours = form.get("hours", "")  # the use case names the field in its 422
    body = _encode({"work_item_id": item_id, "day": form.get("day", ""), "hours": hours})
    await state.operations.raw("AddTimeEntry", page.token, body=body)
    return Redirect(path=f"{PREFIX}/operations/items/{item_id}")


def _new_item(kind: str, form: dict[str, str], parent_id: str | None) -> bytes:
    """A work item's body from a console form: blank fields left to their defaults."""
    body: dict[str, Any] = {"kind": kind, "title": form.get("title", ""), "parent_id": parent_id}
    for name in NEW_FIELDS[1:]:
        if value := form.get(name, "").strip():
            body[name] = value
    if "estimate_hours" in body:  # not a number: the use case names the field in its refusal
        with contextlib.suppress(ValueError):
            body["estimate_hours"] = float(body["estimate_hours"])
    return _encode(body)


@post(f"{PREFIX}/operations/plans", name="console:operations-plan-create")
async def create_plan(request: Req, state: State) -> Redirect | Template:
    page = view(request, WRITE)
    form = await _form(request)
    try:
        raw, _ = await state.operations.document(
            "CreateWorkItem", page.token, body=_new_item("plan", form, None)
        )
    except BijmantraError as error:
        if error.code not in REFUSED_FORM:
            raise
        return await _overview(state, page, form, said(error))
    created = msgspec.json.decode(raw)
    return Redirect(path=f"{PREFIX}/operations/board/{created['id']}")


@post(f"{PREFIX}/operations/board/{{board_id:str}}/items", name="console:operations-add")
async def add_to_board(request: Req, state: State, board_id: str) -> Redirect | Template:
    """An operation on a plan's board, a task on an operation's: the kind follows the board."""
    page = view(request, WRITE)
    form = await _form(request)
    raw, _ = await state.operations.document("GetWorkItem", page.token, work_item_id=board_id)
    kind = ADDS.get(msgspec.json.decode(raw)["kind"], "task")  # a task's board: refused
    try:
        await state.operations.document(
            "CreateWorkItem", page.token, body=_new_item(kind, form, board_id)
        )
    except BijmantraError as error:
        if error.code not in REFUSED_FORM:
            raise
        return await _board(state, page, board_id, form, said(error))
    return Redirect(path=f"{PREFIX}/operations/board/{board_id}")


def _back(form: dict[str, str], default: str) -> str:
    """Only a console board path may be returned to."""
    target = form.get("back", "")
    return target if target.startswith(f"{PREFIX}/operations/") and "//" not in target else default


ROUTES = [
    overview,
    board,
    mine,
    item,
    season,
    move,
    comment,
    log_time,
    create_plan,
    add_to_board,
]
