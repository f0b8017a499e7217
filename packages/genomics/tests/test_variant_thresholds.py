"""The allele matrix's variant filters: the QC kernel's verdict equals plain NumPy's."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from bijmantra.genomics.qc import passing_variants
from hypothesis import given, settings
from hypothesis import strategies as st


@dataclass(frozen=True)
class Bounds:
    min_maf: float | None
    min_call_rate: float | None
    max_heterozygosity: float | None


def reference(g: np.ndarray, t: Bounds) -> np.ndarray:
    """Textbook definitions over called genotypes (-1 = missing), loops and all."""
    keep = []
    for row in g.astype(np.int64):
        called = row[row >= 0]
        n = called.size
        rate = n / row.size
        maf = het = float("nan")
        if n:
            p = called.sum() / (2 * n)
            maf, het = min(p, 1 - p), float(np.count_nonzero(called == 1)) / n
        ok = True
        if t.min_maf is not None:
            ok &= n > 0 and maf >= t.min_maf
        if t.min_call_rate is not None:
            ok &= rate >= t.min_call_rate
        if t.max_heterozygosity is not None:
            ok &= n > 0 and het <= t.max_heterozygosity
        keep.append(ok)
    return np.array(keep, dtype=bool)


bounds = st.one_of(st.none(), st.sampled_from([0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0]))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 60),
    st.integers(1, 40),
    st.floats(0, 1),
    bounds,
    bounds,
    bounds,
)
def test_the_kernel_keeps_exactly_the_variants_numpy_keeps(
    seed: int,
    n_variants: int,
    n_samples: int,
    missing: float,
    min_maf: float | None,
    min_call_rate: float | None,
    max_het: float | None,
) -> None:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 3, size=(n_variants, n_samples)).astype(np.int8)
    g[rng.random(g.shape) < missing] = -1
    t = Bounds(min_maf, min_call_rate, max_het)
    kept = passing_variants(
        g, min_maf=min_maf, min_call_rate=min_call_rate, max_heterozygosity=max_het
    )
    assert np.array_equal(kept, reference(g, t))
