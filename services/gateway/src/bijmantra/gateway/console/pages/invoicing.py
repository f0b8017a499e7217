"""Invoices written in the console: a draft for a partner (optionally for one of its
dispatches) with its lines, and a draft's lines replaced before it is issued. Same gRPC
client and use cases as ``POST /api/v1/invoices`` and ``PUT /api/v1/invoices/{id}/lines``;
a refused draft is shown again as typed, each refused line saying why next to it. Issuing,
payment, voiding and credit notes are the invoice page's (``distribution``)."""

from __future__ import annotations

from typing import Any

import msgspec
from bijmantra.application.security import Action, permissions
from bijmantra.gateway.console.paging import document
from bijmantra.gateway.console.row_forms import RowForm
from bijmantra.gateway.console.web import PREFIX, View, said, view
from bijmantra.kernel import ErrorCode, PageRequest
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.response import Redirect, Template

READ, WRITE = permissions("distribution", Action.READ, Action.WRITE)
FORM_LIMIT = 32 * 1024
PARTNERS_OFFERED = PageRequest(0, 200)
LINE_ROWS = 10  # lines a draft is written with here (up to 500 through the API)
LINES = RowForm(
    "lines",
    ("description", "quantity", "unit_price", "tax_rate"),
    ("description", "quantity", "unit_price"),
    LINE_ROWS,
    "give a description, a quantity and a unit price",
)
DRAFT_FIELDS = ("partner_id", "currency", "dispatch_id")
Req = Request[Any, Any, Any]


def _body_lines(rows: list[dict[str, str]], filled: list[int]) -> list[dict[str, str]]:
    return [
        {
            "description": rows[k].get("description", ""),
            "quantity": rows[k].get("quantity", ""),
            "unit_price": rows[k].get("unit_price", ""),
            "tax_rate": rows[k].get("tax_rate", "") or "0",
        }
        for k in filled
    ]


async def _draft_page(
    state: State,
    page: View,
    given: dict[str, str],
    rows: list[dict[str, str]],
    error: str = "",
) -> Template:
    found = await state.distribution.list(page.token, "partners", PARTNERS_OFFERED, None)
    return page.render(
        "distribution/invoice_draft.html",
        offered=[msgspec.json.decode(item) for item in found.items],
        given=given,
        lines=rows,
        error=error,
        status_code=422 if error else 200,
    )


@get(f"{PREFIX}/invoices/new", name="console:invoice-new")
async def new_invoice(request: Req, state: State) -> Template:
    """The draft form; ``partner`` and ``dispatch`` preselect them (from a dispatch's page)."""
    page = view(request, WRITE)
    given = {
        "partner_id": request.query_params.get("partner", "")[:200],
        "dispatch_id": request.query_params.get("dispatch", "")[:200],
    }
    return await _draft_page(state, page, given, LINES.blank())


@post(f"{PREFIX}/invoices", name="console:invoice-create", request_max_body_size=FORM_LIMIT)
async def create_invoice(request: Req, state: State) -> Redirect | Template:
    page = view(request, WRITE)
    form = await request.form()
    given = {n: v.strip() for n in DRAFT_FIELDS if isinstance(v := form.get(n, ""), str)}
    rows, filled = LINES.read(form)
    body: dict[str, Any] = {
        "partner_id": given.get("partner_id", ""),
        "currency": given.get("currency", "").upper(),
        "lines": _body_lines(rows, filled),
    }
    if given.get("dispatch_id"):
        body["dispatch_id"] = given["dispatch_id"]
    created, refusal = await LINES.sent(
        rows,
        filled,
        lambda: state.distribution.create(page.token, "invoices", msgspec.json.encode(body)),
    )
    if refusal is not None:
        return await _draft_page(state, page, given, rows, said(refusal))
    return Redirect(f"{PREFIX}/invoices/{created['id']}")


async def _lines_page(
    state: State, page: View, record_id: str, rows: list[dict[str, str]] | None, error: str = ""
) -> Template:
    """A draft's lines to replace (as stored, then blank rows; as typed after a refusal)."""
    found = document(await state.distribution.get(page.token, "invoices", record_id))
    stored = [
        {k: str(line.get(k, "")) for k in LINES.fields} for line in found["lines"][:LINE_ROWS]
    ]
    return page.render(
        "distribution/invoice_lines.html",
        record=found,
        lines=rows or stored + LINES.blank()[len(stored) :],
        too_many=len(found["lines"]) > LINE_ROWS,
        error=error,
        status_code=422 if error else 200,
    )


@get(f"{PREFIX}/invoices/{{record_id:str}}/lines", name="console:invoice-lines")
async def invoice_lines(request: Req, state: State, record_id: str) -> Template:
    return await _lines_page(state, view(request, WRITE), record_id, None)


@post(
    f"{PREFIX}/invoices/{{record_id:str}}/lines",
    name="console:invoice-lines-save",
    request_max_body_size=FORM_LIMIT,
)
async def save_invoice_lines(request: Req, state: State, record_id: str) -> Redirect | Template:
    """Replace the draft's lines; an issued invoice is the 409 page (nothing changed)."""
    page = view(request, WRITE)
    rows, filled = LINES.read(await request.form())
    body = msgspec.json.encode({"lines": _body_lines(rows, filled)})
    _, refusal = await LINES.sent(
        rows,
        filled,
        lambda: state.distribution.edit_invoice(page.token, record_id, body),
        shown_again=(ErrorCode.VALIDATION, ErrorCode.UNPROCESSABLE),  # issued: the 409 page
    )
    if refusal is not None:
        return await _lines_page(state, page, record_id, rows, said(refusal))
    return Redirect(f"{PREFIX}/invoices/{record_id}")


ROUTES = [new_invoice, create_invoice, invoice_lines, save_invoice_lines]
