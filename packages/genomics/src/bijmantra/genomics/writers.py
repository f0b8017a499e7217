"""Genotype files written from the store's calls, one block of variants at a time.

Exports stream: the caller reads a variant set chunk by chunk and each block becomes text
here, so memory is one chunk whatever the set's size (ADR 0199). VCF keeps everything the
store keeps (GT with phase and ploidy, DS/GQ/DP); HapMap (TASSEL's text format) spells
alleles as bases and so keeps neither phase nor FORMAT values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from bijmantra.genomics.calls import FIELDS, CallMatrix, TextStyle
from bijmantra.genomics.vcf_text import vcf_block

VCF_STYLE = TextStyle("|", "/", ".", True)
HAPMAP_COLUMNS = (
    "rs#",
    "alleles",
    "chrom",
    "pos",
    "strand",
    "assembly#",
    "center",
    "protLSID",
    "assayLSID",
    "panelLSID",
    "QCcode",
)
_FIELD_HEADERS = {
    "DS": '##FORMAT=<ID=DS,Number=1,Type=Float,Description="Dosage">',
    "GQ": '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype Quality">',
    "DP": '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read Depth">',
}


@dataclass(frozen=True, slots=True)
class Sites:
    """The fixed columns of a block of variants (ALT comma-joined, "" for none)."""

    chrom: Sequence[str]
    pos: Sequence[int]
    names: Sequence[str]
    ref: Sequence[str]
    alt: Sequence[str]

    def __len__(self) -> int:
        return len(self.chrom)


def vcf_header(samples: Sequence[str], source: str) -> str:
    lines = [
        "##fileformat=VCFv4.2",
        f"##source={source}",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        *_FIELD_HEADERS.values(),
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples),
    ]
    return "\n".join(lines) + "\n"


def vcf_lines(sites: Sites, calls: CallMatrix) -> bytes:
    """One VCF line per variant: GT, then the FORMAT values this block holds (C kernel)."""
    keys = [k for k in FIELDS if k in calls.fields]
    return vcf_block([_fixed(sites, v, keys) + "\t" for v in range(len(sites))], calls)


def _fixed(sites: Sites, v: int, keys: Sequence[str]) -> str:
    return (
        f"{sites.chrom[v]}\t{sites.pos[v]}\t{sites.names[v] or '.'}\t{sites.ref[v]}\t"
        f"{sites.alt[v] or '.'}\t.\t.\t.\t{':'.join(['GT', *keys])}"
    )


def hapmap_header(samples: Sequence[str]) -> str:
    return "\t".join([*HAPMAP_COLUMNS, *samples]) + "\n"


def _base(allele: str, ref: str) -> str:
    """A single base as is; an indel as TASSEL writes it: ``+`` longer than REF, ``-``
    shorter (or equal-length multi-base: ``+``)."""
    if len(allele) == 1 and len(ref) == 1:
        return allele
    return "-" if len(allele) < len(ref) else "+"


def hapmap_lines(sites: Sites, calls: CallMatrix) -> bytes:
    """One HapMap line per variant; a call is its alleles' bases joined (``AG``, ``AAGG``),
    ``N`` for each missing allele."""
    out = []
    for v in range(len(sites)):
        ref = sites.ref[v]
        alleles = [ref, *(sites.alt[v].split(",") if sites.alt[v] else [])]
        bases = np.array([_base(a, ref) for a in alleles] + ["N"], dtype=object)
        row = calls.alleles[v]
        picked = np.where(row >= 0, row, len(alleles)).astype(np.intp)  # -1 -> "N"
        cells = []
        for s in range(calls.n_samples):
            used = picked[s][row[s] != -2]
            cells.append("".join(bases[used]) or "N")
        name = sites.names[v] or f"{sites.chrom[v]}_{sites.pos[v]}"
        fixed = [name, "/".join(b for b in bases[:-1]), sites.chrom[v], str(sites.pos[v])]
        out.append("\t".join([*fixed, "+", *("NA",) * 6, *cells]))
    return ("\n".join(out) + "\n").encode() if out else b""


def _vcf_header(samples: Sequence[str]) -> str:
    return vcf_header(samples, "Bijmantra")


# Every export format's header and block writer: the store and its test fake share them.
FILE_WRITERS: dict[
    str, tuple[Callable[[Sequence[str]], str], Callable[[Sites, CallMatrix], bytes]]
] = {
    "vcf": (_vcf_header, vcf_lines),
    "hapmap": (hapmap_header, hapmap_lines),
}
