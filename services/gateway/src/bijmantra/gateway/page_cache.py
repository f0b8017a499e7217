"""Pages of BrAPI lists this gateway replica answered, kept with the data version they were
read at (ADR 0040).

A kept page is never answered on trust: each request still goes to domain-api with the
caller's token, which checks the permission and reads the entity's data version from
PostgreSQL under the caller's organization (RLS). Only when that version is still the
kept one does domain-api answer ``unchanged`` instead of reading, encoding and sending the
page again (a 1,000-germplasm page is ~0.9 MB). A write commits a new version in its own
transaction, so the next read after it always gets fresh data, from any replica.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from bijmantra.application.ports.documents import DocumentPage
from bijmantra.kernel import PageRequest, TenantId
from bijmantra.observability.metrics import PAGE_CACHE_REQUESTS
from cachetools import LRUCache

PageKey = tuple[str, str, tuple[tuple[str, tuple[str, ...]], ...], str, int, int]
_ENTRY_OVERHEAD = 256  # bytes per kept page besides its documents (key, tuple, object)


class VersionedPages(Protocol):
    """The part of the domain-api client the cache needs."""

    async def list_if_changed(
        self,
        token: str,
        entity: str,
        query: Mapping[str, Sequence[str]],
        page: PageRequest,
        *,
        known_version: int,
        contains: str = "",
    ) -> DocumentPage | None: ...


def _size(page: DocumentPage) -> int:
    coded = page.coded
    extra = 0 if coded is None else len(coded.codes) + len(coded.tail) + sum(map(len, coded.tokens))
    return len(page.documents) + extra + _ENTRY_OVERHEAD


class PageCache:
    """Least recently used pages up to ``max_bytes`` of documents; 0 keeps nothing."""

    def __init__(self, client: VersionedPages, max_bytes: int) -> None:
        self._client = client
        self._max_bytes = max_bytes
        self._pages: LRUCache[PageKey, DocumentPage] = LRUCache(max(max_bytes, 1), getsizeof=_size)

    async def list(
        self,
        token: str,
        tenant: TenantId,
        entity: str,
        query: Mapping[str, Sequence[str]],
        page: PageRequest,
        *,
        contains: str = "",
    ) -> DocumentPage:
        """``contains``: the console's name search (ADR 0385), part of the key."""
        key: PageKey = (
            str(tenant),
            entity,
            tuple(sorted((name, tuple(values)) for name, values in query.items())),
            contains,
            page.page,
            page.page_size,
        )
        kept = self._pages.get(key)
        found = await self._client.list_if_changed(
            token,
            entity,
            query,
            page,
            known_version=kept.version if kept else 0,
            contains=contains,
        )
        if found is None:
            assert kept is not None  # "unchanged" only ever answers a known version
            PAGE_CACHE_REQUESTS.labels("hit").inc()
            return kept
        PAGE_CACHE_REQUESTS.labels("miss").inc()
        if found.version and _size(found) <= self._max_bytes:
            self._pages[key] = found
        else:
            self._pages.pop(key, None)
        return found
