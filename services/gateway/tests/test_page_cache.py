"""The gateway's page cache: what it keeps, what it asks domain-api, and what it evicts."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from bijmantra.application.ports.documents import DocumentPage
from bijmantra.gateway.page_cache import PageCache
from bijmantra.kernel import PageRequest, TenantId


class VersionedDomain:
    """Stands in for domain-api: one version per (organization, entity), pages on demand."""

    def __init__(self) -> None:
        self.versions: dict[tuple[str, str], int] = {}
        self.calls: list[tuple[str, str, int]] = []
        self.pages_sent = 0

    async def list_if_changed(
        self,
        token: str,
        entity: str,
        query: Mapping[str, Sequence[str]],
        page: PageRequest,
        *,
        known_version: int,
        contains: str = "",
    ) -> DocumentPage | None:
        self.calls.append((token, entity, known_version))
        version = self.versions.get((token, entity), 0)
        if known_version and known_version == version:
            return None
        self.pages_sent += 1
        body = f'[{{"v":{version},"q":"{sorted(query.items())}{contains}","p":{page.page}}}]'
        body = body.encode()
        return DocumentPage(body + b" " * 100, 1, 1, page, version=version)


TENANT_A, TENANT_B = TenantId(uuid.uuid4()), TenantId(uuid.uuid4())


async def test_a_kept_page_is_revalidated_on_every_request_and_replaced_after_a_write() -> None:
    domain = VersionedDomain()
    domain.versions[("a", "germplasm")] = 7
    cache = PageCache(domain, max_bytes=1 << 20)
    first = await cache.list("a", TENANT_A, "germplasm", {}, PageRequest(0, 10))
    again = await cache.list("a", TENANT_A, "germplasm", {}, PageRequest(0, 10))
    assert again.documents == first.documents
    assert domain.calls == [("a", "germplasm", 0), ("a", "germplasm", 7)]  # asked both times
    assert domain.pages_sent == 1
    domain.versions[("a", "germplasm")] = 9  # a write committed
    fresh = await cache.list("a", TENANT_A, "germplasm", {}, PageRequest(0, 10))
    assert b'"v":9' in fresh.documents
    assert domain.pages_sent == 2


async def test_pages_are_kept_per_organization_query_and_page() -> None:
    domain = VersionedDomain()
    for token in ("a", "b"):
        domain.versions[(token, "germplasm")] = 5  # equal versions in two organizations
    cache = PageCache(domain, max_bytes=1 << 20)
    await cache.list("a", TENANT_A, "germplasm", {}, PageRequest(0, 10))
    await cache.list("b", TENANT_B, "germplasm", {}, PageRequest(0, 10))
    await cache.list("a", TENANT_A, "germplasm", {"commonCropName": ["Rice"]}, PageRequest(0, 10))
    await cache.list("a", TENANT_A, "germplasm", {}, PageRequest(1, 10))
    searched = await cache.list("a", TENANT_A, "germplasm", {}, PageRequest(0, 10), contains="ir")
    assert [known for _, _, known in domain.calls] == [0, 0, 0, 0, 0]  # nothing shared
    assert domain.pages_sent == 5
    assert b"ir" in searched.documents  # the search box's page, not the unsearched one


async def test_unversioned_and_oversized_pages_are_never_kept_and_old_pages_are_evicted() -> None:
    domain = VersionedDomain()
    cache = PageCache(domain, max_bytes=1000)
    await cache.list("a", TENANT_A, "germplasm", {}, PageRequest(0, 10))  # version 0
    await cache.list("a", TENANT_A, "germplasm", {}, PageRequest(0, 10))
    assert [known for _, _, known in domain.calls] == [0, 0]
    domain.versions[("a", "germplasm")] = 3
    for number in range(4):  # an entry is ~390 bytes with its overhead: the last two stay
        await cache.list("a", TENANT_A, "germplasm", {}, PageRequest(number, 10))
    domain.calls.clear()
    for number in (3, 2, 1, 0):
        await cache.list("a", TENANT_A, "germplasm", {}, PageRequest(number, 10))
    assert [known for _, _, known in domain.calls] == [3, 3, 0, 0]


async def test_a_disabled_cache_always_fetches() -> None:
    domain = VersionedDomain()
    domain.versions[("a", "germplasm")] = 4
    cache = PageCache(domain, max_bytes=0)
    for _ in range(3):
        await cache.list("a", TENANT_A, "germplasm", {}, PageRequest(0, 10))
    assert [known for _, _, known in domain.calls] == [0, 0, 0]
