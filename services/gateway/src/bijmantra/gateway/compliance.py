"""Platform API routes of the compliance context: the audit trail and resource activity.

Documents from domain-api are spliced into the ``{data, meta, links}`` envelope as bytes.
"""

from __future__ import annotations

from typing import Any

import msgspec
from bijmantra.application.compliance import ACTIVITY, AUDIT
from bijmantra.application.compliance.dto import (
    ActivityDocument,
    AuditEntryDocument,
    ChainVerdictDocument,
)
from bijmantra.edge import QUERY, Query, query_int, query_value
from bijmantra.edge.envelopes import Envelope, PageEnvelope, platform_body
from bijmantra.edge.requests import request_id
from bijmantra.kernel import FieldError, Page, PageRequest, ValidationFailed
from bijmantra.kernel.pagination import MAX_PAGE, MAX_PAGE_SIZE
from litestar import Request, Response, get
from litestar.datastructures import State

JSON = "application/json"
DEFAULT_PAGE_SIZE = 100
_encode = msgspec.json.encode
# The page a platform list answers (``page_query``); every paged route declares these.
PAGING = (
    Query("page", "integer", minimum=0, maximum=MAX_PAGE, description="0-based page number"),
    Query("page_size", "integer", minimum=1, maximum=MAX_PAGE_SIZE),
)


def page_query(request: Request[Any, Any, Any]) -> PageRequest:
    return PageRequest(
        query_int(request, "page", 0), query_int(request, "page_size", DEFAULT_PAGE_SIZE)
    )


def page_body(request: Request[Any, Any, Any], page: Page[bytes]) -> Response[bytes]:
    meta = {  # a dict: encodes faster than constructing ``PageMeta``, which describes it
        "request_id": request_id(request),
        "page": page.request.page,
        "page_size": page.request.page_size,
        "total_count": page.total_count,
        "total_pages": page.total_pages,
    }
    body = b"".join(
        (b'{"data":[', b",".join(page.items), b'],"meta":', _encode(meta), b',"links":{}}')
    )
    return Response(body, media_type=JSON)


@get(
    "/api/v1/audit",
    opt={"permission": AUDIT, "returns": PageEnvelope[AuditEntryDocument], QUERY: PAGING},
)
async def list_audit_entries(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    return page_body(request, await state.audit.entries(request.auth, page_query(request)))


@get(
    "/api/v1/audit/verify",
    opt={"permission": AUDIT, "returns": Envelope[ChainVerdictDocument]},
)
async def verify_audit_chain(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    verdict = await state.audit.verify(request.auth)
    return Response(platform_body(verdict, request_id(request)))


@get(
    "/api/v1/activity",
    opt={
        "permission": ACTIVITY,
        "returns": PageEnvelope[ActivityDocument],
        QUERY: (
            Query("resource", required=True),
            *PAGING,
        ),
    },
)
async def list_activity(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    resource = query_value(request, "resource")
    if not resource:
        raise ValidationFailed(
            "Query parameter resource is required", [FieldError("resource", "required")]
        )
    return page_body(
        request, await state.audit.activity(request.auth, resource, page_query(request))
    )


ROUTES = [list_audit_entries, verify_audit_chain, list_activity]
