"""Exports: a VCF written from parsed calls parses back to the same calls; HapMap spells
the same genotypes in bases."""

from __future__ import annotations

import numpy as np
from bijmantra.genomics.calls import CallMatrix, concat, from_dosages, genotype_texts
from bijmantra.genomics.formats import VariantBlock, VcfParser
from bijmantra.genomics.writers import (
    VCF_STYLE,
    Sites,
    hapmap_header,
    hapmap_lines,
    vcf_header,
    vcf_lines,
)
from bijmantra.testkit.vcf import random_vcf
from hypothesis import given, settings
from hypothesis import strategies as st


def parse(text: str) -> tuple[list[str], list[VariantBlock]]:
    parser = VcfParser(block_lines=7)
    blocks = parser.feed(text.encode()) + parser.finish()
    assert parser.samples is not None
    return parser.samples, blocks


def calls_of(block: VariantBlock) -> CallMatrix:
    return block.calls if block.calls is not None else from_dosages(block.dosages)


def sites_of(block: VariantBlock) -> Sites:
    return Sites(block.chrom, block.pos.tolist(), block.ids, block.ref, block.alt)


def same(a: CallMatrix, b: CallMatrix) -> bool:
    a, b = concat([a]).narrowed(), concat([b]).narrowed()
    if not (np.array_equal(a.alleles, b.alleles) and np.array_equal(a.phased, b.phased)):
        return False
    keys = set(a.fields) | set(b.fields)
    nan = np.full(a.phased.shape, np.nan, np.float32)
    return all(
        np.array_equal(a.fields.get(k, nan), b.fields.get(k, nan), equal_nan=True) for k in keys
    )


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 30), st.integers(1, 9))
def test_a_written_vcf_parses_back_to_the_same_calls(
    seed: int, n_variants: int, n_samples: int
) -> None:
    written = random_vcf(np.random.default_rng(seed), n_variants, n_samples)
    samples, blocks = parse(written.text())
    text = vcf_header(samples, "test") + "".join(
        vcf_lines(sites_of(b), calls_of(b)).decode() for b in blocks
    )
    again_samples, again = parse(text)
    assert again_samples == samples
    assert same(concat([calls_of(b) for b in again]), concat([calls_of(b) for b in blocks]))
    assert [p for b in again for p in b.pos.tolist()] == [s.pos for s in written.sites]


def test_hapmap_spells_calls_as_bases() -> None:
    alleles = np.array([[[0, 1], [1, 1], [-1, -1], [0, -2]]], dtype=np.int8)
    calls = CallMatrix(alleles, np.zeros((1, 4), bool), {})
    sites = Sites(["chr1"], [1200], [""], ["A"], ["G"])
    text = hapmap_header(["a", "b", "c", "d"]) + hapmap_lines(sites, calls).decode()
    header, line = text.splitlines()
    assert header.split("\t")[11:] == ["a", "b", "c", "d"]
    assert line.split("\t")[:4] == ["chr1_1200", "A/G", "chr1", "1200"]
    assert line.split("\t")[11:] == ["AG", "GG", "NN", "A"]


def test_hapmap_marks_indels_and_tetraploids() -> None:
    alleles = np.array([[[0, 0, 1, 2]]], dtype=np.int8)
    calls = CallMatrix(alleles, np.zeros((1, 1), bool), {})
    sites = Sites(["2"], [5], ["ind1"], ["AT"], ["A,ATT"])
    line = hapmap_lines(sites, calls).decode().rstrip("\n").split("\t")
    assert (line[1], line[11]) == ("+/-/+", "++-+")


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.integers(1, 12), st.booleans())
def test_diploid_blocks_take_the_byte_path_and_still_parse_back(
    seed: int, n_variants: int, n_samples: int, phased: bool
) -> None:
    rng = np.random.default_rng(seed)
    alleles = rng.integers(-1, 2, size=(n_variants, n_samples, 2)).astype(np.int8)
    calls = CallMatrix(alleles, np.full((n_variants, n_samples), phased), {})
    sites = Sites(
        ["c"] * n_variants,
        list(range(1, n_variants + 1)),
        [""] * n_variants,
        ["A"] * n_variants,
        ["T"] * n_variants,
    )
    expected = ["\t".join(row) for row in genotype_texts(calls, VCF_STYLE)]
    lines = vcf_lines(sites, calls).decode().splitlines()
    assert [line.split("\t", 9)[9] for line in lines] == expected
    _, blocks = parse(
        vcf_header([f"s{j}" for j in range(n_samples)], "t") + "\n".join(lines) + "\n"
    )
    assert same(concat([calls_of(b) for b in blocks]), calls)
