"""Linkage disequilibrium (r^2 of dosages) in variant windows, and LD pruning."""

from __future__ import annotations

from typing import Any

import numpy as np
from bijmantra.genomics import _kernels
from bijmantra.genomics import _validate as v
from numpy.typing import NDArray


def _pack(g: Any) -> NDArray[np.uint64]:
    g = v.genotypes(g, check_values=False)
    nw = (g.shape[1] + 63) // 64
    bits = np.empty((g.shape[0], 3 * nw), dtype=np.uint64)
    v.raise_invalid(_kernels.ld_pack(g, bits))
    return bits


def _positive_int(x: Any, name: str) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 1:
        raise ValueError(f"{name} must be a positive integer, got {x!r}")
    return int(x)


def ld_r2(g: Any, *, window: int = 100) -> NDArray[np.float64]:
    """r^2 between each variant and the next ``window`` variants.

    Returns ``out`` of shape ``(n_variants, window)`` with ``out[i, d - 1] = r^2(i, i + d)``:
    the squared Pearson correlation of the dosages over samples called at both variants
    (pairwise-complete, no imputation). NaN where fewer than two samples are called at both,
    where either variant is constant over them, or past the last variant. Genotypes are
    bit-packed once, so each pair costs a handful of popcounts per 64 samples.
    """
    window = _positive_int(window, "window")
    bits = _pack(g)
    out = np.empty((bits.shape[0], window), dtype=np.float64)
    _kernels.ld_window(bits, window, out)
    return out


def ld_prune(
    g: Any, *, window: int = 100, step: int = 20, threshold: float = 0.1
) -> NDArray[np.bool_]:
    """Keep-mask of variants in approximate linkage equilibrium.

    Windows of ``window`` variants start every ``step`` variants; inside each window, for each
    kept variant in order, every later kept variant whose r^2 (as in :func:`ld_r2`) with it
    exceeds ``threshold`` is dropped. This is the greedy rule of scikit-allel's
    ``locate_unlinked``; undefined r^2 (NaN) never prunes.
    """
    window = _positive_int(window, "window")
    step = _positive_int(step, "step")
    try:
        thr = float(threshold)
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be a number, got {threshold!r}") from None
    if not (0.0 <= thr <= 1.0):
        raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
    bits = _pack(g)
    keep = np.ones(bits.shape[0], dtype=np.uint8)
    _kernels.ld_prune_greedy(bits, window, step, thr, keep)
    return keep.astype(bool)
