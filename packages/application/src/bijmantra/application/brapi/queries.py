"""Read use cases of the BrAPI engine: documents come from the store already encoded."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from bijmantra.application.brapi.bounds import (
    MAX_SEARCH_RESULTS,
    decode_json,
    storable_ids,
)
from bijmantra.application.brapi.criteria import (
    MAX_FILTER_VALUES,
    fragment,
    query_criteria,
    search_criteria,
)
from bijmantra.application.brapi.entity import Catalog, Entity, TableChunk
from bijmantra.application.brapi.name_search import name_contains
from bijmantra.application.ports import UnitOfWorkFactory
from bijmantra.application.ports.documents import (
    Criteria,
    DocumentLookup,
    DocumentPage,
    ResourceStore,
    SearchResultStore,
    ViewSource,
)
from bijmantra.application.security import Action, Permission, authorize
from bijmantra.application.use_case import organization_unit
from bijmantra.kernel import (
    FieldError,
    NotFound,
    PageRequest,
    Principal,
    TenantId,
    ValidationFailed,
)


def read_permission(entity: Entity) -> Permission:
    return Permission(entity.context, Action.READ)


def _passed_on(entity: Entity, sent: Mapping[str, Any], *, search: bool) -> dict[str, Any]:
    """The filters of ``sent`` another entity answers (``Entity.through``)."""
    if entity.through is None:
        return {}
    names = entity.through.search_fields if search else entity.through.filters
    return {k: v for k, v in sent.items() if k in names and v not in (None, [], "")}


async def through_criteria(
    catalog: Catalog,
    store: ResourceStore,
    entity: Entity,
    passed: Mapping[str, Any],
    *,
    search: bool,
) -> Criteria:
    """A plate filtered by its samples: the DbIds the matching samples name, as one
    criterion (no sample matching: nothing matches). At most ``MAX_FILTER_VALUES``."""
    if entity.through is None or not passed:
        return ()
    other = catalog.entity(entity.through.entity)
    criteria = search_criteria(other, passed) if search else query_criteria(other, passed)
    keys = await store.distinct_values(other.name, criteria, entity.through.key)
    if len(keys) > MAX_FILTER_VALUES:
        raise ValidationFailed(
            f"The {other.path} filters match more than {MAX_FILTER_VALUES} {entity.path}",
            [FieldError(next(iter(passed)), "narrow the filter")],
        )
    return (tuple({entity.db_id: key} for key in keys),)


@dataclass(frozen=True)
class StoreReader:
    """The ``DocumentReader`` views get: documents of the caller's organization (row-level
    security), each entity only with the caller's permission to read it, as its own
    route would check."""

    store: ResourceStore
    catalog: Catalog
    principal: Principal

    def _readable(self, entity_name: str) -> Entity:
        entity = self.catalog.entity(entity_name)
        authorize(self.principal, read_permission(entity))
        return entity

    async def documents(self, entity: str, db_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return await self.store.documents(self._readable(entity).name, db_ids)

    async def parts(
        self, owner: str, kind: str, db_ids: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        self._readable(owner)
        return await self.store.documents(kind, db_ids)

    async def matching(
        self, entity: str, containment: dict[str, Any], limit: int = MAX_SEARCH_RESULTS
    ) -> list[dict[str, Any]]:
        return await self.store.matching(self._readable(entity).name, ((containment,),), limit)

    async def page(
        self, entity: str, query: Mapping[str, Sequence[str]], page: PageRequest
    ) -> DocumentPage:
        read = self._readable(entity)
        return await self.store.page(read.name, query_criteria(read, query), page)

    async def first(
        self, entity: str, query: Mapping[str, Sequence[str]], limit: int
    ) -> list[dict[str, Any]]:
        read = self._readable(entity)
        return await self.store.matching(read.name, query_criteria(read, query), limit)

    async def first_each(
        self, entity: str, queries: Sequence[Mapping[str, Sequence[str]]], limit: int
    ) -> list[list[dict[str, Any]]]:
        read = self._readable(entity)
        criteria = [query_criteria(read, query) for query in queries]
        return await self.store.matching_each(read.name, criteria, limit)

    async def lineage(
        self, entity: str, root: str, link: str, generations: int
    ) -> dict[str, dict[str, Any]]:
        name = self._readable(entity).name
        return await self.store.lineage(name, root, link.split("."), generations)


@dataclass
class UnitOfWorkLookup:
    """``DocumentLookup`` through a unit of work, for stores without a lighter read path."""

    uow: UnitOfWorkFactory

    async def document_bytes(self, tenant_id: TenantId, entity: str, db_id: str) -> bytes | None:
        async with self.uow(tenant_id) as uow:
            return await uow.resources.document_bytes(entity, db_id)


@dataclass
class ResourceQueries:
    catalog: Catalog
    uow: UnitOfWorkFactory
    searches: SearchResultStore
    lookup: DocumentLookup | None = None  # None: single documents through ``uow`` too
    views: ViewSource | None = None  # reads of ``Entity.view`` entities
    _lookup: DocumentLookup = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._lookup = self.lookup or UnitOfWorkLookup(self.uow)

    async def list(
        self,
        principal: Principal,
        entity_name: str,
        query: Mapping[str, Sequence[str]],
        page: PageRequest,
        *,
        contains: str = "",
    ) -> DocumentPage:
        found = await self.list_if_changed(
            principal, entity_name, query, page, known_version=0, contains=contains
        )
        assert found is not None  # no known version: always a page
        return found

    async def list_if_changed(
        self,
        principal: Principal,
        entity_name: str,
        query: Mapping[str, Sequence[str]],
        page: PageRequest,
        *,
        known_version: int,
        contains: str = "",
    ) -> DocumentPage | None:
        """A page; ``None`` when the caller's copy, read at ``known_version``, is still current
        (permission checked first, so a kept page is never answered to someone now denied).
        ``contains``: the console's search box, a substring of the entity's names (ADR 0385)."""
        entity = self.catalog.entity(entity_name)
        searched = (name_contains(entity.name, contains),) if contains else ()
        if entity.view:
            return await self._views.list(principal, entity.name, query, page)
        authorize(principal, read_permission(entity))
        passed = _passed_on(entity, query, search=False)
        criteria = query_criteria(entity, query, ignore=frozenset(passed)) + searched
        async with self.uow(principal.tenant_id) as uow:
            # Another entity's documents answer part of the query: its version says nothing.
            if (
                known_version
                and not passed
                and await uow.resources.version(entity.name) == known_version
            ):
                return None
            criteria += await through_criteria(
                self.catalog, uow.resources, entity, passed, search=False
            )
            return await uow.resources.page(entity.name, criteria, page)

    @property
    def _views(self) -> ViewSource:
        if self.views is None:
            raise NotFound("This server serves no view entities")
        return self.views

    async def get(self, principal: Principal, entity_name: str, db_id: str) -> bytes:
        entity = self.catalog.entity(entity_name)
        if entity.view:
            storable_ids(db_id)
            return await self._views.get(principal, entity.name, db_id)
        authorize(principal, read_permission(entity))
        storable_ids(db_id)
        document = await self._lookup.document_bytes(principal.tenant_id, entity.name, db_id)
        if document is None:
            raise NotFound(f"{entity.schema} {db_id!r} not found")
        return document

    async def children(
        self,
        principal: Principal,
        entity_name: str,
        db_id: str,
        suffix: str,
        query: Mapping[str, Sequence[str]],
        page: PageRequest,
    ) -> DocumentPage:
        """``GET /{path}/{dbId}/{suffix}``: a child collection filtered by the parent's DbId."""
        parent = self.catalog.entity(entity_name)
        child_name, filter_name = parent.children[suffix]
        if parent.view:  # the parent must exist; its children are a filtered list of views
            storable_ids(db_id)
            await self._views.get(principal, parent.name, db_id)
            return await self._views.list(
                principal, child_name, {**query, filter_name: [db_id]}, page
            )
        child = self.catalog.entity(child_name)
        authorize(principal, read_permission(child))
        storable_ids(db_id)
        criteria = () if child.view else query_criteria(child, {**query, filter_name: [db_id]})
        async with self.uow(principal.tenant_id) as uow:
            if not await uow.resources.documents(parent.name, [db_id]):
                raise NotFound(f"{parent.schema} {db_id!r} not found")
            if not child.view:
                return await uow.resources.page(child.name, criteria, page)
        # A view child (a map's linkage groups): derived by the view source.
        return await self._views.list(principal, child.name, {**query, filter_name: [db_id]}, page)

    async def view(
        self,
        principal: Principal,
        entity_name: str,
        db_id: str,
        suffix: str,
        query: Mapping[str, Sequence[str]] | None = None,
    ) -> bytes:
        entity = self.catalog.entity(entity_name)
        view = self.catalog.views[(entity.name, suffix)]
        authorize(principal, read_permission(entity))
        storable_ids(db_id)
        async with self.uow(principal.tenant_id) as uow:
            found = await uow.resources.documents(entity.name, [db_id])
            if not found:
                raise NotFound(f"{entity.schema} {db_id!r} not found")
            reader = StoreReader(uow.resources, self.catalog, principal)
            result = await view.build(reader, found[db_id], query or {})
        return msgspec.json.encode(result)

    async def vocabulary(self, principal: Principal, name: str, page: PageRequest) -> DocumentPage:
        vocabulary = self.catalog.vocabularies.get(name)
        if vocabulary is None:
            raise NotFound(f"Unknown vocabulary {name!r}")
        authorize(principal, Permission(vocabulary.context, Action.READ))
        if vocabulary.fixed:
            chosen = vocabulary.fixed[page.offset : page.offset + page.page_size]
            return DocumentPage(
                msgspec.json.encode(chosen), len(chosen), len(vocabulary.fixed), page
            )
        async with self.uow(principal.tenant_id) as uow:
            return await uow.resources.distinct(vocabulary.sources, page)

    async def table(
        self,
        principal: Principal,
        entity_name: str,
        suffix: str,
        query: Mapping[str, Sequence[str]],
    ) -> AsyncIterator[TableChunk]:
        """``GET /{path}/{suffix}``: a table streamed chunk by chunk inside one read transaction."""
        entity = self.catalog.entity(entity_name)
        builder = entity.tables.get(suffix)
        if builder is None:
            raise NotFound(f"{entity.schema} has no table {suffix!r}")
        authorize(principal, read_permission(entity))
        criteria = query_criteria(entity, query)
        async with self.uow(principal.tenant_id) as uow:
            async for chunk in builder.build(uow.resources, criteria):
                yield chunk

    async def content(
        self, principal: Principal, entity_name: str, db_id: str
    ) -> tuple[str, bytes]:
        entity = self.catalog.entity(entity_name)
        async with organization_unit(self.uow, principal, read_permission(entity)) as uow:
            found = await uow.resources.content(entity.name, db_id)
        if found is None:
            raise NotFound(f"No content for {entity.schema} {db_id!r}")
        return found

    async def search(self, principal: Principal, entity_name: str, body: bytes) -> str:
        """Run a search now and keep the matching DbIds; the id pages them later."""
        entity = self.catalog.entity(entity_name)
        authorize(principal, read_permission(entity))
        request = decode_json(body, "a JSON search request object") or {}
        if entity.view:
            if not isinstance(request, dict):
                raise ValidationFailed("A search request is a JSON object", [])
            return await self._views.search(principal, entity.name, request)
        passed = _passed_on(entity, request if isinstance(request, dict) else {}, search=True)
        criteria = search_criteria(entity, request, ignore=frozenset(passed))
        async with self.uow(principal.tenant_id) as uow:
            criteria += await through_criteria(
                self.catalog, uow.resources, entity, passed, search=True
            )
            ids = await uow.resources.matching_ids(entity.name, criteria, MAX_SEARCH_RESULTS)
        return await self.searches.save(principal.tenant_id, entity.name, ids)

    async def search_results(
        self, principal: Principal, entity_name: str, search_id: str, page: PageRequest
    ) -> DocumentPage:
        entity = self.catalog.entity(entity_name)
        if entity.view:
            return await self._views.search_results(principal, entity.name, search_id, page)
        authorize(principal, read_permission(entity))
        ids = await self.searches.load(principal.tenant_id, entity.name, search_id)
        if ids is None:
            raise NotFound(f"Search result {search_id!r} not found or expired")
        async with self.uow(principal.tenant_id) as uow:
            return await uow.resources.page_of_ids(entity.name, ids, page)


def containment(path: str, value: Any) -> dict[str, Any]:
    """Views' shorthand for one containment fragment on a dotted path."""
    return fragment(tuple(path.split(".")), value)
