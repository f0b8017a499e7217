"""Seed distribution in the console: the seed-request inbox, agreement signing, the dispatch
board and invoices with a PDF preview (issue 23, ADR 0096). Same gRPC client and use cases
as ``/api/v1``: every move goes through the context's lifecycle tables, which also decide
which buttons a record shows."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Any

import msgspec
from bijmantra.application.distribution.dispatches import dispatch_document
from bijmantra.application.distribution.inputs import from_document
from bijmantra.application.security import Action, permissions
from bijmantra.domain.distribution.agreements import AgreementType
from bijmantra.domain.distribution.model import Dispatch
from bijmantra.domain.distribution.states import (
    REQUEST_LIFECYCLE,
    AgreementAction,
    AgreementStatus,
    DispatchStatus,
    InvoiceStatus,
    RequestAction,
    RequestStatus,
)
from bijmantra.edge import content_disposition
from bijmantra.gateway.console.names import names
from bijmantra.gateway.console.paging import Rows, document, lists, page_request
from bijmantra.gateway.console.web import PREFIX, View, view
from bijmantra.kernel import PageRequest
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler
from litestar.response import Redirect, Template

READ, WRITE = permissions("distribution", Action.READ, Action.WRITE)
FORM_LIMIT = 16 * 1024  # an action form: a few short fields
PARTNERS_SHOWN = PageRequest(0, 200)  # names for the lists' partner column
BOARD_COLUMN = 50  # cards per dispatch-board column
ITEMS_DRAFTED = 50  # items a dispatch is drafted for on the page (larger: the API)
LOTS_OFFERED = PageRequest(0, 50)  # seed lots offered per item
# The label of the button that applies a lifecycle action (actions are the API's values).
VERBS = {
    "submitted": "Submit",
    "approved": "Approve",
    "rejected": "Reject",
    "cancelled": "Cancel",
    "sent for signature": "Send for signature",
    "terminated": "Terminate",
    "expired": "Mark expired",
    "picking": "Start picking",
    "packed": "Mark packed",
    "shipped": "Ship",
    "delivered": "Mark delivered",
    "issued": "Issue",
    "paid": "Mark paid",
    "voided": "Void",
}
# The states in which the worker has rendered a record's PDF (made on the way in).
WITH_PDF = {
    "agreements": {"pending_signature", "active", "expired", "terminated"},
    "dispatches": {"packed", "shipped", "delivered"},
    "invoices": {"issued", "paid", "void"},
}
Req = Request[Any, Any, Any]


def _decoded(items: list[bytes]) -> list[dict[str, Any]]:
    return [msgspec.json.decode(item) for item in items]


def _status(request: Req, statuses: type[StrEnum], default: str = "") -> str:
    """The list's status filter; anything unknown shows every status."""
    value = request.query_params.get("status", default)
    return value if value in {s.value for s in statuses} else ""


async def _partners(state: State, page: View) -> dict[str, str]:
    found = await state.distribution.list(page.token, "partners", PARTNERS_SHOWN, None)
    return {p["id"]: p["name"] for p in _decoded(found.items)}


async def _form(request: Req, *names: str) -> dict[str, str]:
    form = await request.form()
    return {n: v.strip() for n in names if isinstance(v := form.get(n, ""), str)}


def _json(value: Any) -> bytes:
    return msgspec.json.encode(value)


