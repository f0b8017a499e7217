"""REML/GBLUP against Henderson's MME and a general-purpose REML optimiser; Mrode (2005)."""

from __future__ import annotations

import numpy as np
import pytest
from bijmantra.genomics import a_matrix, gblup, reml_gblup
from genomics_refs import ref_mme, ref_reml
from hypothesis import given, settings
from hypothesis import strategies as st


def _kinship(rng, n, m=60):
    z = rng.integers(0, 3, (n, m)).astype(float)
    z -= z.mean(0)
    return z @ z.T / m + 0.05 * np.eye(n)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(3, 25),
    st.floats(0.05, 0.95),
    st.booleans(),
    st.booleans(),
)
def test_gblup_matches_mixed_model_equations(seed, n, h2, with_x, with_missing):
    rng = np.random.default_rng(seed)
    k = _kinship(rng, n)
    x = np.column_stack([np.ones(n), rng.normal(size=n)]) if with_x else np.ones((n, 1))
    y = rng.normal(size=n)
    if with_missing and n > 4:
        y[rng.choice(n, 2, replace=False)] = np.nan
    if (~np.isnan(y)).sum() <= x.shape[1]:
        return
    res = gblup(y, k, h2, X=x if with_x else None)
    beta, u, rel = ref_mme(y, x, k, (1 - h2) / h2)
    np.testing.assert_allclose(res.beta, beta, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(res.blup, u, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(res.reliability, np.clip(rel, 0, 1), rtol=1e-6, atol=1e-8)


def test_reml_matches_general_optimiser():
    rng = np.random.default_rng(42)
    n = 120
    k = _kinship(rng, n, 200)
    u = np.linalg.cholesky(k) @ rng.normal(size=n) * np.sqrt(2.0)
    x = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = x @ np.array([1.0, 0.5]) + u + rng.normal(size=n)
    res = reml_gblup(y, k, x)
    s2g, s2e = ref_reml(y, x, k)
    assert res.sigma2_g == pytest.approx(s2g, rel=1e-4)
    assert res.sigma2_e == pytest.approx(s2e, rel=1e-4)
    assert res.h2 == pytest.approx(s2g / (s2g + s2e), rel=1e-4)
    beta, blup, _ = ref_mme(y, x, k, s2e / s2g)
    np.testing.assert_allclose(res.beta, beta, rtol=1e-4)
    np.testing.assert_allclose(res.blup, blup, rtol=1e-3, atol=1e-6)


def test_mrode_example_3_1_animal_model():
    # Mrode (2005) Example 3.1: pre-weaning gain of five calves, sex as fixed effect,
    # sigma2_a = 20, sigma2_e = 40 (h2 = 1/3); animals 1-3 have no record.
    sire = [-1, -1, -1, 0, 2, 0, 3, 2]
    dam = [-1, -1, -1, -1, 1, 1, 4, 5]
    y = np.array([np.nan, np.nan, np.nan, 4.5, 2.9, 3.9, 3.5, 5.0])
    male = np.array([0, 0, 0, 1, 0, 0, 1, 1.0])
    x = np.column_stack([male, 1 - male])
    x[:3] = 0.0
    res = gblup(y, a_matrix(sire, dam), 1 / 3, X=x)
    np.testing.assert_allclose(res.beta, [4.358, 3.404], atol=1e-3)
    np.testing.assert_allclose(
        res.blup, [0.098, -0.019, -0.041, -0.009, -0.186, 0.177, -0.249, 0.183], atol=1e-3
    )


def test_reml_boundary_and_errors():
    rng = np.random.default_rng(0)
    n = 30
    k = _kinship(rng, n)
    y = rng.normal(size=n)  # no genetic signal: h2 near 0 is fine, must not crash
    res = reml_gblup(y, k)
    assert 0.0 <= res.h2 <= 1.0
    with pytest.raises(ValueError, match="symmetric"):
        reml_gblup(y, k + np.triu(np.ones((n, n)), 1))
    with pytest.raises(ValueError, match="expected 30x30"):
        reml_gblup(y, k[:5, :5])
    with pytest.raises(ValueError, match="h2"):
        gblup(y, k, 1.5)
    with pytest.raises(ValueError, match="full column rank"):
        reml_gblup(y, k, np.column_stack([np.ones(n), np.ones(n)]))
    with pytest.raises(ValueError, match="no variation"):
        reml_gblup(np.ones(n), k)
