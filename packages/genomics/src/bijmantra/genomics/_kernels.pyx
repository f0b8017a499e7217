# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Cython kernels behind bijmantra.genomics: QC and HWE, GRM standardisation, LD, the
symmetric-matrix check and the 2-bit genotype codes (pedigree kernels live in ``_pedigree``).

Every function here assumes its arguments were validated by the Python wrappers (dtype,
C-contiguity, shapes); they do no Python-level work inside the loops and release the GIL.
Outputs are written into caller-allocated arrays so that the wrappers control memory.
"""

from cython.parallel cimport prange, threadid
from libc.math cimport NAN, fabs, fmax, lgamma
from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t, uint64_t
from libc.string cimport memcpy

import numpy as np

from bijmantra.genomics._bj_kernels cimport (
    bj_count_invalid,
    bj_count_isa,
    bj_count_tile,
    bj_have_openmp,
    bj_hwe_chi2,
    bj_hwe_exact,
    bj_ld_init,
    bj_ld_isa,
    bj_ld_r2,
    bj_max_threads,
    bj_row_sums,
    bj_t_sf2,
    threads_for,
)

ctypedef fused floating:
    float
    double


bj_ld_init()


def popcount_isa() -> str:
    """Which popcount code path the LD kernels dispatched to on this CPU."""
    return bj_ld_isa.decode()


def simd_isa() -> str:
    """Which byte-SIMD code path the genotype-counting kernel dispatched to on this CPU."""
    return bj_count_isa.decode()


cdef object _log_factorials(int64_t upto):
    """Table of log(k!) for k = 0..upto (HWE thresholds without lgamma calls)."""
    return np.cumsum(np.log(np.maximum(np.arange(upto + 1, dtype=np.float64), 1.0)))


cdef object _reciprocals(int64_t upto):
    """Table of 1/k for k = 0..upto (entry 0 unused): HWE recurrences without divisions."""
    k = np.arange(upto + 1, dtype=np.float64)
    k[0] = 1.0
    return 1.0 / k


def openmp_enabled() -> bool:
    return bool(bj_have_openmp())


def max_threads() -> int:
    return bj_max_threads()


def count_invalid(const int8_t[:, ::1] g) -> int:
    """Number of entries outside {-1, 0, 1, 2}."""
    cdef Py_ssize_t nv = g.shape[0], ns = g.shape[1], i
    cdef int64_t bad = 0
    cdef int nt = threads_for(<double>nv * ns)
    if nv == 0 or ns == 0:
        return 0
    for i in prange(nv, nogil=True, schedule="static", num_threads=nt):
        bad += bj_count_invalid(&g[i, 0], ns)
    return bad


# --------------------------------------------------------------------------------------------
# QC
# --------------------------------------------------------------------------------------------

def qc_chunk(const int8_t[:, ::1] g, int64_t[::1] n_called, double[::1] call_rate,
             double[::1] alt_freq, double[::1] maf, double[::1] het_obs, double[::1] het_exp,
             double[::1] inbreeding_f, double[::1] hwe_exact, double[::1] hwe_chi2,
             int64_t[::1] n_het_out, int64_t[::1] n_hom_alt_out,
             int64_t[::1] sample_called, int64_t[::1] sample_het, bint do_hwe=True) -> int:
    """All per-variant statistics of one chunk and per-sample tallies, in one pass.

    Returns the number of invalid genotype values seen (the caller raises on > 0).
    """
    cdef Py_ssize_t nv = g.shape[0], ns = g.shape[1], i, s, t, r
    cdef int nt = threads_for(<double>nv * ns)
    cdef int64_t bad = 0, n1, n2, nm, nb, nc, n0
    cdef double p, he
    if nv == 0 or ns == 0:
        return 0
    if nt > nv:
        nt = <int>nv
    cdef Py_ssize_t TILE = 255, ntiles = (nv + TILE - 1) // TILE, r0, nr
    tally_np = np.zeros((2 * nt, ns), dtype=np.int32)
    cdef int32_t[:, ::1] tally = tally_np
    bytes_np = np.zeros((2 * nt, ns), dtype=np.uint8)
    cdef uint8_t[:, ::1] tbytes = bytes_np
    # per-variant missing / invalid counts (out-parameters must not be thread-shared)
    scratch_np = np.empty((2, nv), dtype=np.int64)
    cdef int64_t[:, ::1] scratch = scratch_np
    lf_np = _log_factorials(ns + 2)
    rc_np = _reciprocals(ns + 2)
    cdef const double[::1] lf = lf_np
    cdef const double[::1] rc = rc_np
    for r in prange(ntiles, nogil=True, schedule="static", num_threads=nt):
        t = threadid()
        r0 = r * TILE
        nr = min(TILE, nv - r0)
        bj_count_tile(&g[r0, 0], nr, ns, &tbytes[2 * t, 0], &tbytes[2 * t + 1, 0],
                      &tally[2 * t, 0], &tally[2 * t + 1, 0], &n_het_out[r0],
                      &n_hom_alt_out[r0], &scratch[0, r0], &scratch[1, r0])
    for i in prange(nv, nogil=True, schedule="dynamic", chunksize=256, num_threads=nt):
        n1 = n_het_out[i]
        n2 = n_hom_alt_out[i]
        nm = scratch[0, i]
        nb = scratch[1, i]
        bad += nb
        nc = ns - nm - nb
        n0 = nc - n1 - n2
        n_called[i] = nc
        call_rate[i] = <double>nc / <double>ns
        if nc > 0:
            p = (n1 + 2.0 * n2) / (2.0 * nc)
            alt_freq[i] = p
            maf[i] = p if p <= 0.5 else 1.0 - p
            het_obs[i] = <double>n1 / <double>nc
            he = 2.0 * p * (1.0 - p)
            het_exp[i] = he
            if he > 0.0:
                inbreeding_f[i] = 1.0 - het_obs[i] / he
            else:
                inbreeding_f[i] = NAN
            if do_hwe:
                hwe_exact[i] = bj_hwe_exact(n0, n1, n2, 0, &lf[0], &rc[0], ns + 3)
                hwe_chi2[i] = bj_hwe_chi2(n0, n1, n2)
        else:
            alt_freq[i] = NAN
            maf[i] = NAN
            het_obs[i] = NAN
            het_exp[i] = NAN
            inbreeding_f[i] = NAN
            hwe_exact[i] = NAN
            hwe_chi2[i] = NAN
    for t in range(nt):
        for s in range(ns):
            sample_called[s] += tally[2 * t, s]
            sample_het[s] += tally[2 * t + 1, s]
    return bad


def hwe_exact_vec(const int64_t[::1] n_aa, const int64_t[::1] n_ab, const int64_t[::1] n_bb,
                  bint mid_p, double[::1] out) -> None:
    cdef Py_ssize_t n = n_aa.shape[0], i
    cdef int mp = mid_p
    cdef int64_t nmax = 0, nlf
    for i in range(n):
        nmax = max(nmax, n_aa[i] + n_ab[i] + n_bb[i])
    # a log-factorial table when it is cheap relative to the work, else lgamma per call
    nlf = nmax + 3 if nmax <= 16 * n + 100000 else 1
    lf_np = _log_factorials(nlf - 1)
    rc_np = _reciprocals(nlf - 1)
    cdef const double[::1] lf = lf_np
    cdef const double[::1] rc = rc_np
    for i in prange(n, nogil=True, schedule="dynamic", chunksize=256,
                    num_threads=threads_for(200.0 * n)):
        out[i] = bj_hwe_exact(n_aa[i], n_ab[i], n_bb[i], mp, &lf[0], &rc[0], nlf)


def hwe_chi2_vec(const int64_t[::1] n_aa, const int64_t[::1] n_ab, const int64_t[::1] n_bb,
                 double[::1] out) -> None:
    cdef Py_ssize_t n = n_aa.shape[0], i
    for i in prange(n, nogil=True, schedule="static", num_threads=threads_for(20.0 * n)):
        out[i] = bj_hwe_chi2(n_aa[i], n_ab[i], n_bb[i])


def t_sf2_vec(const double[::1] t, double df, double[::1] out) -> None:
    """Two-sided Student-t p-values."""
    cdef Py_ssize_t n = t.shape[0], i
    cdef double lbeta = lgamma(0.5 * df) + lgamma(0.5) - lgamma(0.5 * df + 0.5)
    for i in prange(n, nogil=True, schedule="dynamic", chunksize=256,
                    num_threads=threads_for(200.0 * n)):
        out[i] = bj_t_sf2(t[i], df, lbeta)


# --------------------------------------------------------------------------------------------
# GRM
# --------------------------------------------------------------------------------------------

def row_sums(const int8_t[:, ::1] g, int64_t[::1] sums, int64_t[::1] called,
             int threads=0) -> int:
    """Per-variant sum of called dosages and number of calls; returns #invalid values.

    ``threads`` > 0 caps the OpenMP threads (a caller running beside BLAS asks for one).
    """
    cdef Py_ssize_t nv = g.shape[0], ns = g.shape[1], i
    cdef int64_t bad = 0
    bad_np = np.empty(nv, dtype=np.int64)
    cdef int64_t[::1] nbad = bad_np
    cdef int nt = threads if threads > 0 else threads_for(<double>nv * ns)
    if nv == 0 or ns == 0:
        return 0
    for i in prange(nv, nogil=True, schedule="static", num_threads=nt):
        bj_row_sums(&g[i, 0], ns, &sums[i], &called[i], &nbad[i])
        bad += nbad[i]
    return bad


def center_scale(const int8_t[:, ::1] g, const int64_t[::1] rows, const double[::1] center,
                 const double[::1] scale, floating[:, ::1] out, int threads=0) -> None:
    """out[k, s] = (g[rows[k], s] - center[k]) * scale[k], or 0 where the call is missing.

    Missing calls become exactly the centred mean, i.e. mean imputation. ``threads`` as in
    ``row_sums``; every element is computed the same way whatever the thread count.
    """
    cdef Py_ssize_t nk = rows.shape[0], ns = g.shape[1], k, s
    cdef const int8_t *row
    cdef floating c, sc, v
    cdef floating[:, ::1] o = out
    cdef int nt = threads if threads > 0 else threads_for(<double>nk * ns)
    for k in prange(nk, nogil=True, schedule="static", num_threads=nt):
        row = &g[rows[k], 0]
        c = <floating>center[k]
        sc = <floating>scale[k]
        for s in range(ns):
            v = (<floating>row[s] - c) * sc
            o[k, s] = v if row[s] >= 0 else 0
    return None


# --------------------------------------------------------------------------------------------
# LD
# --------------------------------------------------------------------------------------------

def ld_pack(const int8_t[:, ::1] g, uint64_t[:, ::1] bits) -> int:
    """Bit-pack each variant into [a | b | m] planes of nw words; returns #invalid values."""
    cdef Py_ssize_t nv = g.shape[0], ns = g.shape[1], nw = bits.shape[1] // 3, i, s, w
    cdef int64_t bad = 0
    cdef int8_t v
    cdef uint64_t a, b, m, bit
    for i in prange(nv, nogil=True, schedule="static", num_threads=threads_for(<double>nv * ns)):
        for w in range(nw):
            a = 0
            b = 0
            m = 0
            for s in range(w * 64, min((w + 1) * 64, ns)):
                v = g[i, s]
                bit = (<uint64_t>1) << (s - w * 64)
                if v >= 1:
                    a = a | bit
                if v == 2:
                    b = b | bit
                if v >= 0:
                    m = m | bit
                if v < -1 or v > 2:
                    bad += 1
            bits[i, w] = a
            bits[i, nw + w] = b
            bits[i, 2 * nw + w] = m
    return bad


