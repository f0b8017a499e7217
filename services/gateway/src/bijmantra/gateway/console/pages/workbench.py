"""The study workbench: an observation grid with inline entry checked against each variable's
scale (errors in place, nothing stored), CSV download and CSV upload of observations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from bijmantra.application.brapi.modules.console_pages import MAX_VARIABLES, UNITS_PER_PAGE
from bijmantra.application.console import Entry, Existing, Plan, csv_entries, plan_entries
from bijmantra.application.security import Action, permissions
from bijmantra.edge import content_disposition
from bijmantra.gateway.brapi import TABLE_TYPES, _delimited_table
from bijmantra.gateway.console.paging import Rows, document, lists, page_request, rows
from bijmantra.gateway.console.web import FORM_LIMIT, PREFIX, View, view
from bijmantra.kernel import PageRequest
from litestar import Request, get, post
from litestar.datastructures import State, UploadFile
from litestar.response import Redirect, Stream, Template

READ, WRITE = permissions("phenotyping", Action.READ, Action.WRITE)
MAX_UPLOAD = 2 * 1024 * 1024
# A grid page's save: 600 cells (20 units x 30 variables) of up to 200 characters each,
# percent-encoded (about 600 KB if ASCII).
GRID_FORM_LIMIT = 1024 * 1024
_encode = msgspec.json.encode


@dataclass(frozen=True)
class Grid:
    study: dict[str, Any]
    units: Rows
    variables: list[dict[str, Any]]
    existing: dict[tuple[str, str], Existing]


async def _grid(request: Request[Any, Any, Any], state: State, page: View, db_id: str) -> Grid:
    """One read (ADR 0307): the study, a page of its units, its variables and the page's
    observations. Another organization's study: not found (404), nothing of theirs read."""
    number = page_request(request, UNITS_PER_PAGE).page
    found = document(
        await state.brapi.view(
            page.token, "study", db_id, "console-workbench", {"page": [str(number)]}
        )
    )
    units = Rows(found["units"], found["page"], found["totalCount"], found["totalPages"], {})
    return Grid(found["study"], units, found["variables"], _by_cell(found["observations"]))


def _by_cell(observations: list[dict[str, Any]]) -> dict[tuple[str, str], Existing]:
    """Observations by their grid cell: (unit, variable)."""
    return {
        (o["observationUnitDbId"], o["observationVariableDbId"]): Existing(
            o["observationDbId"], str(o.get("value") or "")
        )
        for o in observations
    }


def _render(
    page: View,
    grid: Grid,
    *,
    errors: dict[tuple[str, str], str] | None = None,
    entered: dict[tuple[str, str], str] | None = None,
    message: str = "",
    status: int = 200,
    upload_errors: list[str] | None = None,
) -> Template:
    values = {key: e.value for key, e in grid.existing.items()} | (entered or {})
    return page.render(
        "studies/workbench.html",
        study=grid.study,
        units=grid.units,
        variables=grid.variables,
        values=values,
        errors=errors or {},
        message=message,
        upload_errors=upload_errors or [],
        status_code=status,
    )


@get(f"{PREFIX}/studies/{{db_id:str}}/workbench", name="console:workbench")
async def workbench(request: Request[Any, Any, Any], state: State, db_id: str) -> Template:
    page = view(request, READ)
    saved = request.query_params.get("saved", "")
    message = f"Saved {saved} value(s)." if saved.isdigit() else ""
    return _render(page, await _grid(request, state, page, db_id), message=message)


async def _write(state: State, page: View, plan: Plan) -> int:
    if plan.creates:
        await state.brapi.create(page.token, "observation", _encode(plan.creates))
    if plan.updates:
        await state.brapi.update_many(page.token, "observation", _encode(plan.updates))
    return len(plan.creates) + len(plan.updates)


def _scales(grid: Grid) -> dict[str, Any]:
    return {v["observationVariableDbId"]: v.get("scale") or {} for v in grid.variables}


