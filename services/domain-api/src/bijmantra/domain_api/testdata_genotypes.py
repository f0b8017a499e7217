"""The BrAPI Test Server's genotypes (variant set 1) as demo data in the genotype store.

Upstream keeps one row per call (``allele_call``: 20 variants x 13 call sets, GT and read
depth) and gives its variants names only, no coordinates or alleles. The import writes
them as a VCF — ``scaffold1`` (the contig of the set's reference set ``reference_set1``)
at 100-base steps, REF ``A``, ALT ``T``: placeholders, said so in the set's name — and
imports it through the ordinary use case, so the demo set is stored, validated and
evented like any upload. A second run finds the set by name and imports nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import psycopg
from bijmantra.application.genotyping import ImportGenotypes, ImportSpec
from bijmantra.application.ports import UnitOfWorkFactory
from bijmantra.application.ports.genotypes import GenotypeFilter
from bijmantra.domain_api.uploads import StreamedGenotypeFile
from bijmantra.kernel import Principal

DEMO_SET_NAME = "Dummy VariantSet 1 (BrAPI Test Server; placeholder coordinates)"
DEMO_CROP = "Tomatillo"

_CALLS = """SELECT v.id, v.variant_name, c.call_set_name, a.genotype, a.read_depth
    FROM allele_call a JOIN variant v ON v.id = a.variant_id JOIN callset c ON c.id = a.call_set_id
    WHERE v.variant_set_id = 'variantset1' ORDER BY v.id, c.id"""


def demo_vcf(conn: psycopg.Connection[Any]) -> bytes:
    """Variant set 1's calls as VCF text (GT:DP), variants and call sets in id order."""
    variants: dict[str, tuple[str, dict[str, str]]] = {}
    samples: list[str] = []
    for variant_id, name, sample, genotype, depth in conn.execute(_CALLS):
        if sample not in samples:
            samples.append(sample)
        cells = variants.setdefault(variant_id, (name, {}))[1]
        cells[sample] = f"{genotype}:{depth if depth not in (None, '') else '.'}"
    lines = [
        "##fileformat=VCFv4.2",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read Depth">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples),
    ]
    for n, (name, cells) in enumerate(variants.values(), 1):
        calls = "\t".join(cells.get(s, "./.:.") for s in samples)
        lines.append(f"scaffold1\t{100 * n}\t{name}\tA\tT\t.\t.\t.\tGT:DP\t{calls}")
    return ("\n".join(lines) + "\n").encode()


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def load_demo_genotypes(uow: UnitOfWorkFactory, principal: Principal, vcf: bytes) -> int:
    """Import the demo set unless a set of its name exists; the variants imported."""
    async with uow(principal.tenant_id) as unit:
        sets, _ = await unit.genotypes.variant_set_rows(GenotypeFilter(), 0, 10_000)
    if any(s.name == DEMO_SET_NAME for s in sets):
        return 0
    spec = ImportSpec(DEMO_SET_NAME, "vcf", DEMO_CROP)
    summary = await ImportGenotypes(uow)(principal, spec, StreamedGenotypeFile("vcf", _once(vcf)))
    return int(summary["variantsImported"])
