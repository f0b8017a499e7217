"""Genomic relationship matrix (VanRaden 2008) and principal components."""

from __future__ import annotations

import queue
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from bijmantra.genomics import _kernels
from bijmantra.genomics import _validate as v
from numpy.typing import DTypeLike, NDArray

DEFAULT_CHUNK = 16384


@dataclass(frozen=True, slots=True)
class CentredBlock:
    """One block of centred (for ``vanraden2`` also scaled) dosages, ready to be multiplied.

    ``z`` is ``(kept variants, samples)``; ``het_sum`` the sum of ``2p(1-p)`` over those
    variants. ``release()`` hands the buffer back for a later block once ``z`` is consumed.
    """

    z: NDArray[Any]
    het_sum: float
    _buffer: NDArray[Any]
    _spares: queue.SimpleQueue[NDArray[Any]]

    @property
    def variants(self) -> int:
        return int(self.z.shape[0])

    def release(self) -> None:
        self._spares.put(self._buffer)


def _check_options(method: str, dtype: np.dtype[Any], min_maf: float, block_variants: int) -> None:
    if method not in ("vanraden1", "vanraden2"):
        raise ValueError(f"method must be 'vanraden1' or 'vanraden2', got {method!r}")
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    if not (0.0 <= min_maf <= 0.5):
        raise ValueError(f"min_maf must be in [0, 0.5], got {min_maf}")
    if block_variants < 1:
        raise ValueError(f"chunk_variants must be positive, got {block_variants}")


