"""The number of variants an analysis was built on, against a plain NumPy count (ADR 0360).

A GRM (and a PCA or GBLUP through it) uses only the variants that are called, polymorphic and
at or above ``min_maf``; a GWAS tests only the variants with variation among its samples. The
reports named the whole set's count instead.
"""

from __future__ import annotations

import itertools

import numpy as np
from bijmantra.genomics import gwas, pca
from bijmantra.genomics.grm import GrmCentring, grm_counted, grm_from_blocks
from genomics_refs import genotype_matrices
from hypothesis import assume, given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=60, deadline=None)
THRESHOLDS = [0.0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.45, 0.5]


def ref_variants_used(g: np.ndarray, min_maf: float) -> int:
    """Variants with a call, both alleles seen, and a minor allele frequency >= min_maf."""
    used = 0
    for row in g.astype(np.int64):
        called = row[row >= 0]
        if called.size == 0:
            continue
        p = called.sum() / (2.0 * called.size)
        maf = min(p, 1.0 - p)
        used += bool(maf > 0 and maf >= min_maf)
    return used


def ref_variants_varying(g: np.ndarray) -> int:
    """Variants whose mean-imputed dosages are not all equal (the ones a scan can test)."""
    return sum(len(set(row[row >= 0].tolist())) > 1 for row in g)


def random_dosages(seed: int, n_variants: int, n_samples: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = rng.beta(0.4, 0.4, size=(n_variants, 1))  # many rare and many common variants
    g = rng.binomial(2, p, size=(n_variants, n_samples)).astype(np.int8)
    g[rng.random(g.shape) < 0.1] = -1
    return g


@SETTINGS
@given(
    genotype_matrices(max_variants=40, max_samples=15),
    st.sampled_from(THRESHOLDS),
    st.sampled_from(["vanraden1", "vanraden2"]),
    st.integers(1, 9),
)
def test_grm_counts_the_variants_it_used(g, min_maf, method, block):
    expected = ref_variants_used(g, min_maf)
    assume(expected > 0)
    _, used = grm_counted(g, method=method, min_maf=min_maf, chunk_variants=block)
    assert used == expected


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(THRESHOLDS), st.data())
def test_streamed_centring_counts_the_same_whatever_the_chunks(seed, min_maf, data):
    g = random_dosages(seed, 300, 24)
    expected = ref_variants_used(g, min_maf)
    assume(expected > 0)
    inner = sorted(data.draw(st.sets(st.integers(1, g.shape[0] - 1), max_size=12)))
    centring = GrmCentring(min_maf=min_maf, block_variants=64)

    def blocks():
        for lo, hi in itertools.pairwise([0, *inner, g.shape[0]]):
            yield from centring.add(np.ascontiguousarray(g[lo:hi]))
        yield from centring.finish()

    grm_from_blocks(blocks())
    assert centring.variants_used == expected
    if min_maf >= 0.05:  # the filter dropped some: the whole set's count would be wrong
        assert expected < g.shape[0]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_pca_from_genotypes_reports_its_variants(seed):
    g = random_dosages(seed, 120, 10)
    assert pca(g, k=2).variants_used == ref_variants_used(g, 0.0)
    assert pca(grm=np.eye(4), k=2).variants_used is None


@SETTINGS
@given(genotype_matrices(max_variants=20, min_samples=6, max_samples=20), st.integers(0, 99))
def test_gwas_counts_the_variants_it_tested(g, seed):
    y = np.random.default_rng(seed).normal(size=g.shape[1])
    result = gwas(y, g, chunk_variants=4)
    assert result.n_tested == ref_variants_varying(g)
    assert result.n_tested == int(np.count_nonzero(~np.isnan(result.p_value)))
