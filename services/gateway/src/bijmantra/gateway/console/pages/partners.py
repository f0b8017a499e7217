"""Partners and new seed requests in the console: the organization's partners with their
contacts, a form that adds one, and a form that records a partner's request for seed (a
draft, then submitted, approved and dispatched from its own page), and the agreement a
request's page drafts over its germplasm. Same gRPC client and use cases as
``/api/v1/partners``, ``/api/v1/seed-requests`` and ``/api/v1/agreements``; a refused
partner or request is shown again as typed, with what to change next to it."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from bijmantra.application.security import Action, permissions
from bijmantra.domain.distribution.model import PartnerType, Purpose
from bijmantra.gateway.console.paging import Rows, document, page_request
from bijmantra.gateway.console.row_forms import REFUSED_FORM, RowForm
from bijmantra.gateway.console.web import PREFIX, View, said, view
from bijmantra.kernel import BijmantraError, PageRequest
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.response import Redirect, Template

READ, WRITE = permissions("distribution", Action.READ, Action.WRITE)
FORM_LIMIT = 16 * 1024
PARTNERS_OFFERED = PageRequest(0, 200)  # partners a new request may name from a list
PARTNER_FIELDS = ("name", "country", "type", "contact_name", "contact_email", "address")
REQUEST_FIELDS = ("partner_id", "purpose", "notes")
ITEM_ROWS = 10  # items a request is recorded with here (up to 200 through the API)
ITEMS = RowForm(
    "items",
    ("germplasm_id", "quantity", "units"),
    ("germplasm_id", "quantity"),
    ITEM_ROWS,
    "give a germplasm DbId and a quantity",
)
Req = Request[Any, Any, Any]


async def _form(request: Req, names: tuple[str, ...]) -> dict[str, str]:
    form = await request.form()
    return {n: v.strip() for n in names if isinstance(v := form.get(n, ""), str)}


async def _page(
    request: Req,
    state: State,
    page: View,
    *,
    partner: dict[str, str] | None = None,
    seed_request: dict[str, str] | None = None,
    items: list[dict[str, str]] | None = None,
    error: tuple[str, str] = ("", ""),
) -> Template:
    """The partners, the two forms (``partner``, ``seed_request`` and its ``items``: what
    was typed, each item with its own refusal as ``problem``), and ``error``: (which form,
    why) when one was refused."""
    found, offered = await asyncio.gather(
        state.distribution.list(page.token, "partners", page_request(request), None),
        state.distribution.list(page.token, "partners", PARTNERS_OFFERED, None),
    )
    listed = [msgspec.json.decode(item) for item in found.items]
    return page.render(
        "distribution/partners.html",
        rows=Rows(listed, found.request.page, found.total_count, found.total_pages, {}),
        offered=[msgspec.json.decode(item) for item in offered.items],
        types=[t.value for t in PartnerType],
        purposes=[p.value for p in Purpose],
        partner=partner or {},
        seed_request=seed_request or {},
        items=items or ITEMS.blank(),
        refused=error[0],
        error=error[1],
        status_code=422 if error[1] else 200,
    )


@get(f"{PREFIX}/partners", name="console:partners")
async def partners(request: Req, state: State) -> Template:
    return await _page(request, state, view(request, READ))


@post(f"{PREFIX}/partners", name="console:partner-create", request_max_body_size=FORM_LIMIT)
async def create_partner(request: Req, state: State) -> Redirect | Template:
    page = view(request, WRITE)
    given = await _form(request, PARTNER_FIELDS)
    body = {
        "name": given.get("name", ""),
        "country": given.get("country", "").upper(),
        "type": given.get("type", ""),
        "contacts": [
            {"name": given.get("contact_name", ""), "email": given.get("contact_email", "")}
        ],
        "address": given.get("address", ""),
    }
    try:
        await state.distribution.create(page.token, "partners", msgspec.json.encode(body))
    except BijmantraError as error:
        if error.code not in REFUSED_FORM:
            raise
        return await _page(request, state, page, partner=given, error=("partner", said(error)))
    return Redirect(f"{PREFIX}/partners")


@post(
    f"{PREFIX}/partners/requests",
    name="console:seed-request-create",
    request_max_body_size=FORM_LIMIT,
)
async def create_request(request: Req, state: State) -> Redirect | Template:
    """A draft request of up to ``ITEM_ROWS`` items (rows left blank are skipped); its page
    submits and approves it. A refusal shows the form as typed, each refused item saying why
    next to it."""
    page = view(request, WRITE)
    form = await request.form()
    given = {n: v.strip() for n in REQUEST_FIELDS if isinstance(v := form.get(n, ""), str)}
    rows, filled = ITEMS.read(form)
    body = {
        "partner_id": given.get("partner_id", ""),
        "purpose": given.get("purpose", ""),
        "items": [
            {
                "germplasm_id": rows[k].get("germplasm_id", ""),
                "quantity": rows[k].get("quantity", ""),
                "units": rows[k].get("units", "") or "seeds",
            }
            for k in filled
        ],
        "notes": given.get("notes", ""),
    }
    created, refusal = await ITEMS.sent(
        rows,
        filled,
        lambda: state.distribution.create(page.token, "seed-requests", msgspec.json.encode(body)),
    )
    if refusal is not None:
        _mark_unknown_germplasm(rows, filled, refusal)
        refused = ("request", said(refusal))
        return await _page(request, state, page, seed_request=given, items=rows, error=refused)
    return Redirect(f"{PREFIX}/seed-requests/{created['id']}")


def _mark_unknown_germplasm(
    rows: list[dict[str, str]], filled: list[int], error: BijmantraError
) -> None:
    """Germplasm the organization lacks (``germplasm_id``: its id) next to each row naming it."""
    unknown = {d.message for d in error.details if d.location == "germplasm_id"}
    for k in filled:
        if repr(rows[k].get("germplasm_id")) in unknown:
            rows[k]["problem"] = "no such germplasm in this organization"


@post(
    f"{PREFIX}/seed-requests/{{record_id:str}}/agreements",
    name="console:seed-request-agreement",
    request_max_body_size=FORM_LIMIT,
)
async def draft_agreement(request: Req, state: State, record_id: str) -> Redirect:
    """An agreement with the request's partner over the request's germplasm, as a draft to
    send for signature on its page (a refusal is the error page, with its reasons)."""
    page = view(request, WRITE)
    given = await _form(request, ("type", "provider_name", "provider_email", "provider_country"))
    found = document(await state.distribution.get(page.token, "seed-requests", record_id))
    body = {
        "type": given.get("type", ""),
        "partner_id": found["partner_id"],
        "request_id": record_id,
        "material": sorted({i["germplasm_id"] for i in found["items"] if i.get("germplasm_id")}),
        "provider": {
            "name": given.get("provider_name", ""),
            "email": given.get("provider_email", ""),
            "country": given.get("provider_country", "").upper(),
        },
    }
    created = document(
        await state.distribution.create(page.token, "agreements", msgspec.json.encode(body))
    )
    return Redirect(f"{PREFIX}/agreements/{created['id']}")


ROUTES = [partners, create_partner, create_request, draft_agreement]