def ld_window(const uint64_t[:, ::1] bits, Py_ssize_t window, double[:, ::1] out) -> None:
    """out[i, d - 1] = r2(i, i + d) for d in 1..window (NaN past the last variant)."""
    cdef Py_ssize_t nv = bits.shape[0], nw = bits.shape[1] // 3, i, d
    for i in prange(nv, nogil=True, schedule="dynamic", chunksize=64,
                    num_threads=threads_for(<double>nv * window * nw * 20)):
        for d in range(1, window + 1):
            if i + d < nv:
                out[i, d - 1] = bj_ld_r2(&bits[i, 0], &bits[i + d, 0], nw)
            else:
                out[i, d - 1] = NAN


def ld_prune_greedy(const uint64_t[:, ::1] bits, Py_ssize_t size, Py_ssize_t step,
                    double threshold, uint8_t[::1] keep) -> None:
    """Sliding-window greedy pruning: in each window the earlier of a linked pair is kept."""
    cdef Py_ssize_t nv = bits.shape[0], nw = bits.shape[1] // 3, ws, we, i, j
    cdef double r2
    with nogil:
        ws = 0
        while ws < nv:
            we = min(ws + size, nv)
            for i in range(ws, we):
                if not keep[i]:
                    continue
                for j in range(i + 1, we):
                    if keep[j]:
                        r2 = bj_ld_r2(&bits[i, 0], &bits[j, 0], nw)
                        if r2 > threshold:
                            keep[j] = 0
            ws += step