class GrmCentring:
    """Centres variant chunks of any size, in order, into the blocks ``grm`` multiplies.

    A block holds ``block_variants`` consecutive variants (counted before filtering), cut at
    the same places whatever the chunk sizes, and its ``2p(1-p)`` sum is taken over the whole
    block at once; each variant is centred by the same arithmetic wherever its chunk ends. So
    a GRM accumulated from these blocks is bitwise the one ``grm`` computes on the whole
    matrix, and a reader that centres each chunk as it arrives has the block ready the moment
    its last chunk lands (ADR 0070). ``threads`` caps the centring's OpenMP threads (one when
    it runs beside a BLAS call); ``n_variants``, when known, sizes the first buffer exactly;
    ``spares``, a pool of block buffers a long-lived caller keeps between GRMs (released
    blocks return to it; a buffer of another width or dtype is dropped, not used).
    ``variants_used`` counts the variants centred so far: those that passed the filters
    (called, polymorphic, MAF >= ``min_maf``), i.e. the ones the GRM is built on.

    Not thread-safe, except ``CentredBlock.release``, which another thread may call.
    """

    def __init__(
        self,
        *,
        method: Literal["vanraden1", "vanraden2"] = "vanraden1",
        dtype: DTypeLike = np.float32,
        min_maf: float = 0.0,
        block_variants: int = DEFAULT_CHUNK,
        n_variants: int | None = None,
        threads: int = 0,
        spares: queue.SimpleQueue[NDArray[Any]] | None = None,
    ) -> None:
        self.method = method
        self._dtype = np.dtype(dtype)
        self._min_maf = float(min_maf)
        self._block = int(block_variants)
        _check_options(method, self._dtype, self._min_maf, self._block)
        self._hint = self._block if n_variants is None else max(1, min(self._block, n_variants))
        self._threads = int(threads)
        self._spares: queue.SimpleQueue[NDArray[Any]] = (
            queue.SimpleQueue() if spares is None else spares
        )
        self._n_samples: int | None = None
        self._buffer: NDArray[Any] | None = None
        self._raw = 0  # variants of the current block seen, kept or not
        self._kept = 0  # rows of the buffer filled
        self._het: list[NDArray[np.float64]] = []
        self.variants_used = 0

    def add(self, chunk: NDArray[np.int8], name: str = "g") -> Iterator[CentredBlock]:
        """Centre a validated C-contiguous int8 chunk; yields each block it completes.

        Lazy: a block's successor is started only when the caller asks for the next one, so a
        caller that releases each block before that reuses one buffer throughout.
        """
        done = 0
        while done < chunk.shape[0]:
            take = min(chunk.shape[0] - done, self._block - self._raw)
            self._centre(chunk[done : done + take], name)
            done += take
            self._raw += take
            if self._raw == self._block:
                yield from self._hand_over()

    def finish(self) -> Iterator[CentredBlock]:
        """The last, partial block (if any)."""
        if self._raw:
            yield from self._hand_over()

    def _centre(self, sub: NDArray[np.int8], name: str) -> None:
        nv, ns = sub.shape
        sums = np.empty(nv, dtype=np.int64)
        called = np.empty(nv, dtype=np.int64)
        v.raise_invalid(_kernels.row_sums(sub, sums, called, self._threads), name)
        with np.errstate(invalid="ignore", divide="ignore"):
            p = sums / (2.0 * called)
        maf = np.minimum(p, 1.0 - p)
        rows = np.flatnonzero((called > 0) & (maf > 0.0) & (maf >= self._min_maf))
        if rows.size == 0:
            return
        self.variants_used += int(rows.size)
        pk = p[rows]
        het = 2.0 * pk * (1.0 - pk)
        scale = np.ones_like(pk) if self.method == "vanraden1" else 1.0 / np.sqrt(het)
        z = self._rows(rows.size, ns)
        center = np.ascontiguousarray(2.0 * pk)
        _kernels.center_scale(sub, rows.astype(np.int64), center, scale, z, self._threads)
        self._het.append(het)

    def _rows(self, count: int, n_samples: int) -> NDArray[Any]:
        """The next ``count`` rows of the current block's buffer (taken or grown as needed)."""
        if self._n_samples is None:
            self._n_samples = n_samples
        elif n_samples != self._n_samples:
            raise ValueError(f"a chunk has {n_samples} samples, earlier ones {self._n_samples}")
        need = self._kept + count
        buffer = self._buffer
        if buffer is None:
            buffer = self._spare(n_samples)
        if buffer is None:
            buffer = np.empty((max(need, self._hint), n_samples), dtype=self._dtype)
        if buffer.shape[0] < need:  # an iterable of unknown length: grow geometrically
            rows = min(self._block, max(need, 2 * buffer.shape[0]))
            grown = np.empty((rows, n_samples), dtype=buffer.dtype)
            grown[: self._kept] = buffer[: self._kept]
            buffer = grown
        self._buffer = buffer
        self._kept = need
        return buffer[need - count : need]

    def _spare(self, n_samples: int) -> NDArray[Any] | None:
        while True:
            try:
                buffer = self._spares.get_nowait()
            except queue.Empty:
                return None
            if buffer.shape[1] == n_samples and buffer.dtype == self._dtype:
                return buffer

    def _hand_over(self) -> Iterator[CentredBlock]:
        buffer, kept, het = self._buffer, self._kept, self._het
        self._buffer, self._raw, self._kept, self._het = None, 0, 0, []
        if buffer is None:  # no variant of the block passed the filters
            return
        het_sum = float((het[0] if len(het) == 1 else np.concatenate(het)).sum())
        yield CentredBlock(buffer[:kept], het_sum, buffer, self._spares)


def grm_from_blocks(
    blocks: Iterable[CentredBlock], *, method: Literal["vanraden1", "vanraden2"] = "vanraden1"
) -> NDArray[Any]:
    """The GRM from centred blocks (``GrmCentring``), releasing each once multiplied."""
    k: NDArray[Any] | None = None
    tmp: NDArray[Any] | None = None
    denom = 0.0
    m = 0
    for block in blocks:
        z = block.z
        if k is None:
            k = z.T @ z
            tmp = np.empty_like(k)
        else:
            assert tmp is not None
            np.matmul(z.T, z, out=tmp)
            k += tmp
        denom += block.het_sum
        m += block.variants
        block.release()
    if k is None:
        raise ValueError("no variant is polymorphic (and passes min_maf): the GRM is undefined")
    k /= denom if method == "vanraden1" else float(m)  # in place: keeps the dtype
    return k


