"""Germplasm commands: every call is one transaction with its events in the outbox."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from bijmantra.application.germplasm.dto import GermplasmNewRequest
from bijmantra.application.germplasm.queries import GermplasmFilter
from bijmantra.application.ports import UnitOfWorkFactory
from bijmantra.application.security import Action, Permission, authorize
from bijmantra.kernel import FieldError, PageRequest, Principal, ValidationFailed

WRITE = Permission("germplasm", Action.WRITE)


@dataclass
class CreateGermplasm:
    uow: UnitOfWorkFactory

    async def __call__(
        self, principal: Principal, requests: list[GermplasmNewRequest]
    ) -> list[bytes]:
        """Create all or nothing; return the stored documents in request order."""
        authorize(principal, WRITE)
        aggregates, problems = [], []
        for index, request in enumerate(requests):
            try:
                aggregates.append(request.to_domain(principal.tenant_id, actor=principal.subject))
            except ValidationFailed as exc:
                problems.extend(
                    FieldError(f"[{index}].{d.location}", d.message) for d in exc.details
                )
        if problems:
            raise ValidationFailed(f"{len(problems)} invalid Germplasm field(s)", problems)
        async with self.uow(principal.tenant_id) as uow:
            for germplasm in aggregates:
                uow.germplasm.add(germplasm)
            await uow.commit()
        ids = tuple(g.germplasm_db_id for g in aggregates)
        async with self.uow(principal.tenant_id) as uow:
            page = await uow.germplasm_views.list_documents(
                GermplasmFilter(germplasm_db_ids=ids), PageRequest(0, max(len(ids), 1))
            )
        by_id = {msgspec.json.decode(d, type=_DbId).germplasm_db_id: d for d in page.items}
        return [by_id[i] for i in ids]


class _DbId(msgspec.Struct, rename="camel"):
    germplasm_db_id: str