def asymmetry(const double[:, ::1] a) -> tuple:
    """(max |a_ij - a_ji|, max |a_ij|) in cache-friendly 64x64 tiles: numpy's a - a.T walks
    one operand column-wise and costs 10x more on a 2,000 x 2,000 matrix."""
    cdef Py_ssize_t n = a.shape[0], T = 64, nb, bi, bj, i, j, i1, j1
    cdef double d, w, b
    nb = (n + T - 1) // T
    # per-tile-row results (a max is not a reduction Cython's prange knows)
    res_np = np.zeros((2, max(nb, 1)), dtype=np.float64)
    cdef double[:, ::1] res = res_np
    with nogil:
        for bi in prange(nb, schedule="dynamic", num_threads=threads_for(<double>n * n)):
            i1 = min(bi * T + T, n)
            w = 0.0
            b = 0.0
            for bj in range(bi + 1):
                j1 = min(bj * T + T, n)
                for i in range(bi * T, i1):
                    for j in range(bj * T, min(j1, i + 1)):
                        d = fabs(a[i, j] - a[j, i])
                        w = fmax(w, d)
                        b = fmax(b, fmax(fabs(a[i, j]), fabs(a[j, i])))
            res[0, bi] = w
            res[1, bi] = b
    worst = float(res_np[0].max())
    big = float(res_np[1].max())
    return worst, big