async def _with_partner(
    state: State, page: View, resource: str, record_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A record and the partner it concerns (both the caller's organization's, or 404)."""
    found = document(await state.distribution.get(page.token, resource, record_id))
    partner = document(await state.distribution.get(page.token, "partners", found["partner_id"]))
    return found, partner


def _list_route(resource: str, statuses: type[StrEnum], default: str = "") -> HTTPRouteHandler:
    """A paged list filtered by status (``?status=all`` for every one) with partner names;
    invoices come from domain-api ready to render, gross totals computed there (ADR 0322)."""

    async def listed(request: Req, state: State) -> Template:
        page = view(request, READ)
        status = _status(request, statuses, default)
        query = {"status": status or "all"}
        shown: dict[str, Any] = {"status": status, "statuses": [s.value for s in statuses]}
        if resource == "invoices":  # ready to render: totals and names from domain-api
            listed = document(
                await state.console.invoices(page.token, page_request(request), status)
            )
            found_rows = Rows(
                listed["items"], listed["page"], listed["total_count"], listed["total_pages"], query
            )
            return page.render("distribution/invoices.html", rows=found_rows, **shown)
        found, partners = await asyncio.gather(
            state.distribution.list(page.token, resource, page_request(request), status or None),
            _partners(state, page),
        )
        items = _decoded(found.items)
        return page.render(
            f"distribution/{resource}.html",
            rows=Rows(items, found.request.page, found.total_count, found.total_pages, query),
            partners=partners,
            **shown,
        )

    return get(f"{PREFIX}/{resource}", name=f"console:{resource}")(listed)


def _action_route(resource: str, board: bool = False) -> HTTPRouteHandler:
    """Apply the form's lifecycle action (the use case validates it: unknown → 400, a move
    its table lacks → 409); back to the record, or to the board it was moved on unless its
    partner mail was held back."""

    async def act(request: Req, state: State, record_id: str) -> Redirect:
        page = view(request, WRITE)
        given = await _form(request, "action", "reason", "tracking")
        body = _json({k: v for k, v in given.items() if v or k == "action"})
        moved = document(await state.distribution.act(page.token, resource, record_id, body))
        # A move whose partner mail the day's cap held back shows the record, which says so
        # and offers to send it later (ADR 0354), rather than the board.
        held = (moved.get("notification") or {}).get("status") == "not_sent"
        return Redirect(f"{PREFIX}/{resource}" + ("" if board and not held else f"/{record_id}"))

    return post(
        f"{PREFIX}/{resource}/{{record_id:str}}/actions",
        name=f"console:{resource}-act",
        request_max_body_size=FORM_LIMIT,
    )(act)


def _resend_route(resource: str) -> HTTPRouteHandler:
    """Send the record's partner mail again that the day's cap held back (ADR 0354): while
    the cap is still reached the answer is the console's 429 page, saying when to retry."""

    async def resend(request: Req, state: State, record_id: str) -> Redirect:
        page = view(request, WRITE)
        await state.distribution.resend_notification(page.token, resource, record_id)
        return Redirect(f"{PREFIX}/{resource}/{record_id}")

    return post(
        f"{PREFIX}/{resource}/{{record_id:str}}/notification",
        name=f"console:{resource}-resend-notification",
        request_max_body_size=FORM_LIMIT,
    )(resend)


# ------------------------------------------------------------------ seed requests (inbox)


@get(f"{PREFIX}/seed-requests/{{record_id:str}}", name="console:seed-request")
async def seed_request(request: Req, state: State, record_id: str) -> Template:
    """The request, its moves, and (once approved) a form that drafts its dispatch: a seed
    lot and an amount per item, the lots offered being those holding the item's germplasm."""
    page = view(request, READ)
    found, partner = await _with_partner(state, page, "seed-requests", record_id)
    allowed = [
        a.value
        for a in REQUEST_LIFECYCLE.allowed(RequestStatus(found["status"]))
        if a != RequestAction.FULFIL  # a shipped dispatch fulfils it
    ]
    drafting = found["status"] == RequestStatus.APPROVED and page.can("distribution:write")
    lots = await _lots_for(state, page, found["items"]) if drafting else None
    germplasm, seed_lots = await _item_names(state, page, found["items"])
    return page.render(
        "distribution/request.html",
        record=found,
        germplasm_names=germplasm,
        lot_names=seed_lots,
        partner=partner,
        allowed=allowed,
        verbs=VERBS,
        lots=lots,
        agreement_types=[t.value for t in AgreementType],
    )