@post(
    f"{PREFIX}/studies/{{db_id:str}}/workbench",
    name="console:workbench-save",
    opt={FORM_LIMIT: GRID_FORM_LIMIT},
    request_max_body_size=GRID_FORM_LIMIT,
)
async def save(request: Request[Any, Any, Any], state: State, db_id: str) -> Template | Redirect:
    page = view(request, WRITE)
    form = await request.form()
    grid = await _grid(request, state, page, db_id)
    units, variables = form.getall("unit", []), form.getall("variable", [])
    entries, entered = [], {}
    for i, unit in enumerate(units[:UNITS_PER_PAGE]):
        for j, variable in enumerate(variables[:MAX_VARIABLES]):
            value = form.get(f"c-{i}-{j}")
            if isinstance(value, str):
                entries.append(Entry(unit, variable, value[:200]))
                entered[(unit, variable)] = value[:200]
    unit_ids = frozenset(u["observationUnitDbId"] for u in grid.units.items)
    plan = plan_entries(entries, _scales(grid), unit_ids, grid.existing)
    if plan.errors:
        return _render(
            page,
            grid,
            errors=plan.errors,
            entered=entered,
            status=422,
            message="Nothing was saved: correct the values marked below.",
        )
    saved = await _write(state, page, plan)
    return Redirect(f"{PREFIX}/studies/{db_id}/workbench?page={grid.units.page}&saved={saved}")


@post(
    f"{PREFIX}/studies/{{db_id:str}}/observations.csv",
    name="console:observations-upload",
    request_max_body_size=MAX_UPLOAD + 64 * 1024,
)
async def upload(request: Request[Any, Any, Any], state: State, db_id: str) -> Template | Redirect:
    page = view(request, WRITE)
    form = await request.form()
    grid = await _grid(request, state, page, db_id)
    file = form.get("file")
    if not isinstance(file, UploadFile):
        return _render(page, grid, upload_errors=["Choose a CSV file."], status=400)
    raw = await file.read(MAX_UPLOAD + 1)
    if len(raw) > MAX_UPLOAD:
        return _render(page, grid, upload_errors=["The file is larger than 2 MiB."], status=413)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _render(page, grid, upload_errors=["The file is not UTF-8 text."], status=400)
    names = {
        v.get("observationVariableName") or "": v["observationVariableDbId"] for v in grid.variables
    }
    entries, problems = csv_entries(text, names)
    if problems:
        return _render(page, grid, upload_errors=problems, status=400)
    all_units = await _all_unit_ids(state, page, db_id)
    existing = await _existing(state, page, db_id, sorted({e.unit for e in entries} & all_units))
    plan = plan_entries(entries, _scales(grid), all_units, existing)
    if plan.errors:
        listed = [
            f"{unit} / {variable}: {why}" for (unit, variable), why in sorted(plan.errors.items())
        ]
        return _render(page, grid, upload_errors=["Nothing was saved.", *listed[:50]], status=422)
    saved = await _write(state, page, plan)
    return Redirect(f"{PREFIX}/studies/{db_id}/workbench?saved={saved}")


async def _all_unit_ids(state: State, page: View, db_id: str) -> frozenset[str]:
    found = await lists(state, page).list(
        page.token, "observationunit", {"studyDbId": [db_id]}, PageRequest(0, 10_000)
    )
    return frozenset(u["observationUnitDbId"] for u in rows(found, {}).items)


async def _existing(
    state: State, page: View, db_id: str, units: list[str]
) -> dict[tuple[str, str], Existing]:
    existing: dict[tuple[str, str], Existing] = {}
    for start in range(0, len(units), 500):
        found = await lists(state, page).list(
            page.token,
            "observation",
            {"studyDbId": [db_id], "observationUnitDbId": units[start : start + 500]},
            PageRequest(0, 10_000),
        )
        existing |= _by_cell(rows(found, {}).items)
    return existing


@get(f"{PREFIX}/studies/{{db_id:str}}/observations.csv", name="console:observations-csv")
async def download(request: Request[Any, Any, Any], state: State, db_id: str) -> Stream:
    page = view(request, READ)
    await state.brapi.get(page.token, "study", db_id)  # another organization's study: 404
    chunks = state.brapi.table(page.token, "observation", "table", {"studyDbId": [db_id]})
    first = await anext(chunks)
    return Stream(
        _delimited_table(first, chunks, TABLE_TYPES["text/csv"]),
        media_type="text/csv",
        headers={"content-disposition": content_disposition(f"observations-{db_id[:40]}.csv")},
    )


ROUTES = [workbench, save, upload, download]
