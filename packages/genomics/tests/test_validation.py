"""Every public function rejects malformed input with a ValueError that says what is wrong."""

from __future__ import annotations

import numpy as np
import pytest
from bijmantra.genomics import grm, gwas, ld_prune, ld_r2, pca, qc_stats

GOOD = np.array([[0, 1, 2], [2, -1, 1]], dtype=np.int8)

GENOTYPE_FUNCS = [
    ("qc_stats", lambda g: qc_stats(g)),
    ("grm", lambda g: grm(g)),
    ("ld_r2", lambda g: ld_r2(g, window=2)),
    ("ld_prune", lambda g: ld_prune(g, window=2, step=1, threshold=0.5)),
    ("pca", lambda g: pca(g, k=1)),
    ("gwas", lambda g: gwas(np.arange(3.0), g)),
]


@pytest.mark.parametrize(("name", "fn"), GENOTYPE_FUNCS)
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (GOOD.astype(np.int16), "dtype int8"),
        (GOOD.astype(np.float64), "dtype int8"),
        (GOOD[0], "2-D"),
        (GOOD[:, :, None], "2-D"),
        (np.zeros((0, 3), dtype=np.int8), "at least one"),
        (np.where(GOOD == 2, 3, GOOD).astype(np.int8), "outside"),
        (np.where(GOOD == -1, -7, GOOD).astype(np.int8), "outside"),
        (GOOD.tolist(), "numpy int8 array|iterable of int8"),
    ],
)
def test_bad_genotypes_raise(name, fn, bad, message):
    with pytest.raises(ValueError, match=message):
        fn(bad)


def test_non_contiguous_input_is_accepted():
    g = np.asfortranarray(np.tile(GOOD, (3, 2)))
    np.testing.assert_array_equal(qc_stats(g).n_called, qc_stats(np.ascontiguousarray(g)).n_called)


def test_chunk_errors():
    with pytest.raises(ValueError, match="earlier chunks"):
        qc_stats([GOOD, GOOD[:, :2]])
    with pytest.raises(ValueError, match="no chunks"):
        grm([])
    bad = GOOD.copy()
    bad[0, 0] = 9
    with pytest.raises(ValueError, match=r"chunk 1"):
        qc_stats([GOOD, bad])


def test_invalid_value_in_a_large_array_is_found():
    g = np.zeros((500, 300), dtype=np.int8)
    g[417, 299] = 100
    for fn in (qc_stats, grm, lambda a: ld_r2(a, window=1)):
        with pytest.raises(ValueError, match="1 value"):
            fn(g)


def test_parameter_errors():
    with pytest.raises(ValueError, match="method"):
        grm(GOOD, method="yang")
    with pytest.raises(ValueError, match="dtype"):
        grm(GOOD, dtype=np.int32)
    with pytest.raises(ValueError, match="min_maf"):
        grm(GOOD, min_maf=0.7)
    with pytest.raises(ValueError, match="step"):
        ld_prune(GOOD, window=2, step=0)


def test_kinship_symmetry_check_finds_any_asymmetric_entry():
    from bijmantra.genomics import reml_gblup

    rng = np.random.default_rng(0)
    n = 300
    z = rng.normal(size=(n, 50))
    k = z @ z.T / 50 + np.eye(n)
    y = rng.normal(size=n)
    reml_gblup(y, k)  # symmetric: accepted
    for i, j in [(0, 1), (299, 0), (150, 151), (64, 63), (299, 298)]:
        bad = k.copy()
        bad[i, j] += 1e-3
        with pytest.raises(ValueError, match="symmetric"):
            reml_gblup(y, bad)
