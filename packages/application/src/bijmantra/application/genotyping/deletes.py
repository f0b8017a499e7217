"""Delete a variant set: its call sets, variants and packed calls, in one transaction (ADR 0345).

Its analyses are derived from it and name it: while any remains the set is not deleted
(409 naming them), so no result loses its source unseen and no worker reads a set that is
going. Germplasm matched or created for its samples, its reference set and a vendor order's
link to it are documents of their own and stay.
"""

from __future__ import annotations

from typing import Any

from bijmantra.application.ports import UnitOfWork
from bijmantra.application.security import Action, Permission
from bijmantra.application.use_case import ClockedUseCase, ContextEvents, organization_unit
from bijmantra.kernel import Conflict, FieldError, NotFound, Principal

# Removing an import for good cannot be undone (its calls cost a genotyping run): the data
# managers and administrators of the organization, not every member who may import.
DELETE = Permission("genotyping", Action.ADMIN)
NAMED = 20  # analyses a refusal names; the message gives how many there are
record = ContextEvents("genotyping").record


class DeleteVariantSet(ClockedUseCase[UnitOfWork]):
    async def __call__(self, principal: Principal, variant_set_db_id: str) -> dict[str, Any]:
        """Remove the set and everything the genotype store keeps of it, or refuse (409) while
        analyses of it remain; ``genotyping.variant_set_deleted`` goes out with the commit."""
        async with organization_unit(self.uow, principal, DELETE) as uow:
            found = await uow.genotypes.locked(variant_set_db_id)
            if found is None:
                raise NotFound(f"Variant set {variant_set_db_id} not found")
            jobs, count = await uow.analyses.computed_from(variant_set_db_id, NAMED)
            if count:
                raise Conflict(
                    f"Variant set {variant_set_db_id} has {count} analyses computed from it; "
                    "delete them first (cancel those queued or running)",
                    [FieldError(f"analyses.{j.analysis_db_id}", j.status.value) for j in jobs],
                )
            await uow.genotypes.delete(variant_set_db_id)
            document = {
                "variantSetDbId": variant_set_db_id,
                "variantSetName": found.name,
                "variantCount": found.n_variants,
                "callSetCount": found.n_call_sets,
                "genotypeCalls": found.n_variants * found.n_call_sets,
            }
            data = {
                "variant_set_db_id": variant_set_db_id,
                "name": found.name,
                "n_variants": found.n_variants,
                "n_samples": found.n_call_sets,
            }
            record(uow, principal, "variant_set_deleted", variant_set_db_id, data, self.clock.now())
            await uow.commit()
        return document
