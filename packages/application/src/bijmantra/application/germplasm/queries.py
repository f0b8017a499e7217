"""Germplasm queries: read-model documents, no aggregates loaded."""

from __future__ import annotations

from dataclasses import dataclass, field

from bijmantra.application.ports import UnitOfWorkFactory
from bijmantra.application.security import Action, Permission, authorize
from bijmantra.kernel import NotFound, Page, PageRequest, Principal

READ = Permission("germplasm", Action.READ)


@dataclass(frozen=True, slots=True)
class GermplasmFilter:
    """BrAPI ``GET /germplasm`` filters; each list matches any of its values."""

    germplasm_db_ids: tuple[str, ...] = ()
    germplasm_names: tuple[str, ...] = ()
    germplasm_puis: tuple[str, ...] = ()
    common_crop_names: tuple[str, ...] = ()
    accession_numbers: tuple[str, ...] = ()
    collections: tuple[str, ...] = ()
    genus: tuple[str, ...] = ()
    species: tuple[str, ...] = ()
    synonyms: tuple[str, ...] = ()
    external_reference_ids: tuple[str, ...] = ()
    external_reference_sources: tuple[str, ...] = ()
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass
class GetGermplasm:
    uow: UnitOfWorkFactory

    async def __call__(self, principal: Principal, germplasm_db_id: str) -> bytes:
        authorize(principal, READ)
        async with self.uow(principal.tenant_id) as uow:
            document = await uow.germplasm_views.get_document(germplasm_db_id)
        if document is None:
            raise NotFound(f"Germplasm {germplasm_db_id!r} not found")
        return document


@dataclass
class ListGermplasm:
    uow: UnitOfWorkFactory

    async def __call__(
        self, principal: Principal, criteria: GermplasmFilter, page: PageRequest
    ) -> Page[bytes]:
        authorize(principal, READ)
        async with self.uow(principal.tenant_id) as uow:
            return await uow.germplasm_views.list_documents(criteria, page)
