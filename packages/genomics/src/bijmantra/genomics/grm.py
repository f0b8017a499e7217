"""Genomic relationship matrix (VanRaden 2008) and principal components."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from bijmantra.genomics import _kernels
from bijmantra.genomics import _validate as v
from numpy.typing import DTypeLike, NDArray

DEFAULT_CHUNK = 16384


def _center_chunks(
    g: Any, *, method: str, dtype: np.dtype[Any], min_maf: float, chunk_variants: int
) -> Any:
    """Yield (Z, 2p(1-p) sum, m) per block: centred (and for vanraden2 scaled) dosages."""
    buf: NDArray[Any] | None = None
    for k, c in enumerate(v.chunks(g)):
        for start in range(0, c.shape[0], chunk_variants):
            sub = c[start : start + chunk_variants]
            nv, ns = sub.shape
            sums = np.empty(nv, dtype=np.int64)
            called = np.empty(nv, dtype=np.int64)
            bad = _kernels.row_sums(sub, sums, called)
            v.raise_invalid(bad, "g" if isinstance(g, np.ndarray) else f"g[chunk {k}]")
            with np.errstate(invalid="ignore", divide="ignore"):
                p = sums / (2.0 * called)
            maf = np.minimum(p, 1.0 - p)
            keep = (called > 0) & (maf > 0.0) & (maf >= min_maf)
            rows = np.flatnonzero(keep).astype(np.int64)
            if rows.size == 0:
                continue
            pk = p[rows]
            het = 2.0 * pk * (1.0 - pk)
            scale = np.ones_like(pk) if method == "vanraden1" else 1.0 / np.sqrt(het)
            if buf is None or buf.shape[1] != ns or buf.shape[0] < rows.size:
                buf = np.empty((max(rows.size, min(chunk_variants, c.shape[0])), ns), dtype=dtype)
            z = buf[: rows.size]
            _kernels.center_scale(sub, rows, np.ascontiguousarray(2.0 * pk), scale, z)
            yield z, float(het.sum()), int(rows.size)


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
    frequency comes from its own row, so one streaming pass suffices. The centred block is
    built by a parallel kernel and multiplied by BLAS (SYRK through NumPy's matmul).
    """
    if method not in ("vanraden1", "vanraden2"):
        raise ValueError(f"method must be 'vanraden1' or 'vanraden2', got {method!r}")
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    if not (0.0 <= float(min_maf) <= 0.5):
        raise ValueError(f"min_maf must be in [0, 0.5], got {min_maf}")
    if int(chunk_variants) < 1:
        raise ValueError(f"chunk_variants must be positive, got {chunk_variants}")
    k: NDArray[Any] | None = None
    tmp: NDArray[Any] | None = None
    denom = 0.0
    m = 0
    for z, het_sum, nk in _center_chunks(
        g, method=method, dtype=dt, min_maf=float(min_maf), chunk_variants=int(chunk_variants)
    ):
        if k is None:
            k = z.T @ z
            tmp = np.empty_like(k)
        else:
            assert tmp is not None
            np.matmul(z.T, z, out=tmp)
            k += tmp
        denom += het_sum
        m += nk
    if k is None:
        raise ValueError("no variant is polymorphic (and passes min_maf): the GRM is undefined")
    k /= denom if method == "vanraden1" else float(m)  # in place: keeps the dtype
    return k


@dataclass(frozen=True, slots=True)
class PCAResult:
    """``scores`` (n_samples, k) = eigenvectors * sqrt(eigenvalue); ``explained_variance`` is
    each eigenvalue's share of the trace of the relationship matrix."""

    scores: NDArray[np.float64]
    eigenvalues: NDArray[np.float64]
    explained_variance: NDArray[np.float64]
    eigenvectors: NDArray[np.float64]


def pca(g: Any = None, *, grm: Any = None, k: int = 10) -> PCAResult:
    """Principal components of samples from genotypes (via a VanRaden GRM) or a given GRM.

    Eigenvector signs are fixed (largest-magnitude entry positive) so results are reproducible.
    """
    if (g is None) == (grm is None):
        raise ValueError("pass exactly one of g (genotypes) or grm (a relationship matrix)")
    kk = _grm_fn(g, dtype=np.float64) if g is not None else v.kinship(grm, "grm")
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
    return PCAResult(scores=scores, eigenvalues=lam, explained_variance=explained, eigenvectors=vec)


_grm_fn = grm
