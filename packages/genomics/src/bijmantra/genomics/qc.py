"""Per-variant and per-sample quality control in one pass, and the exact HWE test."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from bijmantra.genomics import _kernels
from bijmantra.genomics import _validate as v
from numpy.typing import NDArray

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class QCStats:
    """QC statistics. Per-variant arrays have length n_variants, ``sample_*`` n_samples.

    Frequencies are of the alternate allele over called genotypes; statistics undefined for a
    variant (all calls missing; ``inbreeding_f`` when ``het_exp`` is 0) are NaN. A monomorphic
    variant has HWE p-values of 1.
    """

    n_called: I64
    call_rate: F64
    alt_freq: F64
    maf: F64
    het_obs: F64
    het_exp: F64
    inbreeding_f: F64
    hwe_p_exact: F64
    hwe_p_chi2: F64
    n_het: I64
    n_hom_alt: I64
    sample_call_rate: F64
    sample_het_obs: F64

    @property
    def n_hom_ref(self) -> I64:
        return self.n_called - self.n_het - self.n_hom_alt


def qc_stats(g: Any, *, hwe: bool = True) -> QCStats:
    """All QC statistics in a single pass over the genotypes.

    ``g`` is an int8 ``(n_variants, n_samples)`` array or an iterable of such chunks along the
    variant axis (streamed, so data larger than memory works). ``hwe=False`` skips both HWE
    tests (their arrays are then NaN) when only the counts are wanted.
    """
    parts: list[tuple[NDArray[Any], ...]] = []
    sample_called: I64 | None = None
    sample_het: I64 | None = None
    n_variants = 0
    for k, c in enumerate(v.chunks(g)):
        nv, ns = c.shape
        if sample_called is None:
            sample_called = np.zeros(ns, dtype=np.int64)
            sample_het = np.zeros(ns, dtype=np.int64)
        assert sample_het is not None
        n_called = np.empty(nv, dtype=np.int64)
        n_het = np.empty(nv, dtype=np.int64)
        n_alt = np.empty(nv, dtype=np.int64)
        f = np.empty((8, nv))
        if not hwe:
            f[6:] = np.nan
        bad = _kernels.qc_chunk(
            c,
            n_called,
            f[0],
            f[1],
            f[2],
            f[3],
            f[4],
            f[5],
            f[6],
            f[7],
            n_het,
            n_alt,
            sample_called,
            sample_het,
            hwe,
        )
        v.raise_invalid(bad, "g" if isinstance(g, np.ndarray) else f"g[chunk {k}]")
        parts.append((n_called, f, n_het, n_alt))
        n_variants += nv
    assert sample_called is not None
    assert sample_het is not None
    if len(parts) == 1:  # the common single-array case: no copies
        n_called, f, n_het, n_alt = parts[0]
    else:
        n_called = np.concatenate([p[0] for p in parts])
        f = np.concatenate([p[1] for p in parts], axis=1)
        n_het = np.concatenate([p[2] for p in parts])
        n_alt = np.concatenate([p[3] for p in parts])
    with np.errstate(invalid="ignore", divide="ignore"):
        s_het = np.where(sample_called > 0, sample_het / np.maximum(sample_called, 1), np.nan)
    return QCStats(
        n_called=n_called,
        call_rate=f[0],
        alt_freq=f[1],
        maf=f[2],
        het_obs=f[3],
        het_exp=f[4],
        inbreeding_f=f[5],
        hwe_p_exact=f[6],
        hwe_p_chi2=f[7],
        n_het=n_het,
        n_hom_alt=n_alt,
        sample_call_rate=sample_called / float(n_variants),
        sample_het_obs=s_het,
    )


def _counts(x: Any, name: str) -> I64:
    try:
        a = np.asarray(x)
    except (TypeError, ValueError) as exc:  # ragged lists, objects numpy cannot convert
        raise ValueError(f"{name}: {exc}") from None
    whole_floats = (
        np.issubdtype(a.dtype, np.floating) and np.all(np.isfinite(a)) and np.all(a == np.round(a))
    )
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer) or whole_floats):
        raise ValueError(f"{name} must hold non-negative integer counts, got dtype {a.dtype}")
    a = a.astype(np.int64)
    if (a < 0).any():
        raise ValueError(f"{name} must hold non-negative counts")
    return a


def hwe_exact(n_hom_ref: Any, n_het: Any, n_hom_alt: Any, *, mid_p: bool = False) -> Any:
    """Exact Hardy-Weinberg test (Wigginton, Cutler & Abecasis 2005), vectorised.

    Arguments are genotype counts (scalars or broadcastable arrays). Returns the probability,
    under HWE given the allele counts, of a het count at most as likely as the observed one;
    ``mid_p`` subtracts half the observed configuration's probability (Graffelman & Moreno
    2013), so a table with only one possible configuration (e.g. a monomorphic variant)
    has mid-p 0.5. Zero genotypes give NaN. A scalar input gives a float.
    """
    aa, ab, bb = (
        _counts(n_hom_ref, "n_hom_ref"),
        _counts(n_het, "n_het"),
        _counts(n_hom_alt, "n_hom_alt"),
    )
    try:
        aa, ab, bb = np.broadcast_arrays(aa, ab, bb)
    except ValueError:
        raise ValueError(
            f"count arrays have incompatible shapes {aa.shape}, {ab.shape}, {bb.shape}"
        ) from None
    shape = aa.shape
    out = np.empty(aa.size, dtype=np.float64)
    _kernels.hwe_exact_vec(
        np.ascontiguousarray(aa.ravel()),
        np.ascontiguousarray(ab.ravel()),
        np.ascontiguousarray(bb.ravel()),
        bool(mid_p),
        out,
    )
    if shape == ():
        return float(out[0])
    return out.reshape(shape)


def passing_variants(
    g: Any,
    *,
    min_maf: float | None = None,
    min_call_rate: float | None = None,
    max_heterozygosity: float | None = None,
) -> NDArray[np.bool_]:
    """Per variant of the int8 dosage chunk ``g``: does it meet every bound given (None: no
    bound)? One pass of the QC kernel, no HWE. A variant with no called genotype has no MAF
    or heterozygosity, so it fails any bound on them."""
    stats = qc_stats(g, hwe=False)
    keep = np.ones(stats.n_called.shape, dtype=np.bool_)
    with np.errstate(invalid="ignore"):
        if min_maf is not None:
            keep &= stats.maf >= min_maf
        if min_call_rate is not None:
            keep &= stats.call_rate >= min_call_rate
        if max_heterozygosity is not None:
            keep &= stats.het_obs <= max_heterozygosity
    return keep
