"""gwas against per-variant numpy.linalg.lstsq + scipy.stats.t (OLS, and GLS for EMMAX)."""

from __future__ import annotations

import numpy as np
import pytest
from bijmantra.genomics import gwas
from genomics_refs import genotype_matrices, ref_ols_scan, ref_reml
from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=50, deadline=None)
@given(
    genotype_matrices(max_variants=10, min_samples=6, max_samples=30),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2),
)
def test_ols_gwas_matches_lstsq(g, seed, n_cov):
    rng = np.random.default_rng(seed)
    n = g.shape[1]
    y = rng.normal(size=n)
    cov = rng.normal(size=(n, n_cov)) if n_cov else None
    if n - 1 - n_cov - 1 < 1:
        with pytest.raises(ValueError, match="degrees of freedom"):
            gwas(y, g, covariates=cov)
        return
    res = gwas(y, g, covariates=cov, chunk_variants=3)
    ref = ref_ols_scan(y, g, cov)
    np.testing.assert_allclose(res.effect, ref[:, 0], rtol=1e-8, atol=1e-10, equal_nan=True)
    np.testing.assert_allclose(res.se, ref[:, 1], rtol=1e-8, atol=1e-10, equal_nan=True)
    np.testing.assert_allclose(res.p_value, ref[:, 2], rtol=1e-7, atol=1e-300, equal_nan=True)


def test_mixed_model_gwas_matches_gls_with_reml_ratio():
    rng = np.random.default_rng(9)
    n, m = 150, 25
    z = rng.integers(0, 3, (n, 150)).astype(float)
    z -= z.mean(0)
    k = z @ z.T / 150 + 0.05 * np.eye(n)
    g = rng.integers(0, 3, (m, n)).astype(np.int8)
    g[rng.random(g.shape) < 0.05] = -1
    g[3] = 1  # monomorphic
    y = (
        2 * np.linalg.cholesky(k) @ rng.normal(size=n)
        + rng.normal(size=n)
        + 0.8 * np.where(g[0] >= 0, g[0], 1)
    )
    cov = rng.normal(size=(n, 1))
    res = gwas(y, g, K=k, covariates=cov)
    x = np.column_stack([np.ones(n), cov])
    s2g, s2e = ref_reml(y, x, k)
    assert res.delta == pytest.approx(s2e / s2g, rel=1e-3)
    chol = np.linalg.cholesky(k + res.delta * np.eye(n))
    whiten = np.linalg.inv(chol)
    ref = ref_ols_scan(y, g, cov, transform=whiten)
    np.testing.assert_allclose(res.effect, ref[:, 0], rtol=1e-7, equal_nan=True)
    np.testing.assert_allclose(res.se, ref[:, 1], rtol=1e-7, equal_nan=True)
    np.testing.assert_allclose(res.p_value, ref[:, 2], rtol=1e-6, equal_nan=True)
    assert np.isnan(res.p_value[3])


def test_gwas_extreme_p_values_keep_relative_accuracy():
    rng = np.random.default_rng(1)
    n = 400
    g = rng.integers(0, 3, (2, n)).astype(np.int8)
    y = 3.0 * g[0] + rng.normal(size=n)
    res = gwas(y, g)
    ref = ref_ols_scan(y, g)
    assert ref[0, 2] < 1e-100
    np.testing.assert_allclose(res.p_value, ref[:, 2], rtol=1e-7)


def test_gwas_input_errors():
    g = np.zeros((2, 10), dtype=np.int8)
    g[:, :5] = 1
    with pytest.raises(ValueError, match="samples but y has"):
        gwas(np.arange(9.0), g)
    with pytest.raises(ValueError, match="finite"):
        gwas(np.full(10, np.nan), g)
    with pytest.raises(ValueError, match="K is"):
        gwas(np.arange(10.0), g, K=np.eye(3))


@pytest.mark.parametrize("value", [0.0, 5.0, -123.25])
def test_a_constant_phenotype_is_refused_not_scanned(value):
    """A constant y leaves only rounding noise after the intercept; its t statistics looked
    like real ones (a minimum p of 7e-4 at 30 samples) instead of an error (ADR 0358)."""
    g = np.random.default_rng(3).integers(0, 3, size=(50, 30)).astype(np.int8)
    y = np.full(30, value)
    with pytest.raises(ValueError, match="no variation"):
        gwas(y, g)
    k = np.cov(g.T.astype(float)) + np.eye(30)
    with pytest.raises(ValueError, match="no variation"):
        gwas(y, g, K=k)
    assert np.isfinite(gwas(y + np.arange(30) * 1e-3, g).p_value).all()