async def _item_names(
    state: State, page: View, items: list[dict[str, Any]]
) -> tuple[dict[str, str], dict[str, str]]:
    """The names of the germplasm and seed lots that ``items`` (request or dispatch lines) name."""
    germplasm = [g for i in items for g in (i.get("germplasm_ids") or [i.get("germplasm_id")])]
    found = await asyncio.gather(
        names(state, page, "germplasm", germplasm),
        names(state, page, "seedlot", (i.get("seed_lot_id") for i in items)),
    )
    return found[0], found[1]


async def _lots_for(state: State, page: View, items: list[dict[str, Any]]) -> list[list[Any]]:
    """Per item, the seed lots it may be drawn from: the named lot, or the germplasm's lots
    (``LOTS_OFFERED`` each; a request names at most ``ITEMS_DRAFTED`` items here)."""

    async def offered(item: dict[str, Any]) -> list[Any]:
        if item.get("seed_lot_id"):
            return [document(await state.brapi.get(page.token, "seedlot", item["seed_lot_id"]))]
        criteria = {"germplasmDbId": [item["germplasm_id"]]}
        found = await lists(state, page).list(page.token, "seedlot", criteria, LOTS_OFFERED)
        listed: list[Any] = msgspec.json.decode(found.documents)
        return listed

    return list(await asyncio.gather(*(offered(i) for i in items[:ITEMS_DRAFTED])))


@post(
    f"{PREFIX}/seed-requests/{{record_id:str}}/dispatches",
    name="console:seed-request-dispatch",
    request_max_body_size=FORM_LIMIT,
)
async def draft_dispatch(request: Req, state: State, record_id: str) -> Redirect:
    """``lot-N`` and ``amount-N`` per item N; the use case checks lots, amounts and the
    request's state (400 / 409, nothing created)."""
    page = view(request, WRITE)
    form = await request.form()
    lines = []
    for n in range(ITEMS_DRAFTED):
        lot, amount = form.get(f"lot-{n}"), form.get(f"amount-{n}")
        if isinstance(lot, str) and isinstance(amount, str) and lot and amount.strip():
            lines.append({"seed_lot_id": lot, "amount": amount.strip()})
    body = _json({"request_id": record_id, "lines": lines})
    await state.distribution.create(page.token, "dispatches", body)
    return Redirect(f"{PREFIX}/dispatches")


# ------------------------------------------------------------------ agreements (signing)


@get(f"{PREFIX}/agreements/{{record_id:str}}", name="console:agreement")
async def agreement(request: Req, state: State, record_id: str) -> Template:
    """The exact text sent for signature, its SHA-256, who signed, and a form per party
    still to sign: the form carries the hash of the text shown, so a signer never signs
    a text other than the one on the page (a changed text is a 409)."""
    page = view(request, READ)
    found = document(await state.distribution.get(page.token, "agreements", record_id))
    signed = {s["party_role"]: s for s in found["signatures"]}
    unsigned = [p["role"] for p in found["parties"] if p["role"] not in signed]
    return page.render(
        "distribution/agreement.html",
        record=found,
        signed=signed,
        unsigned=unsigned if found["status"] == "pending_signature" else [],
        allowed=[a for a in found["allowed"] if a != AgreementAction.ACTIVATE],  # by signing
        verbs=VERBS,
        # A draft terminated before it was sent has no text fixed, so no PDF.
        pdf=found["status"] in WITH_PDF["agreements"] and bool(found.get("document_sha256")),
    )


@post(
    f"{PREFIX}/agreements/{{record_id:str}}/signatures",
    name="console:agreement-sign",
    request_max_body_size=FORM_LIMIT,
)
async def agreement_sign(request: Req, state: State, record_id: str) -> Redirect:
    page = view(request, WRITE)
    given = await _form(request, "party_role", "document_sha256")
    await state.distribution.sign(page.token, record_id, _json(given))
    return Redirect(f"{PREFIX}/agreements/{record_id}")


