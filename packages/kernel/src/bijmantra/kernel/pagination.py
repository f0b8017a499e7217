"""BrAPI-style 0-based page pagination, shared by every query."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Generic, TypeVar

from bijmantra.kernel.errors import FieldError, ValidationFailed

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 10_000
# Bounds the offset (and fits int32 page numbers on the wire): 10^6 pages of 10^4 rows.
MAX_PAGE = 1_000_000
# A page's documents together (ADR 0376): 10,000 documents of 3 KB. A document may hold up to
# 1 MB, so without it one page of 10,000 was 10 GB, built whole by PostgreSQL, domain-api and
# the gateway.
MAX_PAGE_BYTES = 32 << 20


_DECIMAL = re.compile(r"-?[0-9]+")


def decimal_integer(text: str) -> int:
    """``text`` as an integer written in ASCII digits (an optional ``-``), else ValueError.

    ``int`` also reads other scripts' digits (full-width, Arabic-Indic), ``+``, ``_`` and
    spaces: a page given in full-width digits was a page (ADR 0387). The contracts' integers
    are ASCII digits, and one parameter has one spelling."""
    if _DECIMAL.fullmatch(text) is None:
        raise ValueError(f"not a decimal integer: {text[:40]!r}")
    return int(text)


def page_too_large(size: int) -> ValidationFailed:
    """The refusal of a page whose documents pass :data:`MAX_PAGE_BYTES` together."""
    return ValidationFailed(
        f"This page's documents hold more than {MAX_PAGE_BYTES} bytes; ask for fewer per page",
        [FieldError("pageSize", f"its documents hold over {MAX_PAGE_BYTES} bytes ({size})")],
    )


@dataclass(frozen=True, slots=True)
class PageRequest:
    page: int = 0
    page_size: int = DEFAULT_PAGE_SIZE

    def __post_init__(self) -> None:
        problems = []
        if not 0 <= self.page <= MAX_PAGE:
            problems.append(FieldError("page", f"must be between 0 and {MAX_PAGE}"))
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            problems.append(FieldError("pageSize", f"must be between 1 and {MAX_PAGE_SIZE}"))
        if problems:
            raise ValidationFailed("Invalid pagination parameters", problems)

    @property
    def offset(self) -> int:
        return self.page * self.page_size


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    request: PageRequest
    total_count: int

    @property
    def total_pages(self) -> int:
        size = self.request.page_size
        return (self.total_count + size - 1) // size
