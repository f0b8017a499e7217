"""The VCF writer as it was in Python (one string per call): the C kernel must match it
byte for byte."""

from __future__ import annotations

from bijmantra.genomics.calls import FIELDS, CallMatrix, TextStyle, field_texts, genotype_texts
from bijmantra.genomics.writers import Sites

VCF_STYLE = TextStyle("|", "/", ".", True)


def reference_vcf_lines(sites: Sites, calls: CallMatrix) -> bytes:
    texts = genotype_texts(calls, VCF_STYLE)
    keys = [k for k in FIELDS if k in calls.fields]
    values = [field_texts(calls, k, ".") for k in keys]
    out = []
    for v in range(len(sites)):
        cells = [
            ":".join([texts[v][s], *(field[v][s] for field in values)])
            for s in range(calls.n_samples)
        ]
        fixed = (
            f"{sites.chrom[v]}\t{sites.pos[v]}\t{sites.names[v] or '.'}\t{sites.ref[v]}\t"
            f"{sites.alt[v] or '.'}\t.\t.\t.\t{':'.join(['GT', *keys])}"
        )
        out.append(fixed + "\t" + "\t".join(cells))
    return ("\n".join(out) + "\n").encode() if out else b""
