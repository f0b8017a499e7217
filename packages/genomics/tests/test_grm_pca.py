"""grm and pca against a column-by-column NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest
from bijmantra.genomics import grm, pca
from genomics_refs import genotype_matrices, ref_grm
from hypothesis import assume, given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=60, deadline=None)


@SETTINGS
@given(
    genotype_matrices(max_variants=20, max_samples=15),
    st.sampled_from(["vanraden1", "vanraden2"]),
    st.sampled_from([0.0, 0.1, 0.3]),
)
def test_grm_matches_reference_float64(g, method, min_maf):
    expected = ref_grm(g, method, min_maf)
    if expected is None:
        with pytest.raises(ValueError, match="polymorphic"):
            grm(g, method=method, dtype=np.float64, min_maf=min_maf)
        return
    got = grm(g, method=method, dtype=np.float64, min_maf=min_maf, chunk_variants=7)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(genotype_matrices(max_variants=20, max_samples=15), st.integers(1, 6))
def test_grm_float32_and_chunked_input(g, size):
    expected = ref_grm(g)
    assume(expected is not None)
    got = grm((g[i : i + size] for i in range(0, g.shape[0], size)), dtype=np.float32)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-5 * np.abs(expected).max())


def test_grm_float64_relative_error_moderate_size():
    rng = np.random.default_rng(3)
    g = rng.integers(0, 3, (3000, 60), dtype=np.int8)
    g[rng.random(g.shape) < 0.01] = -1
    expected = ref_grm(g)
    got = grm(g, dtype=np.float64, chunk_variants=512)
    assert np.abs(got - expected).max() / np.abs(expected).max() < 1e-9


def test_grm_one_sample():
    # a lone heterozygote makes p = 0.5 but a centred value of 0: the GRM is [[0]]
    g = np.array([[0], [1], [2]], dtype=np.int8)
    np.testing.assert_allclose(grm(g, dtype=np.float64), ref_grm(g))
    with pytest.raises(ValueError, match="polymorphic"):
        grm(np.array([[0], [2], [-1]], dtype=np.int8))


def test_pca_matches_numpy_eigh():
    rng = np.random.default_rng(5)
    g = rng.integers(-1, 3, (200, 30), dtype=np.int8)
    k = ref_grm(g)
    lam, vec = np.linalg.eigh(k)
    lam, vec = lam[::-1][:4], vec[:, ::-1][:, :4]
    res = pca(g, k=4)
    np.testing.assert_allclose(res.eigenvalues, lam, rtol=1e-9)
    np.testing.assert_allclose(res.explained_variance, lam / np.trace(k), rtol=1e-9)
    for j in range(4):  # eigenvectors up to sign
        s = np.sign(res.eigenvectors[:, j] @ vec[:, j])
        np.testing.assert_allclose(res.eigenvectors[:, j], s * vec[:, j], atol=1e-8)
        np.testing.assert_allclose(res.scores[:, j], s * vec[:, j] * np.sqrt(lam[j]), atol=1e-8)
    res2 = pca(grm=k, k=4)
    np.testing.assert_allclose(res2.scores, res.scores, atol=1e-8)


def test_pca_argument_errors():
    with pytest.raises(ValueError, match="exactly one"):
        pca()
    with pytest.raises(ValueError, match="k must be"):
        pca(grm=np.eye(3), k=4)
