"""Response envelopes of the two REST edges, built from the kernel's error taxonomy.

BrAPI: ``{metadata:{datafiles, pagination, status:[{message, messageType}]}, result}``.
Platform API: ``{data, meta:{request_id,…}, links}`` and ``{error:{code,message,details}, meta}``.
"""

from __future__ import annotations

from typing import Any

from bijmantra.kernel import BijmantraError, Page


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


def platform_error_body(error: BijmantraError, request_id: str | None) -> dict[str, Any]:
    return {
        "error": {
            "code": error.code.value,
            "message": error.message,
            "details": [{"location": d.location, "message": d.message} for d in error.details],
        },
        "meta": {"request_id": request_id},
    }


def platform_body(
    data: Any, request_id: str | None, links: dict[str, str] | None = None
) -> dict[str, Any]:
    return {"data": data, "meta": {"request_id": request_id}, "links": links or {}}
