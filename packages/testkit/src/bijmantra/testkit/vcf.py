"""Random VCFs with every kind of call the genotype store keeps, for round-trip tests.

Sites are biallelic, multi-allelic or monomorphic (ALT ``.``); calls are diploid or
tetraploid per sample (with the odd haploid call), phased or not, whole or half missing;
some lines carry DS, GQ and DP (absent or ``.`` for some samples). Unphased calls keep the
order they are written in, so a reader must give back exactly this text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BASES = "ACGT"


@dataclass(frozen=True)
class WrittenCall:
    gt: str
    fields: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class WrittenSite:
    chrom: str
    pos: int
    name: str
    ref: str
    alt: list[str]
    keys: list[str]
    calls: list[WrittenCall]


@dataclass(frozen=True)
class WrittenVcf:
    samples: list[str]
    sites: list[WrittenSite]

    def text(self) -> str:
        head = "##fileformat=VCFv4.3\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
        lines = [head + "\t".join(self.samples)]
        for s in self.sites:
            cells = [_cell(call, s.keys) for call in s.calls]
            fixed = [s.chrom, str(s.pos), s.name or ".", s.ref, ",".join(s.alt) or "."]
            lines.append("\t".join([*fixed, ".", "PASS", ".", ":".join(s.keys), *cells]))
        return "\n".join(lines) + "\n"


def _cell(call: WrittenCall, keys: list[str]) -> str:
    parts = [call.gt]
    for key in keys[1:]:
        value = call.fields.get(key)
        parts.append("." if value is None else _number(value))
    return ":".join(parts)


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def random_vcf(
    rng: np.random.Generator, n_variants: int, n_samples: int, prefix: str = "s"
) -> WrittenVcf:
    samples = [f"{prefix}{j}" for j in range(n_samples)]
    ploidy = [4 if rng.random() < 0.3 else 2 for _ in samples]
    sites = []
    pos = 0
    for v in range(n_variants):
        pos += int(rng.integers(1, 500))
        ref = BASES[int(rng.integers(4))]
        n_alt = int(rng.choice([0, 1, 1, 1, 2, 3]))
        alt = [b for b in BASES if b != ref][:n_alt]
        keys = ["GT", *[k for k in ("DS", "GQ", "DP") if rng.random() < 0.3]]
        calls = [_random_call(rng, p, n_alt, keys) for p in ploidy]
        chrom = "chr1" if v < n_variants // 2 else "chr2"
        sites.append(WrittenSite(chrom, pos, f"m{v}" if v % 3 else "", ref, alt, keys, calls))
    return WrittenVcf(samples, sites)


def _random_call(rng: np.random.Generator, ploidy: int, n_alt: int, keys: list[str]) -> WrittenCall:
    if rng.random() < 0.05:
        ploidy = 1
    roll = rng.random()
    if roll < 0.1:
        alleles = ["."] * ploidy
    else:
        alleles = [str(int(rng.integers(0, n_alt + 1))) for _ in range(ploidy)]
        if roll < 0.15:
            alleles[0] = "."
    phased = ploidy > 1 and rng.random() < 0.3
    gt = ("|" if phased else "/").join(alleles)
    values: dict[str, float] = {}
    for key in keys[1:]:
        if rng.random() < 0.8:
            values[key] = (
                round(float(rng.random()) * 2, 3) if key == "DS" else int(rng.integers(0, 99))
            )
    return WrittenCall(gt, values)


def diploid_gt_vcf(samples: int, variants: int, sample_prefix: str = "S") -> bytes:
    """A biallelic VCF of ``samples`` x ``variants`` GT calls (0/0, 0/1, 1/1, seeded by
    ``samples``): a file whose call count a quota or a cap test knows exactly. Samples are
    named ``{sample_prefix}{i}``."""
    names = [f"{sample_prefix}{i}" for i in range(samples)]
    g = np.random.default_rng(samples).integers(0, 3, size=(variants, samples))
    lines = [
        "##fileformat=VCFv4.2",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(names),
    ]
    for i, row in enumerate(g):
        calls = "\t".join({0: "0/0", 1: "0/1", 2: "1/1"}[int(d)] for d in row)
        lines.append(f"chr1\t{100 + i}\tm{i}\tA\tG\t50\tPASS\t.\tGT\t{calls}")
    return ("\n".join(lines) + "\n").encode()
