"""Pedigree relationships: numerator relationship matrix A, inbreeding, and A inverse.

Animals are 0..n-1 in an order where parents precede offspring; ``sire[i]``/``dam[i]`` are
parent indices or -1 when unknown. Selfing (sire == dam) is allowed, as plant pedigrees need.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from bijmantra.genomics import _pedigree
from bijmantra.genomics import _validate as v
from numpy.typing import NDArray


def a_matrix(sire: Any, dam: Any, *, out: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
    """Numerator relationship matrix by the tabular method, ``(n, n)`` float64.

    A[i, j] = (A[s_i, j] + A[d_i, j]) / 2 for j < i and A[i, i] = 1 + A[s_i, d_i] / 2, unknown
    parents contributing 0. Blocked so every memory access is contiguous, parallel by columns.
    ``out`` (a C-contiguous float64 ``(n, n)`` array) is overwritten and returned: for large
    pedigrees the kernel's first touch of fresh pages costs as much as the arithmetic.
    """
    s, d = v.pedigree(sire, dam)
    n = s.shape[0]
    if out is None:
        a = np.empty((n, n), dtype=np.float64)
    else:
        if (
            not isinstance(out, np.ndarray)
            or out.dtype != np.float64
            or out.shape != (n, n)
            or not out.flags.c_contiguous
            or not out.flags.writeable
        ):
            raise ValueError(
                f"out must be a writeable C-contiguous float64 array of shape {(n, n)}"
            )
        a = out
    _pedigree.a_matrix_fill(s, d, a)
    return a


def inbreeding(sire: Any, dam: Any) -> NDArray[np.float64]:
    """Inbreeding coefficients F_i = A[i, i] - 1 without forming A (Meuwissen & Luo 1992)."""
    s, d = v.pedigree(sire, dam)
    f = np.zeros(s.shape[0], dtype=np.float64)
    _pedigree.inbreeding_ml(s, d, f)
    return f


def _henderson(
    s: NDArray[np.int64], d: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """COO triplets (duplicates not summed) of A^-1 by Henderson's rules with inbreeding."""
    n = s.shape[0]
    f = np.zeros(n, dtype=np.float64)
    _pedigree.inbreeding_ml(s, d, f)
    fs = np.where(s >= 0, f[np.maximum(s, 0)], -1.0)
    fd = np.where(d >= 0, f[np.maximum(d, 0)], -1.0)
    # Mendelian sampling variance (in units of the additive variance); F of unknown = -1
    # reproduces 1 (no parent known) and 3/4 - F/4 (one parent known).
    b = 1.0 / (0.5 - 0.25 * (fs + fd))
    i = np.arange(n, dtype=np.int64)
    rows = [i]
    cols = [i]
    vals = [b]
    for p, known in ((s, s >= 0), (d, d >= 0)):
        ik, pk, bk = i[known], p[known], b[known]
        rows += [ik, pk]
        cols += [pk, ik]
        vals += [-0.5 * bk, -0.5 * bk]
    for p, q in ((s, s), (s, d), (d, s), (d, d)):
        known = (p >= 0) & (q >= 0)
        rows.append(p[known])
        cols.append(q[known])
        vals.append(0.25 * b[known])
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)


def a_inverse(
    sire: Any, dam: Any, *, sparse: bool = False
) -> NDArray[np.float64] | tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Inverse of A directly from the pedigree (Henderson's rules, accounting for inbreeding).

    Dense ``(n, n)`` by default; ``sparse=True`` returns COO ``(rows, cols, values)`` with
    duplicates summed (about 9 entries per animal), for pedigrees too large to densify.
    """
    s, d = v.pedigree(sire, dam)
    n = s.shape[0]
    r, c, x = _henderson(s, d)
    if not sparse:
        out = np.zeros((n, n), dtype=np.float64)
        np.add.at(out, (r, c), x)
        return out
    key = r * max(n, 1) + c
    uniq, inv = np.unique(key, return_inverse=True)
    vals = np.bincount(inv, weights=x, minlength=uniq.size).astype(np.float64)
    return (uniq // max(n, 1)).astype(np.int64), (uniq % max(n, 1)).astype(np.int64), vals
