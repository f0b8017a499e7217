"""Import a genotype file: match samples to germplasm (or create it), store the matrix.

One transaction for the whole file: chunks are written as blocks arrive (bounded memory),
and any malformed line rolls everything back, germplasm created for the samples included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bijmantra.application.brapi.bounds import MAX_WRITE_ITEMS
from bijmantra.application.brapi.commands import ResourceCommands
from bijmantra.application.brapi.entity import Catalog
from bijmantra.application.brapi.modules import catalog
from bijmantra.application.genotyping.brapi import MAX_CALL_SETS
from bijmantra.application.genotyping.dto import ImportSpec
from bijmantra.application.genotyping.references import (
    Contigs,
    check_contigs,
    create_references,
    record_vendor_result,
)
from bijmantra.application.ports import GenotypeUpload, UnitOfWorkFactory
from bijmantra.application.ports.documents import ResourceStore
from bijmantra.application.security import Action, Permission, authorize
from bijmantra.application.use_case import refuse_full, refuse_used_up
from bijmantra.domain.genotyping import CallSet, VariantSet
from bijmantra.domain.tenancy.quotas import Resource
from bijmantra.domain.tenancy.storage import StoredResource
from bijmantra.kernel import (
    Clock,
    FieldError,
    Principal,
    SystemClock,
    Unprocessable,
    ValidationFailed,
    new_id,
)

WRITE = Permission("genotyping", Action.WRITE)
# A file's samples are bounded twice: all of them by what one calls or allele-matrix read may
# span, the germplasm created for new names by the bulk-write bound (a 1 MB header of 200,000
# made-up names once created them all, and domain-api grew past 1 GB).
MAX_IMPORT_SAMPLES = MAX_CALL_SETS
MAX_NEW_GERMPLASM = MAX_WRITE_ITEMS
CREATE_GERMPLASM = Permission("germplasm", Action.WRITE)
# A sample's, a variant's and a contig's name: a calls page repeats them in each of up to
# 10,000 calls, so a 30 MB variant ID (within a VCF line's bound) made a page of 300 GB.
MAX_NAME_CHARS = 1_000


async def germplasm_ids_by_name(store: ResourceStore, names: Sequence[str]) -> dict[str, str]:
    """germplasmName -> germplasmDbId for the names that exist (lowest DbId if repeated)."""
    if not names:
        return {}
    fragments = tuple({"germplasmName": name} for name in sorted(set(names)))
    matched: dict[str, str] = {}
    for document in await store.matching("germplasm", (fragments,), limit=10 * len(names) + 1000):
        matched.setdefault(document["germplasmName"], document["germplasmDbId"])
    return matched


@dataclass
class ImportGenotypes:
    uow: UnitOfWorkFactory
    brapi: Catalog = field(default_factory=catalog)
    clock: Clock = field(default_factory=SystemClock)
    public_url: str = ""  # the gateway's origin, for a vendor result file's URL

    async def admits(self, principal: Principal) -> None:
        """Refuse now (the quota's 429) an import the organization's day of calls has no room
        for: asked before an upload that must be read whole first (multipart) is read."""
        authorize(principal, WRITE)
        async with self.uow(principal.tenant_id) as uow:
            await refuse_used_up(uow, Resource.GENOTYPE_CALLS, self.clock.now())
            await refuse_full(uow, StoredResource.GENOTYPE_CALLS)

    async def __call__(
        self, principal: Principal, spec: ImportSpec, upload: GenotypeUpload
    ) -> dict[str, Any]:
        authorize(principal, WRITE)
        if not spec.common_crop_name.strip():
            raise ValidationFailed(
                "commonCropName is required",
                [FieldError("commonCropName", "crop of germplasm created for new samples")],
            )
        async with self.uow(principal.tenant_id) as uow:
            # Before the file is read: a day of calls used up is refused now, not after the
            # whole file streamed (ADR 0340). Its calls are unknown until it is read.
            await refuse_used_up(uow, Resource.GENOTYPE_CALLS, self.clock.now())
            # Nor when the organization stores its cap of calls already (ADR 0343); the
            # commit checks the import's own calls against it.
            await refuse_full(uow, StoredResource.GENOTYPE_CALLS)
            names = await upload.sample_names()
            _check_samples("samples", len(names), MAX_IMPORT_SAMPLES)
            _check_names("samples", names)
            check_contigs(len(upload.contig_lengths))  # the header's, known with the samples
            matched = await germplasm_ids_by_name(uow.resources, names)
            if len(matched) < len(names):
                authorize(principal, CREATE_GERMPLASM)
                _check_samples("new samples", len(names) - len(matched), MAX_NEW_GERMPLASM)
            call_sets, new_germplasm, new_ids = [], [], []
            for column, name in enumerate(names):
                germplasm_db_id = matched.get(name)
                if germplasm_db_id is None:
                    germplasm_db_id = new_id()
                    new_germplasm.append(
                        {
                            "germplasmName": name,
                            "germplasmPUI": f"urn:bijmantra:germplasm:{germplasm_db_id}",
                            "commonCropName": spec.common_crop_name,
                        }
                    )
                    new_ids.append(germplasm_db_id)
                call_sets.append(CallSet(new_id(), name, germplasm_db_id, column))
            if new_germplasm:
                commands = ResourceCommands(self.brapi, self.uow)
                await commands.create_in(uow, principal, "germplasm", new_germplasm, db_ids=new_ids)
            variant_set = VariantSet(
                tenant_id=principal.tenant_id,
                variant_set_db_id=new_id(),
                name=spec.variant_set_name,
                source_format=spec.source_format,
                call_sets=call_sets,
            )
            writer = await uow.genotypes.create(variant_set)
            contigs = Contigs()
            async for block in upload.blocks():
                _check_names("ID", block.ids)
                _check_names("CHROM", block.chrom)
                contigs.saw(block.chrom)
                await writer.append(block)
            variant_set.imported(
                await writer.close(), upload.skipped, actor=principal.subject, at=self.clock.now()
            )
            commands = ResourceCommands(self.brapi, self.uow)
            variant_set.reference_set_db_id = await create_references(
                commands, uow, principal, variant_set, contigs.lengths(upload.contig_lengths)
            )
            if spec.vendor_order_id:
                await record_vendor_result(
                    commands, uow, principal, variant_set, spec.vendor_order_id, self.public_url
                )
            await uow.genotypes.seal(variant_set)
            await uow.commit()
        return {
            "variantSetDbId": variant_set.variant_set_db_id,
            "referenceSetDbId": variant_set.reference_set_db_id,
            "variantsImported": variant_set.n_variants,
            "variantsSkipped": variant_set.skipped,
            "samplesImported": len(call_sets),
            "germplasmMatched": len(matched),
            "germplasmCreated": len(names) - len(matched),
        }


def _check_names(field: str, names: Sequence[str]) -> None:
    longest = max(map(len, names), default=0)
    if longest > MAX_NAME_CHARS:
        raise Unprocessable(
            f"A name of {longest} characters in {field}; at most {MAX_NAME_CHARS}",
            [FieldError(field, f"names of at most {MAX_NAME_CHARS} characters")],
        )


def _check_samples(what: str, count: int, bound: int) -> None:
    if count > bound:
        raise ValidationFailed(
            f"The file names {count} {what}; at most {bound} per import",
            [FieldError("samples", f"{count} {what} (at most {bound})")],
        )
