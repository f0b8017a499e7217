"""A genotype import's contigs become a BrAPI reference set and references (ADR 0273).

The contigs are the file's ``##contig`` lines (with their lengths) and every CHROM value
its variants name, in order of first appearance; they are created as ordinary engine
documents in the import's transaction, so a bad file still stores nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bijmantra.application.brapi.commands import ResourceCommands
from bijmantra.application.ports import UnitOfWork
from bijmantra.domain.genotyping import VariantSet
from bijmantra.kernel import Principal, new_id

BATCH = 1000  # references per engine write (its bulk bound)


@dataclass
class Contigs:
    """CHROM values in order of first appearance."""

    seen: dict[str, None] = field(default_factory=dict)

    def saw(self, chrom: Sequence[str]) -> None:
        for name in dict.fromkeys(chrom):
            self.seen.setdefault(name)

    def lengths(self, declared: Mapping[str, int | None]) -> dict[str, int | None]:
        """Declared contigs first (header order), then those only the variants name."""
        return {**declared, **{name: declared.get(name) for name in self.seen}}


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
    references: list[dict[str, Any]] = [
        {
            "referenceName": name,
            "referenceSetDbId": set_db_id,
            "isDerived": False,
            **({"length": length} if length is not None else {}),
        }
        for name, length in contigs.items()
    ]
    for start in range(0, len(references), BATCH):
        await commands.create_in(uow, principal, "reference", references[start : start + BATCH])
    return set_db_id
