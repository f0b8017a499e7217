"""grm and pca against a column-by-column NumPy reference."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from bijmantra.genomics import grm, pca
from bijmantra.genomics.grm import GrmCentring, grm_from_blocks
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


def random_cuts(data, n: int) -> list[int]:
    """Chunk boundaries 0 < c1 < ... < n drawn by hypothesis (sizes from 1 to n)."""
    inner = data.draw(st.sets(st.integers(1, max(1, n - 1)), max_size=n)) if n > 1 else set()
    return [0, *sorted(inner), n]


@SETTINGS
@given(
    genotype_matrices(max_variants=80, max_samples=9),
    st.sampled_from(["vanraden1", "vanraden2"]),
    st.sampled_from([0.0, 0.2]),
    st.sampled_from([np.float32, np.float64]),
    st.integers(1, 60),
    st.data(),
)
def test_centring_chunk_by_chunk_equals_centring_the_whole_matrix(
    g, method, min_maf, dtype, block, data
):
    """Chunks of any sizes, centred as they come, give the very blocks (rows, 2p(1-p) sums)
    grm cuts from the whole matrix, hence a bitwise equal GRM."""
    options = {"method": method, "min_maf": min_maf, "dtype": dtype, "block_variants": block}
    cuts = random_cuts(data, g.shape[0])

    def blocks(chunks, centring):
        for chunk in chunks:
            for b in centring.add(np.ascontiguousarray(chunk)):
                yield b.z.copy(), b.het_sum
                b.release()
        for b in centring.finish():
            yield b.z.copy(), b.het_sum

    whole = list(blocks([g], GrmCentring(**options, n_variants=g.shape[0])))
    pieces = [g[lo:hi] for lo, hi in itertools.pairwise(cuts)]
    chunked = list(blocks(pieces, GrmCentring(**options)))
    assert len(chunked) == len(whole)
    for (z, het), (z_whole, het_whole) in zip(chunked, whole, strict=True):
        np.testing.assert_array_equal(z, z_whole)
        assert het == het_whole
    if not whole:
        return
    centring = GrmCentring(**options, threads=1)

    def stream():
        for chunk in pieces:
            yield from centring.add(np.ascontiguousarray(chunk))
        yield from centring.finish()

    streamed = grm_from_blocks(stream(), method=method)
    expected = grm(g, method=method, min_maf=min_maf, dtype=dtype, chunk_variants=block)
    np.testing.assert_array_equal(streamed, expected)


def test_centring_reuses_a_released_buffer_and_refuses_a_sample_count_change():
    g = np.tile(np.array([[0, 1, 2, 1]], dtype=np.int8), (10, 1))
    centring = GrmCentring(block_variants=3)
    buffers = set()
    for b in centring.add(g):
        buffers.add(id(b._buffer))
        b.release()
    assert len(buffers) == 1
    with pytest.raises(ValueError, match="3 samples"):
        list(centring.add(np.ascontiguousarray(g[:, :3])))


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
