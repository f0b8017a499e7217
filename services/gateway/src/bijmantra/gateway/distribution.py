"""Platform API of the distribution context: ``/api/v1/partners``, ``/seed-requests``,
``/agreements``, ``/dispatches``, ``/invoices`` (+ ``/pdf``), in the platform envelope.

Records from domain-api are JSON bytes spliced into ``{data, meta, links}`` undecoded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import msgspec
from bijmantra.application.distribution.read_models import (
    AgreementDocument,
    AgreementRecord,
    DispatchDocument,
    DispatchRecord,
    InvoiceDocument,
    InvoiceRecord,
    PartnerDocument,
    SeedRequestDocument,
    SeedRequestRecord,
)
from bijmantra.application.security import Action, Permission
from bijmantra.edge.envelopes import Envelope, PageEnvelope
from bijmantra.gateway.compliance import page_body, page_query
from litestar import Request, Response, get, post, put
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler

JSON = "application/json"
MAX_BODY = 1 << 20
READ = {"permission": Permission("distribution", Action.READ)}
WRITE = {"permission": Permission("distribution", Action.WRITE)}
COLLECTIONS = ("partners", "seed-requests", "agreements", "dispatches", "invoices")
WITH_LIFECYCLE = ("seed-requests", "agreements", "dispatches", "invoices")
WITH_PDF = ("agreements", "dispatches", "invoices")
_encode = msgspec.json.encode
AnyRequest = Request[Any, Any, Any]


class Answers(NamedTuple):
    """What a collection's operations answer: a page of stored records, a created record,
    one record as shown (with what the server computes), and one after an action."""

    listed: Any
    created: Any
    shown: Any
    acted: Any = None


def _answers(record: Any, created: Any, shown: Any, acted: Any = None) -> Answers:
    return Answers(
        PageEnvelope[record], Envelope[created], Envelope[shown], acted and Envelope[acted]
    )


ANSWERS = {
    "partners": _answers(PartnerDocument, PartnerDocument, PartnerDocument),
    "seed-requests": _answers(
        SeedRequestRecord, SeedRequestRecord, SeedRequestDocument, SeedRequestRecord
    ),
    "agreements": _answers(
        AgreementRecord, AgreementDocument, AgreementDocument, AgreementDocument
    ),
    "dispatches": _answers(DispatchRecord, DispatchDocument, DispatchDocument, DispatchDocument),
    "invoices": _answers(InvoiceRecord, InvoiceDocument, InvoiceDocument, InvoiceDocument),
}


def one_body(request: AnyRequest, document: bytes, status: int = 200) -> Response[bytes]:
    meta = _encode({"request_id": request.scope.get("state", {}).get("request_id")})
    body = b"".join((b'{"data":', document, b',"meta":', meta, b',"links":{}}'))
    return Response(body, media_type=JSON, status_code=status)


def _returns(permission: dict[str, Permission], answer: Any) -> dict[str, Any]:
    return {**permission, "returns": answer}


def _collection_routes(name: str) -> list[HTTPRouteHandler]:
    base = f"/api/v1/{name}"
    answers = ANSWERS[name]

    async def list_records(request: AnyRequest, state: State) -> Response[bytes]:
        status = request.query_params.get("status") or None
        page = await state.distribution.list(request.auth, name, page_query(request), status)
        return page_body(request, page)

    async def create_record(request: AnyRequest, state: State) -> Response[bytes]:
        body = await request.body()
        return one_body(request, await state.distribution.create(request.auth, name, body), 201)

    async def get_record(request: AnyRequest, state: State, record_id: str) -> Response[bytes]:
        return one_body(request, await state.distribution.get(request.auth, name, record_id))

    routes = [
        get(base, opt=_returns(READ, answers.listed), name=f"{name}-list")(list_records),
        post(
            base,
            opt=_returns(WRITE, answers.created),
            name=f"{name}-create",
            request_max_body_size=MAX_BODY,
        )(create_record),
        get(
            f"{base}/{{record_id:str}}",
            opt=_returns(READ, answers.shown),
            name=f"{name}-get",
        )(get_record),
    ]
    if name in WITH_LIFECYCLE:

        async def apply_action(
            request: AnyRequest, state: State, record_id: str
        ) -> Response[bytes]:
            body = await request.body()
            document = await state.distribution.act(request.auth, name, record_id, body)
            return one_body(request, document)

        routes.append(
            post(
                f"{base}/{{record_id:str}}/actions",
                opt=_returns(WRITE, answers.acted),
                name=f"{name}-act",
                status_code=200,
                request_max_body_size=MAX_BODY,
            )(apply_action)
        )
    if name in WITH_PDF:

        async def get_pdf(request: AnyRequest, state: State, record_id: str) -> Response[bytes]:
            content, sha256 = await state.distribution.document(request.auth, name, record_id)
            headers = {"Digest": f"sha-256={sha256}", "X-Content-SHA256": sha256}
            return Response(content, media_type="application/pdf", headers=headers)

        routes.append(get(f"{base}/{{record_id:str}}/pdf", opt=READ, name=f"{name}-pdf")(get_pdf))
    return routes


@post(
    "/api/v1/agreements/{record_id:str}/signatures",
    opt=_returns(WRITE, Envelope[AgreementDocument]),
    status_code=200,
    request_max_body_size=MAX_BODY,
)
async def sign_agreement(request: AnyRequest, state: State, record_id: str) -> Response[bytes]:
    body = await request.body()
    return one_body(request, await state.distribution.sign(request.auth, record_id, body))


@put(
    "/api/v1/invoices/{record_id:str}/lines",
    opt=_returns(WRITE, Envelope[InvoiceDocument]),
    request_max_body_size=MAX_BODY,
)
async def edit_invoice_lines(request: AnyRequest, state: State, record_id: str) -> Response[bytes]:
    body = await request.body()
    return one_body(request, await state.distribution.edit_invoice(request.auth, record_id, body))


@post(
    "/api/v1/invoices/{record_id:str}/credit-notes",
    opt=_returns(WRITE, Envelope[InvoiceDocument]),
    request_max_body_size=1024,
)
async def create_credit_note(request: AnyRequest, state: State, record_id: str) -> Response[bytes]:
    return one_body(request, await state.distribution.credit_note(request.auth, record_id), 201)


@get("/api/v1/agreements/smta-report", opt=READ)
async def smta_report(request: AnyRequest, state: State) -> Response[bytes]:
    csv = await state.distribution.smta_csv(request.auth)
    disposition = 'attachment; filename="smta-report.csv"'
    return Response(
        csv, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": disposition}
    )


def route_handlers() -> list[HTTPRouteHandler | Callable[..., Any]]:
    handlers: list[HTTPRouteHandler | Callable[..., Any]] = [
        smta_report,
        sign_agreement,
        edit_invoice_lines,
        create_credit_note,
    ]
    for name in COLLECTIONS:
        handlers.extend(_collection_routes(name))
    return handlers
