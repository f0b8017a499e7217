"""2-bit genotype codes against a plain NumPy reference of the documented layout."""

from __future__ import annotations

import numpy as np
import pytest
from bijmantra.genomics.packing import pack_dosages, packed_width, unpack_dosages
from hypothesis import given, settings
from hypothesis import strategies as st


def reference_pack(g: np.ndarray) -> np.ndarray:
    """Code = dosage + 1, four per byte, first sample in the low bits, rows padded with 0."""
    n_variants, n_samples = g.shape
    codes = np.zeros((n_variants, -(-n_samples // 4) * 4), dtype=np.uint8)
    codes[:, :n_samples] = g.astype(np.int16) + 1
    quads = codes.reshape(n_variants, -1, 4)
    return (quads[..., 0] | quads[..., 1] << 2 | quads[..., 2] << 4 | quads[..., 3] << 6).astype(
        np.uint8
    )


def reference_unpack(packed: np.ndarray, n_samples: int) -> np.ndarray:
    shifts = np.array([0, 2, 4, 6], dtype=np.uint8)
    codes = (packed[:, :, None] >> shifts) & 3
    return (codes.reshape(packed.shape[0], -1)[:, :n_samples].astype(np.int8) - 1).astype(np.int8)


# Sizes cross the parallel threshold (2e6 calls) only in the explicit test below.
dosages = st.tuples(st.integers(1, 40), st.integers(1, 37), st.integers(0, 2**31)).map(
    lambda a: np.random.default_rng(a[2]).integers(-1, 3, size=(a[0], a[1])).astype(np.int8)
)


@settings(max_examples=150, deadline=None)
@given(dosages)
def test_pack_matches_the_reference_layout(g: np.ndarray) -> None:
    np.testing.assert_array_equal(pack_dosages(g), reference_pack(g))


@settings(max_examples=150, deadline=None)
@given(dosages)
def test_unpack_matches_the_reference_decoder(g: np.ndarray) -> None:
    packed = reference_pack(g)
    np.testing.assert_array_equal(unpack_dosages(packed.tobytes(), g.shape[1]), g)
    np.testing.assert_array_equal(reference_unpack(packed, g.shape[1]), g)


def test_round_trip_on_a_matrix_large_enough_for_threads() -> None:
    g = np.random.default_rng(3).integers(-1, 3, size=(1201, 2003)).astype(np.int8)
    packed = pack_dosages(g)
    assert packed.shape == (1201, packed_width(2003)) == (1201, 501)
    np.testing.assert_array_equal(packed, reference_pack(g))
    np.testing.assert_array_equal(unpack_dosages(packed, 2003), g)


def test_unpack_fills_a_slice_of_a_preallocated_matrix_in_place() -> None:
    g = np.random.default_rng(4).integers(-1, 3, size=(30, 13)).astype(np.int8)
    matrix = np.full((50, 13), 7, dtype=np.int8)
    returned = unpack_dosages(pack_dosages(g[10:30]), 13, out=matrix[20:40])
    assert np.shares_memory(returned, matrix)
    np.testing.assert_array_equal(matrix[20:40], g[10:30])
    assert (matrix[:20] == 7).all()
    assert (matrix[40:] == 7).all()


def test_invalid_dosages_are_refused() -> None:
    g = np.zeros((3, 5), dtype=np.int8)
    g[1, 2] = 3
    g[2, 4] = -2
    with pytest.raises(ValueError, match="2 value"):
        pack_dosages(g)


def test_bytes_that_are_not_whole_rows_are_refused() -> None:
    with pytest.raises(ValueError, match="whole rows"):
        unpack_dosages(b"\x00" * 7, 9)  # rows of 3 bytes


def test_a_wrongly_shaped_out_is_refused() -> None:
    with pytest.raises(ValueError, match="out must be"):
        unpack_dosages(b"\x00" * 6, 9, out=np.empty((3, 9), dtype=np.int8))
