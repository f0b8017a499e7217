"""Symmetric result matrices: stored as one triangle, served as the exact bytes sent."""

from __future__ import annotations

import io

import numpy as np
import pytest
from bijmantra.genomics.symmetric import (
    expand_symmetric,
    pack_symmetric,
    pack_symmetric_array,
)
from hypothesis import given, settings
from hypothesis import strategies as st


def npy(matrix: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, matrix, allow_pickle=False)
    return buffer.getvalue()


def symmetric(n: int, dtype: type, seed: int = 0) -> np.ndarray:
    a = np.random.default_rng(seed).standard_normal((n, n)).astype(dtype)
    return a @ a.T  # SYRK: bitwise symmetric, like a GRM


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 40), dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 99)
)
def test_a_symmetric_matrix_is_stored_in_about_half_the_bytes_and_served_byte_for_byte(
    n: int, dtype: type, seed: int
) -> None:
    data = npy(symmetric(n, dtype, seed))
    stored = pack_symmetric(data)
    assert stored is not None
    assert len(stored) <= len(data) - (n * (n - 1) // 2) * np.dtype(dtype).itemsize
    assert expand_symmetric(stored) == data


def test_special_values_survive_bit_for_bit() -> None:
    m = symmetric(5, np.float64)
    m[1, 3] = m[3, 1] = np.nan
    m[0, 4] = m[4, 0] = -0.0
    m[2, 2] = np.inf
    data = npy(m)
    stored = pack_symmetric(data)
    assert stored is not None
    assert expand_symmetric(stored) == data


@pytest.mark.parametrize(
    "matrix",
    [
        np.arange(12, dtype=np.float64).reshape(3, 4),  # not square
        np.arange(9, dtype=np.float32).reshape(3, 3),  # square, not symmetric
        np.array([[1.0, 0.0], [-0.0, 1.0]]),  # equal as numbers, not as bits
        np.arange(8, dtype=np.float64),  # a vector
        np.asfortranarray(symmetric(3, np.float64) + np.eye(3)),  # Fortran order
    ],
)
def test_anything_else_is_left_whole(matrix: np.ndarray) -> None:
    assert pack_symmetric(npy(matrix)) is None
    if matrix.flags.c_contiguous:
        assert pack_symmetric_array(matrix) is None
    else:  # the array is packed as the C-order file it is saved as (same values)
        assert pack_symmetric_array(matrix) == pack_symmetric(npy(np.ascontiguousarray(matrix)))


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 30),
    dtype=st.sampled_from([np.float32, np.float64, np.int16, ">f8"]),
    seed=st.integers(0, 99),
    asymmetric=st.booleans(),
)
def test_packing_the_array_equals_packing_the_file_np_save_writes(
    n: int, dtype: str, seed: int, asymmetric: bool
) -> None:
    matrix = symmetric(n, np.float64, seed).astype(dtype)
    if asymmetric and n > 1:
        matrix[0, 1] += 1
    assert pack_symmetric_array(matrix) == pack_symmetric(npy(matrix))


def test_bytes_that_are_not_npy_are_left_whole_and_refused_as_packed() -> None:
    assert pack_symmetric(b"\x89PNG\r\n\x1a\n...") is None
    with pytest.raises(ValueError, match="not a packed"):
        expand_symmetric(b"<svg/>")
