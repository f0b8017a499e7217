"""Paging on the gRPC edge, written once for every servicer: the page a list RPC asks for
and the totals every list answers with."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypedDict, TypeVar

from bijmantra.kernel import Page, PageRequest

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 100


class PagedRequest(Protocol):
    page: int
    page_size: int


class ListFields(TypedDict):
    """The fields every list response has (a sensors list has no others): unpack into the
    response (``Response(**fields)``)."""

    documents: list[bytes]
    total_count: int


class PageFields(ListFields):
    """The fields a paged list response shares: its documents and total, and the page."""

    page: int
    page_size: int
    total_pages: int


def requested_page(request: PagedRequest, default_size: int = DEFAULT_PAGE_SIZE) -> PageRequest:
    """proto3 sends an unset page size as 0, which means the service's default."""
    return PageRequest(request.page, request.page_size or default_size)


def list_fields(page: Page[T], encode: Callable[[T], bytes]) -> ListFields:
    return ListFields(documents=[encode(item) for item in page.items], total_count=page.total_count)


def page_fields(page: Page[T], encode: Callable[[T], bytes]) -> PageFields:
    return PageFields(
        **list_fields(page, encode),
        page=page.request.page,
        page_size=page.request.page_size,
        total_pages=page.total_pages,
    )
