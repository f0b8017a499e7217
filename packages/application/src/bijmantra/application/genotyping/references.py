"""Documents a genotype import creates beside its variant set, in its transaction (so a
bad file still stores nothing): the reference set of its contigs (ADR 0273) — the file's
``##contig`` lines (with their lengths) and every CHROM value its variants name, in order
of first appearance — and, for a vendor order's results, the order's result file
(ADR 0274)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from bijmantra.application.brapi.commands import ResourceCommands
from bijmantra.application.brapi.entity import WriteContext
from bijmantra.application.ports import UnitOfWork
from bijmantra.application.use_case import existing
from bijmantra.domain.genotyping import VariantSet
from bijmantra.kernel import FieldError, Principal, Unprocessable, new_id

BATCH = 1000  # references per engine write (its bulk bound)
# Contigs one file may name, declared or used (ADR 0332): each becomes a reference document
# written in the import's transaction; a 0.5 MB gzipped VCF of 200,000 one-line contigs held
# domain-api for four minutes and 460 MB. Chromosome-level assemblies with their unplaced
# scaffolds name a few thousand.
MAX_CONTIGS = 50_000


def check_contigs(count: int) -> None:
    if count > MAX_CONTIGS:
        raise Unprocessable(
            f"The file names more than {MAX_CONTIGS} contigs",
            [FieldError("CHROM", f"at most {MAX_CONTIGS} distinct contigs per import")],
        )


@dataclass
class Contigs:
    """CHROM values in order of first appearance (refused past :data:`MAX_CONTIGS`, as
    soon as a block names one too many)."""

    seen: dict[str, None] = field(default_factory=dict)

    def saw(self, chrom: Sequence[str]) -> None:
        for name in dict.fromkeys(chrom):
            self.seen.setdefault(name)
        check_contigs(len(self.seen))

    def lengths(self, declared: Mapping[str, int | None]) -> dict[str, int | None]:
        """Declared contigs first (header order), then those only the variants name."""
        lengths = {**declared, **{name: declared.get(name) for name in self.seen}}
        check_contigs(len(lengths))
        return lengths


async def create_references(
    commands: ResourceCommands,
    uow: UnitOfWork,
    principal: Principal,
    variant_set: VariantSet,
    contigs: Mapping[str, int | None],
) -> str | None:
    """The reference set's DbId (None when the file names no contig)."""
    if not contigs:
        return None
    set_db_id = new_id()
    reference_set = {
        "referenceSetName": variant_set.name,
        "description": f"Contigs of the genotype file imported as variant set "
        f"{variant_set.variant_set_db_id} ({variant_set.source_format})",
        "isDerived": False,
        "additionalInfo": {"variantSetDbId": variant_set.variant_set_db_id},
    }
    await commands.create_in(uow, principal, "referenceset", [reference_set], db_ids=[set_db_id])
    names = list(contigs.items())
    for start in range(0, len(names), BATCH):  # documents made a batch at a time
        references: list[dict[str, Any]] = [
            {
                "referenceName": name,
                "referenceSetDbId": set_db_id,
                "isDerived": False,
                **({"length": length} if length is not None else {}),
            }
            for name, length in names[start : start + BATCH]
        ]
        await commands.create_in(uow, principal, "reference", references)
    return set_db_id


async def record_vendor_result(
    commands: ResourceCommands,
    uow: UnitOfWork,
    principal: Principal,
    variant_set: VariantSet,
    order_id: str,
    public_url: str,
) -> None:
    """The order lists the imported set as a result file whose URL downloads it as VCF.
    An unknown order (another organization's included) is a 404 and the import is undone;
    a rejected one takes no results (422)."""
    orders = await uow.resources.documents("vendororder", [order_id], for_update=True)
    order = existing(orders.get(order_id), f"Vendor order {order_id!r}")
    if order.get("status") == "rejected":
        raise Unprocessable(
            "A rejected order takes no results", [FieldError("vendorOrderId", order_id)]
        )
    set_id, result_id = variant_set.variant_set_db_id, new_id()
    result = {
        "vendorResultDbId": result_id,
        "orderId": order_id,
        "fileName": f"{variant_set.name}.vcf",
        "fileType": "VCF",
        "fileURL": f"{public_url}/api/v1/variantsets/{quote(set_id, safe='')}/files/vcf",
        "clientSampleIds": [c.sample_name for c in variant_set.call_sets],
        "additionalInfo": {"variantSetDbId": set_id},
    }
    # Saved as the order's rules save its plates: the file's schema has no orderId to keep.
    entity = commands.catalog.entity("vendorresult")
    context = WriteContext(
        principal, entity, commands.catalog, uow, creating=True, clock=commands.clock
    )
    await context.save(entity.name, [(result_id, result)], new=True)
