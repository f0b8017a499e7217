"""Input validation shared by the public functions.

Kernels trust their inputs, so every public entry point funnels arrays through here: wrong dtype,
shape or values become a ``ValueError`` that says what is wrong instead of a crash or garbage.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
from bijmantra.genomics import _kernels
from numpy.typing import NDArray

GenotypeChunks = NDArray[np.int8] | Iterable[NDArray[np.int8]]


def genotypes(g: Any, name: str = "g", *, check_values: bool = True) -> NDArray[np.int8]:
    """A validated C-contiguous int8 ``(n_variants, n_samples)`` dosage array."""
    if not isinstance(g, np.ndarray):
        raise ValueError(f"{name} must be a numpy int8 array, got {type(g).__name__}")
    if g.dtype != np.int8:
        raise ValueError(f"{name} must have dtype int8 (dosages 0/1/2, -1 missing), got {g.dtype}")
    if g.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_variants, n_samples), got {g.ndim}-D")
    if g.shape[0] == 0 or g.shape[1] == 0:
        raise ValueError(f"{name} must have at least one variant and one sample, got {g.shape}")
    out: NDArray[np.int8] = np.ascontiguousarray(g)
    if check_values:
        bad = _kernels.count_invalid(out)
        if bad:
            raise ValueError(f"{name} holds {bad} value(s) outside {{-1, 0, 1, 2}}")
    return out


def chunks(g: Any, name: str = "g") -> Iterator[NDArray[np.int8]]:
    """Iterate over an array (as one chunk) or an iterable of variant-axis chunks.

    Values are not checked here: the consuming kernel counts invalid values in the same pass.
    """
    if isinstance(g, np.ndarray):
        yield genotypes(g, name, check_values=False)
        return
    if isinstance(g, (str, bytes)) or not isinstance(g, Iterable):
        raise ValueError(f"{name} must be an int8 array or an iterable of int8 arrays")
    n_samples = None
    seen = False
    for k, c in enumerate(g):
        c = genotypes(c, f"{name}[chunk {k}]", check_values=False)
        if n_samples is None:
            n_samples = c.shape[1]
        elif c.shape[1] != n_samples:
            raise ValueError(
                f"{name}[chunk {k}] has {c.shape[1]} samples, earlier chunks have {n_samples}"
            )
        seen = True
        yield c
    if not seen:
        raise ValueError(f"{name} holds no chunks")


def raise_invalid(bad: int, name: str = "g") -> None:
    if bad:
        raise ValueError(f"{name} holds {bad} value(s) outside {{-1, 0, 1, 2}}")


def vector(
    x: Any, name: str, *, length: int | None = None, allow_nan: bool = False
) -> NDArray[np.float64]:
    """A finite 1-D float64 vector (NaN allowed only if ``allow_nan``)."""
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if length is not None and a.shape[0] != length:
        raise ValueError(f"{name} has length {a.shape[0]}, expected {length}")
    if np.isinf(a).any() or (not allow_nan and np.isnan(a).any()):
        raise ValueError(f"{name} must be finite" + ("" if allow_nan else " (no NaN)"))
    return np.ascontiguousarray(a)


def matrix(x: Any, name: str, *, rows: int | None = None) -> NDArray[np.float64]:
    """A finite 2-D float64 matrix (a 1-D input is one column)."""
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
    if rows is not None and a.shape[0] != rows:
        raise ValueError(f"{name} has {a.shape[0]} rows, expected {rows}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} must be finite")
    return np.ascontiguousarray(a)


def kinship(k: Any, name: str = "K", *, n: int | None = None) -> NDArray[np.float64]:
    """A finite symmetric square float64 matrix."""
    a = matrix(k, name)
    if a.shape[0] != a.shape[1]:
        raise ValueError(f"{name} must be square, got shape {a.shape}")
    if n is not None and a.shape[0] != n:
        raise ValueError(f"{name} is {a.shape[0]}x{a.shape[0]}, expected {n}x{n} (one per sample)")
    worst, big = _kernels.asymmetry(a)
    if worst > 1e-8 * max(1.0, big):
        raise ValueError(f"{name} must be symmetric")
    return a


def pedigree(sire: Any, dam: Any) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Validated parent index vectors: -1 unknown, parents listed before their offspring."""
    out = []
    for name, x in (("sire", sire), ("dam", dam)):
        a = np.asarray(x)
        if a.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
        if a.size and not np.issubdtype(a.dtype, np.integer):
            if (
                np.issubdtype(a.dtype, np.floating)
                and np.all(np.isfinite(a))
                and np.all(a == np.round(a))
            ):
                a = a.astype(np.int64)
            else:
                raise ValueError(f"{name} must hold integer indices, got dtype {a.dtype}")
        out.append(np.ascontiguousarray(a, dtype=np.int64))
    s, d = out
    if s.shape[0] != d.shape[0]:
        raise ValueError(f"sire has {s.shape[0]} entries but dam has {d.shape[0]}")
    idx = np.arange(s.shape[0])
    for name, p in (("sire", s), ("dam", d)):
        bad = np.flatnonzero(p < -1)
        if bad.size:
            raise ValueError(f"{name}[{bad[0]}] = {p[bad[0]]}: use -1 for an unknown parent")
        bad = np.flatnonzero(p >= idx)
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"invalid pedigree order: animal {i} has {name} {p[i]}, but parents must be "
                "listed before their offspring (parent index < animal index)"
            )
    return s, d