def _centred_blocks(g: Any, centring: GrmCentring) -> Iterator[CentredBlock]:
    whole = isinstance(g, np.ndarray)
    for k, c in enumerate(v.chunks(g)):
        yield from centring.add(c, "g" if whole else f"g[chunk {k}]")
    yield from centring.finish()


def grm(
    g: Any,
    *,
    method: Literal["vanraden1", "vanraden2"] = "vanraden1",
    dtype: DTypeLike = np.float32,
    min_maf: float = 0.0,
    chunk_variants: int = DEFAULT_CHUNK,
) -> NDArray[Any]:
    """Genomic relationship matrix ``(n_samples, n_samples)`` (VanRaden 2008).

    ``vanraden1``: ZZ' / (2 sum p(1-p)); ``vanraden2``: mean over variants of
    z_i z_j / (2p(1-p)); Z = dosage - 2p. Missing genotypes are mean-imputed, i.e. their centred
    value is exactly 0. Monomorphic variants, all-missing variants and those with MAF below
    ``min_maf`` are dropped. ``g`` may be an iterable of variant chunks: each variant's
    frequency comes from its own row, so one streaming pass suffices, and the result does not
    depend on how the variants were chunked. Blocks of ``chunk_variants`` variants are
    centred by a parallel kernel and multiplied by BLAS (SYRK through NumPy's matmul).
    """
    return grm_counted(
        g, method=method, dtype=dtype, min_maf=min_maf, chunk_variants=chunk_variants
    )[0]


def grm_counted(
    g: Any,
    *,
    method: Literal["vanraden1", "vanraden2"] = "vanraden1",
    dtype: DTypeLike = np.float32,
    min_maf: float = 0.0,
    chunk_variants: int = DEFAULT_CHUNK,
) -> tuple[NDArray[Any], int]:
    """``grm`` and the number of variants it was built on (those that passed the filters)."""
    centring = GrmCentring(
        method=method,
        dtype=dtype,
        min_maf=min_maf,
        block_variants=chunk_variants,
        n_variants=g.shape[0] if isinstance(g, np.ndarray) and g.ndim == 2 else None,
    )
    k = grm_from_blocks(_centred_blocks(g, centring), method=method)
    return k, centring.variants_used


@dataclass(frozen=True, slots=True)
class PCAResult:
    """``scores`` (n_samples, k) = eigenvectors * sqrt(eigenvalue); ``explained_variance`` is
    each eigenvalue's share of the trace of the relationship matrix. ``variants_used``: the
    variants the GRM was built on when ``pca`` built it from genotypes, else None."""

    scores: NDArray[np.float64]
    eigenvalues: NDArray[np.float64]
    explained_variance: NDArray[np.float64]
    eigenvectors: NDArray[np.float64]
    variants_used: int | None = None


def pca(g: Any = None, *, grm: Any = None, k: int = 10) -> PCAResult:
    """Principal components of samples from genotypes (via a VanRaden GRM) or a given GRM.

    Eigenvector signs are fixed (largest-magnitude entry positive) so results are reproducible.
    """
    if (g is None) == (grm is None):
        raise ValueError("pass exactly one of g (genotypes) or grm (a relationship matrix)")
    used: int | None = None
    if g is not None:
        kk, used = grm_counted(g, dtype=np.float64)
    else:
        kk = v.kinship(grm, "grm")
    n = kk.shape[0]
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= n:
        raise ValueError(f"k must be an integer in [1, {n}], got {k!r}")
    evals, evecs = np.linalg.eigh(kk.astype(np.float64, copy=False))
    order = np.argsort(evals)[::-1][:k]
    lam = evals[order]
    vec = evecs[:, order]
    idx = np.argmax(np.abs(vec), axis=0)
    vec = vec * np.sign(vec[idx, np.arange(k)])
    trace = float(np.trace(kk))
    explained = lam / trace if trace > 0 else np.full(k, np.nan)
    scores = vec * np.sqrt(np.clip(lam, 0.0, None))
    return PCAResult(scores, lam, explained, vec, used)