# ------------------------------------------------------------------ dispatch board


@get(f"{PREFIX}/dispatches", name="console:dispatches")
async def dispatch_board(request: Req, state: State) -> Template:
    """A column per status, each with the moves its lifecycle allows from there. Shipping
    writes the seed-lot withdrawals; no covering agreement or too little seed is a 409
    page that says why, and nothing changed."""
    page = view(request, READ)
    column = PageRequest(0, BOARD_COLUMN)
    pages = await asyncio.gather(
        *(
            state.distribution.list(page.token, "dispatches", column, status.value)
            for status in DispatchStatus
        )
    )
    partners = await _partners(state, page)
    columns = [
        (
            status.value,
            found.total_count,
            [dispatch_document(from_document(d, Dispatch)) for d in _decoded(found.items)],
        )
        for status, found in zip(DispatchStatus, pages, strict=True)
    ]
    return page.render(
        "distribution/dispatches.html", columns=columns, partners=partners, verbs=VERBS
    )


@get(f"{PREFIX}/dispatches/{{record_id:str}}", name="console:dispatch")
async def dispatch(request: Req, state: State, record_id: str) -> Template:
    page = view(request, READ)
    found, partner = await _with_partner(state, page, "dispatches", record_id)
    pdf = found["status"] in WITH_PDF["dispatches"]
    germplasm, seed_lots = await _item_names(state, page, found["lines"])
    return page.render(
        "distribution/dispatch.html",
        record=found,
        partner=partner,
        verbs=VERBS,
        pdf=pdf,
        germplasm_names=germplasm,
        lot_names=seed_lots,
    )


# ------------------------------------------------------------------ invoices


@get(f"{PREFIX}/invoices/{{record_id:str}}", name="console:invoice")
async def invoice(request: Req, state: State, record_id: str) -> Template:
    page = view(request, READ)
    found, partner = await _with_partner(state, page, "invoices", record_id)
    return page.render(
        "distribution/invoice.html",
        record=found,
        partner=partner,
        verbs=VERBS,
        creditable=found["status"] in ("issued", "paid") and not found.get("credit_for"),
        pdf=found["status"] in WITH_PDF["invoices"],
    )


@post(
    f"{PREFIX}/invoices/{{record_id:str}}/credit-notes",
    name="console:invoice-credit",
    request_max_body_size=FORM_LIMIT,
)
async def invoice_credit(request: Req, state: State, record_id: str) -> Redirect:
    page = view(request, WRITE)
    note = document(await state.distribution.credit_note(page.token, record_id))
    return Redirect(f"{PREFIX}/invoices/{note['id']}")


def _pdf_route(resource: str) -> HTTPRouteHandler:
    async def pdf(request: Req, state: State, record_id: str) -> Response[bytes]:
        """The worker's PDF, inline so the detail page previews it in a same-origin frame."""
        page = view(request, READ)
        content, sha256 = await state.distribution.document(page.token, resource, record_id)
        return Response(
            content,
            media_type="application/pdf",
            headers={
                "content-disposition": content_disposition(f"{resource}-{record_id}.pdf", "inline"),
                "x-content-sha256": sha256,
            },
        )

    return get(f"{PREFIX}/{resource}/{{record_id:str}}/pdf", name=f"console:{resource}-pdf")(pdf)


ROUTES = [
    _list_route("seed-requests", RequestStatus, default="submitted"),
    _list_route("agreements", AgreementStatus),
    _list_route("invoices", InvoiceStatus),
    seed_request,
    draft_dispatch,
    agreement,
    agreement_sign,
    dispatch_board,
    dispatch,
    invoice,
    invoice_credit,
    *(_action_route(resource) for resource in ("seed-requests", "agreements", "invoices")),
    _action_route("dispatches", board=True),
    *(_resend_route(r) for r in ("seed-requests", "agreements", "dispatches", "invoices")),
    *(_pdf_route(resource) for resource in WITH_PDF),
]
