"""Reading documents for pages: bounded paging from the query string, decoded rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import msgspec
from bijmantra.application.ports.documents import DocumentPage
from bijmantra.gateway.console.web import View
from bijmantra.gateway.page_cache import PageCache
from bijmantra.kernel import PageRequest, TenantId
from litestar import Request
from litestar.datastructures import State

PAGE_SIZE = 25
MAX_PAGE = 100_000


def page_request(request: Request[Any, Any, Any], size: int = PAGE_SIZE) -> PageRequest:
    """A malformed or absurd ``page`` shows the first page rather than an error."""
    raw = request.query_params.get("page", "0")
    number = int(raw) if raw.isdecimal() and len(raw) < 7 else 0
    return PageRequest(min(number, MAX_PAGE), size)


def search_term(request: Request[Any, Any, Any]) -> str:
    """The search box's text as typed (trimmed): never cut short, so a term too long is
    refused by domain-api (400) rather than searched for as something else."""
    return request.query_params.get("q", "").strip()


@dataclass(frozen=True)
class Rows:
    """One page of rows plus what the pager needs to link the neighbouring pages."""

    items: list[dict[str, Any]]
    page: int
    total_count: int
    total_pages: int
    query: dict[str, str]

    def link(self, page: int) -> str:
        return "?" + urlencode({**self.query, "page": page})


def rows(page: DocumentPage, query: dict[str, str]) -> Rows:
    items: list[dict[str, Any]] = msgspec.json.decode(page.documents)
    return Rows(items, page.request.page, page.total_count, page.total_pages, query)


def document(raw: bytes) -> dict[str, Any]:
    decoded: dict[str, Any] = msgspec.json.decode(raw)
    return decoded


@dataclass(frozen=True)
class CachedLists:
    """BrAPI lists through the gateway's page cache, as the JSON API reads them (ADR 0040,
    0297). Nothing is answered on trust: every read still goes to domain-api with the
    member's own token, which checks the permission and the organization's data version
    under row-level security, and only then says the kept page is still current. The key
    holds the organization; a member now denied, or a write since, never sees a kept page."""

    pages: PageCache
    tenant: TenantId

    async def list(
        self,
        token: str,
        entity: str,
        query: Mapping[str, Sequence[str]],
        page: PageRequest,
        *,
        contains: str = "",
    ) -> DocumentPage:
        """``contains``: the search box's text, a substring of the names (ADR 0385)."""
        return await self.pages.list(token, self.tenant, entity, query, page, contains=contains)


def lists(state: State, view: View) -> CachedLists:
    pages: PageCache = state.pages
    return CachedLists(pages, view.principal.tenant_id)


async def choices(state: State, view: View, entity: str, most: int) -> list[dict[str, Any]] | None:
    """The organization's records of ``entity`` for a form to pick one from (the
    ``record_picker`` macro); None when there are more than ``most``: the form asks for the id."""
    found = await lists(state, view).list(view.token, entity, {}, PageRequest(0, most))
    if found.total_count > most:
        return None
    listed: list[dict[str, Any]] = msgspec.json.decode(found.documents)
    return listed