# --------------------------------------------------------------------------------------------
# 2-bit genotype codes (the genotype store's chunk encoding)
# --------------------------------------------------------------------------------------------

# Code = dosage + 1 (0 missing, 1..3 dosage 0..2), four samples per byte, first sample in the
# low bits. _UNPACK[b] holds the four dosages of byte b, so decoding is one 4-byte copy per byte.
# Both loops run on one thread: they are memory-bound (~GB/s on one core) and are called while
# a kernel's threads hold the other cores; a second OpenMP team would only oversubscribe them.
cdef int8_t _UNPACK[256][4]
cdef int _b, _k
for _b in range(256):
    for _k in range(4):
        _UNPACK[_b][_k] = <int8_t>(((_b >> (2 * _k)) & 3) - 1)


def pack_codes(const int8_t[:, ::1] g, uint8_t[:, ::1] out) -> int:
    """Pack dosages into ``out`` (n_variants, ceil(n_samples / 4)); padding codes are 0.
    Returns the number of values outside {-1, 0, 1, 2} (their codes are garbage)."""
    cdef Py_ssize_t nv = g.shape[0], ns = g.shape[1], full = ns // 4, i, b, s
    cdef int64_t bad = 0
    cdef uint8_t c0, c1, c2, c3, byte
    cdef const int8_t *row
    with nogil:
        for i in range(nv):
            row = &g[i, 0]
            for b in range(full):
                c0 = <uint8_t>(row[4 * b] + 1)
                c1 = <uint8_t>(row[4 * b + 1] + 1)
                c2 = <uint8_t>(row[4 * b + 2] + 1)
                c3 = <uint8_t>(row[4 * b + 3] + 1)
                bad += (c0 > 3) + (c1 > 3) + (c2 > 3) + (c3 > 3)
                out[i, b] = (c0 & 3) | (c1 & 3) << 2 | (c2 & 3) << 4 | (c3 & 3) << 6
            if full * 4 < ns:
                byte = 0
                for s in range(full * 4, ns):
                    c0 = <uint8_t>(row[s] + 1)
                    bad += c0 > 3
                    byte = byte | (c0 & 3) << (2 * (s - full * 4))
                out[i, full] = byte
    return bad


def unpack_codes(const uint8_t[:, ::1] packed, int8_t[:, ::1] out) -> None:
    """Decode ``packed`` into the (n_variants, n_samples) dosage matrix ``out``."""
    cdef Py_ssize_t nv = out.shape[0], ns = out.shape[1], full = ns // 4, i, b, s
    cdef int8_t *row
    cdef const uint8_t *src
    with nogil:
        for i in range(nv):
            row = &out[i, 0]
            src = &packed[i, 0]
            for b in range(full):
                memcpy(row + 4 * b, &_UNPACK[src[b]][0], 4)
            for s in range(full * 4, ns):
                row[s] = _UNPACK[src[full]][s - full * 4]
