"""A, inbreeding and A^-1 against the recursive definition, np.linalg.inv and Mrode (2005)."""

from __future__ import annotations

import numpy as np
import pytest
from bijmantra.genomics import a_inverse, a_matrix, inbreeding
from genomics_refs import pedigrees, ref_a_matrix
from hypothesis import given, settings

SETTINGS = settings(max_examples=80, deadline=None)

# Mrode (2005), Linear Models for the Prediction of Animal Breeding Values, Example 2.1
# (animals 1..6 -> indices 0..5): 3 = 1 x 2, 4 = 1 x ?, 5 = 4 x 3, 6 = 5 x 2.
MRODE_SIRE = [-1, -1, 0, 0, 3, 4]
MRODE_DAM = [-1, -1, 1, -1, 2, 1]
MRODE_A = np.array(
    [
        [1.000, 0.000, 0.500, 0.500, 0.500, 0.250],
        [0.000, 1.000, 0.500, 0.000, 0.250, 0.625],
        [0.500, 0.500, 1.000, 0.250, 0.625, 0.563],
        [0.500, 0.000, 0.250, 1.000, 0.625, 0.313],
        [0.500, 0.250, 0.625, 0.625, 1.125, 0.688],
        [0.250, 0.625, 0.563, 0.313, 0.688, 1.125],
    ]
)
# Mrode (2005), inverse of A for the same pedigree accounting for inbreeding.
MRODE_AINV = np.array(
    [
        [1.833, 0.500, -1.000, -0.667, 0.000, 0.000],
        [0.500, 2.033, -1.000, 0.000, 0.533, -1.067],
        [-1.000, -1.000, 2.500, 0.500, -1.000, 0.000],
        [-0.667, 0.000, 0.500, 1.833, -1.000, 0.000],
        [0.000, 0.533, -1.000, -1.000, 2.533, -1.067],
        [0.000, -1.067, 0.000, 0.000, -1.067, 2.133],
    ]
)


@SETTINGS
@given(pedigrees())
def test_a_matrix_inbreeding_and_inverse_match_reference(ped):
    sire, dam = ped
    a_ref = ref_a_matrix(sire, dam)
    a = a_matrix(sire, dam)
    np.testing.assert_allclose(a, a_ref, rtol=0, atol=1e-13)
    np.testing.assert_allclose(inbreeding(sire, dam), np.diag(a_ref) - 1.0, atol=1e-13)
    ainv_ref = np.linalg.inv(a_ref)
    scale = np.abs(ainv_ref).max()
    np.testing.assert_allclose(a_inverse(sire, dam), ainv_ref, rtol=0, atol=1e-9 * scale)
    r, c, x = a_inverse(sire, dam, sparse=True)
    dense = np.zeros_like(a)
    dense[r, c] = x
    np.testing.assert_allclose(dense, ainv_ref, rtol=0, atol=1e-9 * scale)


def test_a_matrix_larger_than_one_block():
    rng = np.random.default_rng(2)
    n = 300
    sire = np.array([rng.integers(-1, i) if i else -1 for i in range(n)])
    dam = np.array([rng.integers(-1, i) if i else -1 for i in range(n)])
    np.testing.assert_allclose(a_matrix(sire, dam), ref_a_matrix(sire, dam), atol=1e-12)
    np.testing.assert_allclose(
        inbreeding(sire, dam), np.diag(ref_a_matrix(sire, dam)) - 1, atol=1e-12
    )


def test_full_sib_mating_gives_inbreeding_one_quarter():
    sire = [-1, -1, 0, 0, 2]
    dam = [-1, -1, 1, 1, 3]
    assert inbreeding(sire, dam)[4] == pytest.approx(0.25, abs=1e-15)
    assert a_matrix(sire, dam)[4, 4] == pytest.approx(1.25, abs=1e-15)


def test_selfing_doubles_towards_homozygosity():
    sire = [-1, 0, 1, 2]
    dam = [-1, 0, 1, 2]
    np.testing.assert_allclose(inbreeding(sire, dam), [0, 0.5, 0.75, 0.875])


def test_mrode_textbook_pedigree():
    np.testing.assert_allclose(a_matrix(MRODE_SIRE, MRODE_DAM), MRODE_A, atol=6e-4)
    np.testing.assert_allclose(inbreeding(MRODE_SIRE, MRODE_DAM), [0, 0, 0, 0, 0.125, 0.125])
    np.testing.assert_allclose(a_inverse(MRODE_SIRE, MRODE_DAM), MRODE_AINV, atol=6e-4)


@pytest.mark.parametrize(
    ("sire", "dam", "message"),
    [
        ([-1, 1], [-1, -1], "invalid pedigree order"),
        ([-1, 0], [-1, 1], "invalid pedigree order"),
        ([-1, -2], [-1, -1], "unknown parent"),
        ([-1, 0], [-1], "entries"),
        ([[-1]], [[-1]], "1-D"),
        ([-1, 0.5], [-1, -1], "integer"),
    ],
)
def test_invalid_pedigrees(sire, dam, message):
    for fn in (a_matrix, inbreeding, a_inverse):
        with pytest.raises(ValueError, match=message):
            fn(sire, dam)
