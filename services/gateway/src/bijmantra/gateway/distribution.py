"""Platform API of the distribution context: ``/api/v1/partners``, ``/seed-requests``,
``/agreements``, ``/dispatches``, ``/invoices`` (+ ``/pdf``), in the platform envelope.

Records from domain-api are JSON bytes spliced into ``{data, meta, links}`` undecoded
(``forwarding``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

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
from bijmantra.edge import QUERY, Query, content_disposition
from bijmantra.edge.envelopes import Envelope, PageEnvelope
from bijmantra.gateway.compliance import PAGING
from bijmantra.gateway.forwarding import BODYLESS, forward
from litestar import Request, Response, get, post, put
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler

MAX_BODY = 1 << 20
READ = {"permission": Permission("distribution", Action.READ)}
WRITE = {"permission": Permission("distribution", Action.WRITE)}
COLLECTIONS = ("partners", "seed-requests", "agreements", "dispatches", "invoices")
WITH_LIFECYCLE = ("seed-requests", "agreements", "dispatches", "invoices")
WITH_PDF = ("agreements", "dispatches", "invoices")
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


def _returns(permission: dict[str, Permission], answer: Any) -> dict[str, Any]:
    return {**permission, "returns": answer}


def _collection_routes(name: str) -> list[HTTPRouteHandler]:
    base = f"/api/v1/{name}"
    one = f"{base}/{{record_id:str}}"
    answers = ANSWERS[name]
    routes = [
        forward(
            "list_records",
            get(
                base,
                opt={**_returns(READ, answers.listed), QUERY: (Query("status"), *PAGING)},
                name=f"{name}-list",
            ),
            lambda s, c: s.distribution.list(c.auth, name, c.page(), c.query("status") or None),
        ),
        forward(
            "create_record",
            post(
                base,
                opt=_returns(WRITE, answers.created),
                name=f"{name}-create",
                request_max_body_size=MAX_BODY,
            ),
            lambda s, c: s.distribution.create(c.auth, name, c.body),
        ),
        forward(
            "get_record",
            get(one, opt=_returns(READ, answers.shown), name=f"{name}-get"),
            lambda s, c: s.distribution.get(c.auth, name, c.key),
        ),
    ]
    if name in WITH_LIFECYCLE:
        routes.append(
            forward(
                "apply_action",
                post(
                    f"{one}/actions",
                    opt=_returns(WRITE, answers.acted),
                    name=f"{name}-act",
                    status_code=200,
                    request_max_body_size=MAX_BODY,
                ),
                lambda s, c: s.distribution.act(c.auth, name, c.key, c.body),
            )
        )
    if name in WITH_LIFECYCLE:
        routes.append(
            forward(
                "resend_notification",
                post(
                    f"{one}/notification",
                    opt={**_returns(WRITE, answers.acted), BODYLESS: True},
                    name=f"{name}-resend-notification",
                    status_code=200,
                    request_max_body_size=1024,
                ),
                lambda s, c: s.distribution.resend_notification(c.auth, name, c.key),
            )
        )
    if name in WITH_PDF:

        async def get_pdf(request: AnyRequest, state: State, record_id: str) -> Response[bytes]:
            content, sha256 = await state.distribution.document(request.auth, name, record_id)
            headers = {"Digest": f"sha-256={sha256}", "X-Content-SHA256": sha256}
            return Response(content, media_type="application/pdf", headers=headers)

        routes.append(get(f"{one}/pdf", opt=READ, name=f"{name}-pdf")(get_pdf))
    return routes


RECORD_ROUTES = [
    forward(
        "sign_agreement",
        post(
            "/api/v1/agreements/{record_id:str}/signatures",
            opt=_returns(WRITE, Envelope[AgreementDocument]),
            status_code=200,
            request_max_body_size=MAX_BODY,
        ),
        lambda s, c: s.distribution.sign(c.auth, c.key, c.body),
    ),
    forward(
        "edit_invoice_lines",
        put(
            "/api/v1/invoices/{record_id:str}/lines",
            opt=_returns(WRITE, Envelope[InvoiceDocument]),
            request_max_body_size=MAX_BODY,
        ),
        lambda s, c: s.distribution.edit_invoice(c.auth, c.key, c.body),
    ),
    forward(
        "create_credit_note",
        post(
            "/api/v1/invoices/{record_id:str}/credit-notes",
            opt={**_returns(WRITE, Envelope[InvoiceDocument]), BODYLESS: True},
            request_max_body_size=1024,
        ),
        lambda s, c: s.distribution.credit_note(c.auth, c.key),
    ),
]


@get("/api/v1/agreements/smta-report", opt=READ)
async def smta_report(request: AnyRequest, state: State) -> Response[bytes]:
    csv = await state.distribution.smta_csv(request.auth)
    disposition = content_disposition("smta-report.csv")
    return Response(csv, media_type="text/csv", headers={"Content-Disposition": disposition})


def route_handlers() -> list[HTTPRouteHandler | Callable[..., Any]]:
    handlers: list[HTTPRouteHandler | Callable[..., Any]] = [
        smta_report,
        *RECORD_ROUTES,
    ]
    for name in COLLECTIONS:
        handlers.extend(_collection_routes(name))
    return handlers
