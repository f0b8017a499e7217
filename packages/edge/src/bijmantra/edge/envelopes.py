"""Response envelopes of the two REST edges, built from the kernel's error taxonomy.

BrAPI: ``{metadata:{datafiles, pagination, status:[{message, messageType}]}, result}``.
Platform API: ``{data, meta:{request_id,…}, links}`` and ``{error:{code,message,details}, meta}``,
declared once as generic msgspec Structs: the published contract describes every ``/api/v1``
answer as one of them around the use case's own document type (ADR 0250).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec
from bijmantra.kernel import BijmantraError, ErrorCode, Page

T = TypeVar("T")


class Meta(msgspec.Struct):
    request_id: str | None


class PageMeta(msgspec.Struct):
    request_id: str | None
    page: int
    page_size: int
    total_count: int
    total_pages: int


class Envelope(msgspec.Struct, Generic[T]):
    """One document: ``data`` is the use case's read model."""

    data: T
    meta: Meta
    links: dict[str, str]


class ListEnvelope(msgspec.Struct, Generic[T]):
    """A short, bounded list answered whole (no paging)."""

    data: list[T]
    meta: Meta
    links: dict[str, str]


class PageEnvelope(msgspec.Struct, Generic[T]):
    """One page of a list; ``meta`` says where it is."""

    data: list[T]
    meta: PageMeta
    links: dict[str, str]


class ErrorDetail(msgspec.Struct):
    location: str
    message: str


class ErrorBody(msgspec.Struct):
    code: ErrorCode
    message: str
    details: list[ErrorDetail]


class ErrorEnvelope(msgspec.Struct):
    error: ErrorBody
    meta: Meta


def brapi_metadata(
    page: Page[Any] | None = None, messages: list[tuple[str, str]] | None = None
) -> dict[str, Any]:
    pagination = None
    if page is not None:
        pagination = {
            "currentPage": page.request.page,
            "pageSize": page.request.page_size,
            "totalCount": page.total_count,
            "totalPages": page.total_pages,
        }
    return {
        "datafiles": [],
        "pagination": pagination,
        "status": [{"message": m, "messageType": t} for t, m in messages or []],
    }


def brapi_error_body(error: BijmantraError) -> dict[str, Any]:
    messages = [("ERROR", error.message)]
    messages += [("ERROR", f"{d.location}: {d.message}") for d in error.details]
    return {"metadata": brapi_metadata(messages=messages), "result": None}


def platform_error_body(error: BijmantraError, request_id: str | None) -> ErrorEnvelope:
    details = [ErrorDetail(d.location, d.message) for d in error.details]
    return ErrorEnvelope(ErrorBody(error.code, error.message, details), Meta(request_id))


def platform_body(
    data: T, request_id: str | None, links: dict[str, str] | None = None
) -> Envelope[T]:
    return Envelope(data, Meta(request_id), links or {})
