"""Import a genotype file: match samples to germplasm (or create it), store the matrix.

One transaction for the whole file: chunks are written as blocks arrive (bounded memory),
and any malformed line rolls everything back, germplasm created for the samples included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bijmantra.application.genotyping.dto import ImportSpec
from bijmantra.application.ports import GenotypeUpload, UnitOfWorkFactory
from bijmantra.application.security import Action, Permission, authorize
from bijmantra.domain.genotyping import CallSet, VariantSet
from bijmantra.domain.germplasm import Germplasm
from bijmantra.kernel import FieldError, Principal, ValidationFailed, new_id

WRITE = Permission("genotyping", Action.WRITE)
CREATE_GERMPLASM = Permission("germplasm", Action.WRITE)


@dataclass
class ImportGenotypes:
    uow: UnitOfWorkFactory

    async def __call__(
        self, principal: Principal, spec: ImportSpec, upload: GenotypeUpload
    ) -> dict[str, Any]:
        authorize(principal, WRITE)
        if not spec.common_crop_name.strip():
            raise ValidationFailed(
                "commonCropName is required",
                [FieldError("commonCropName", "crop of germplasm created for new samples")],
            )
        names = await upload.sample_names()
        async with self.uow(principal.tenant_id) as uow:
            matched = await uow.germplasm.ids_by_name(names)
            if len(matched) < len(names):
                authorize(principal, CREATE_GERMPLASM)
            call_sets = []
            for column, name in enumerate(names):
                germplasm_db_id = matched.get(name)
                if germplasm_db_id is None:
                    germplasm_db_id = new_id()
                    uow.germplasm.add(
                        Germplasm.register(
                            actor=principal.subject,
                            tenant_id=principal.tenant_id,
                            germplasm_db_id=germplasm_db_id,
                            germplasm_name=name,
                            germplasm_pui=f"urn:bijmantra:germplasm:{germplasm_db_id}",
                            common_crop_name=spec.common_crop_name,
                        )
                    )
                call_sets.append(CallSet(new_id(), name, germplasm_db_id, column))
            variant_set = VariantSet(
                tenant_id=principal.tenant_id,
                variant_set_db_id=new_id(),
                name=spec.variant_set_name,
                source_format=spec.source_format,
                call_sets=call_sets,
            )
            writer = await uow.genotypes.create(variant_set)
            async for block in upload.blocks():
                await writer.append(block)
            variant_set.imported(await writer.close(), upload.skipped, actor=principal.subject)
            await uow.genotypes.seal(variant_set)
            await uow.commit()
        return {
            "variantSetDbId": variant_set.variant_set_db_id,
            "variantsImported": variant_set.n_variants,
            "variantsSkipped": variant_set.skipped,
            "samplesImported": len(call_sets),
            "germplasmMatched": len(matched),
            "germplasmCreated": len(names) - len(matched),
        }
