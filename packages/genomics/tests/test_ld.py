"""ld_r2 / ld_prune against pairwise-complete np.corrcoef and a greedy loop; scikit-allel."""

from __future__ import annotations

import numpy as np
import pytest
from bijmantra.genomics import ld_prune, ld_r2
from genomics_refs import genotype_matrices, ref_ld_prune, ref_ld_r2
from hypothesis import given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=60, deadline=None)


@SETTINGS
@given(genotype_matrices(max_variants=12, max_samples=140), st.integers(1, 5))
def test_ld_r2_matches_reference(g, window):
    np.testing.assert_allclose(
        ld_r2(g, window=window), ref_ld_r2(g, window), rtol=1e-12, atol=1e-14, equal_nan=True
    )


@SETTINGS
@given(
    genotype_matrices(max_variants=16, max_samples=70),
    st.integers(1, 6),
    st.integers(1, 4),
    st.sampled_from([0.0, 0.05, 0.2, 0.5, 1.0]),
)
def test_ld_prune_matches_reference(g, window, step, threshold):
    np.testing.assert_array_equal(
        ld_prune(g, window=window, step=step, threshold=threshold),
        ref_ld_prune(g, window, step, threshold),
    )


def test_ld_agrees_with_scikit_allel_without_missing():
    allel = pytest.importorskip("allel")
    rng = np.random.default_rng(11)
    base = rng.integers(0, 3, (1, 300), dtype=np.int8)
    g = np.repeat(base, 40, axis=0)
    flip = rng.random(g.shape) < np.linspace(0.0, 0.6, 40)[:, None]
    g = np.where(flip, rng.integers(0, 3, g.shape), g).astype(np.int8)
    r = allel.rogers_huff_r(g)  # condensed, all pairs
    full = np.zeros((40, 40))
    full[np.triu_indices(40, 1)] = r
    ours = ld_r2(g, window=5)
    for i in range(40):
        for d in range(1, 6):
            if i + d < 40:
                assert ours[i, d - 1] == pytest.approx(full[i, i + d] ** 2, rel=1e-5)
    expected = allel.locate_unlinked(g, size=10, step=3, threshold=0.3)
    np.testing.assert_array_equal(ld_prune(g, window=10, step=3, threshold=0.3), expected)


def test_ld_shapes_and_errors():
    g = np.zeros((3, 5), dtype=np.int8)
    assert np.isnan(ld_r2(g, window=4)).all()
    assert ld_prune(g, window=2, step=1, threshold=0.1).all()
    with pytest.raises(ValueError, match="window"):
        ld_r2(g, window=0)
    with pytest.raises(ValueError, match="threshold"):
        ld_prune(g, window=2, step=1, threshold=2.0)
