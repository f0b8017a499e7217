"""qc_stats and hwe_exact against enumeration-based references and published values."""

from __future__ import annotations

import numpy as np
import pytest
from bijmantra.genomics import hwe_exact, qc_stats
from genomics_refs import genotype_matrices, ref_hwe_chi2, ref_hwe_exact, ref_qc
from hypothesis import given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=60, deadline=None)


def _close(a, b, **kw):
    np.testing.assert_allclose(a, b, equal_nan=True, **kw)


@SETTINGS
@given(genotype_matrices(max_variants=15, max_samples=40))
def test_qc_stats_matches_reference(g):
    q = qc_stats(g)
    r = ref_qc(g)
    np.testing.assert_array_equal(q.n_called, r["n_called"])
    for key in (
        "call_rate",
        "alt_freq",
        "maf",
        "het_obs",
        "het_exp",
        "inbreeding_f",
        "sample_call_rate",
        "sample_het_obs",
    ):
        _close(getattr(q, key), r[key], rtol=1e-12, atol=1e-14, err_msg=key)
    n0, n1, n2 = r["counts"]
    np.testing.assert_array_equal(q.n_hom_ref, n0)
    exact = [ref_hwe_exact(a, b, c) for a, b, c in zip(n0, n1, n2, strict=True)]
    chi2 = [ref_hwe_chi2(a, b, c) for a, b, c in zip(n0, n1, n2, strict=True)]
    _close(q.hwe_p_exact, exact, rtol=1e-9, atol=1e-300)
    _close(q.hwe_p_chi2, chi2, rtol=1e-9, atol=1e-300)


@settings(max_examples=25, deadline=None)
@given(genotype_matrices(max_variants=20, max_samples=15), st.integers(1, 7))
def test_qc_stats_streams_chunks(g, size):
    whole = qc_stats(g)
    chunked = qc_stats(g[i : i + size] for i in range(0, g.shape[0], size))
    for key in ("n_called", "alt_freq", "hwe_p_exact", "sample_call_rate", "sample_het_obs"):
        _close(getattr(chunked, key), getattr(whole, key), rtol=0, err_msg=key)


def test_qc_one_sample_one_variant():
    for val in (-1, 0, 1, 2):
        q = qc_stats(np.array([[val]], dtype=np.int8))
        r = ref_qc(np.array([[val]], dtype=np.int8))
        _close(q.alt_freq, r["alt_freq"])
        _close(q.sample_het_obs, r["sample_het_obs"])


@SETTINGS
@given(st.integers(0, 60), st.integers(0, 60), st.integers(0, 60), st.booleans())
def test_hwe_exact_matches_enumeration(aa, ab, bb, mid_p):
    expected = ref_hwe_exact(aa, ab, bb, mid_p)
    got = hwe_exact(aa, ab, bb, mid_p=mid_p)
    if np.isnan(expected):
        assert np.isnan(got)
    else:
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_hwe_exact_large_counts_match_enumeration():
    rng = np.random.default_rng(7)
    n = 2000
    p = rng.uniform(0.01, 0.5, 40)
    aa = rng.binomial(n, (1 - p) ** 2)
    ab = np.minimum(rng.binomial(n, 2 * p * (1 - p)), n - aa)
    bb = n - aa - ab
    got = hwe_exact(aa, ab, bb)
    expected = [ref_hwe_exact(*c) for c in zip(aa, ab, bb, strict=True)]
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-300)


def test_hwe_exact_published_values():
    # Values from the authors' reference implementation of Wigginton, Cutler & Abecasis
    # (2005), snp_hwe.c, as used by the snphwe package tests: SNPHWE(hets, hom1, hom2).
    assert hwe_exact(10, 500, 5000) == pytest.approx(0.65157189991, rel=1e-9)
    assert hwe_exact(20, 1000, 5000) == pytest.approx(1.26598491e-5, rel=1e-7)
    # the test is symmetric in the two homozygote classes
    assert hwe_exact(5000, 500, 10) == pytest.approx(0.65157189991, rel=1e-9)
    # The paper's point: a tiny het excess / deficit example with 3 heterozygotes, no
    # rare homozygote, 97 common ones. Only het counts 1 and 3 are possible here.
    assert hwe_exact(97, 3, 0) == pytest.approx(1.0)
    assert hwe_exact(200000, 200000, 200000) == pytest.approx(0.0, abs=1e-300)


def test_hwe_exact_vectorised_shapes_and_edges():
    out = hwe_exact(np.array([[1, 0], [5, 3]]), 2, np.array([0, 4]))
    assert out.shape == (2, 2)
    assert np.isnan(hwe_exact(0, 0, 0))
    assert hwe_exact(10, 0, 0) == 1.0
    mid = hwe_exact(20, 1000, 5000, mid_p=True)
    assert 0 < mid < hwe_exact(20, 1000, 5000)


def test_hwe_exact_names_the_argument_numpy_cannot_read() -> None:
    with pytest.raises(ValueError, match=r"n_het: .*inhomogeneous"):
        hwe_exact(1, [[1, 2], [3]], 1)
