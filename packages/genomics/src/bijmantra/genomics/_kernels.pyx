# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Cython kernels behind bijmantra.genomics.

Every function here assumes its arguments were validated by the Python wrappers (dtype,
C-contiguity, shapes, pedigree order); they do no Python-level work inside the loops and release
the GIL. Outputs are written into caller-allocated arrays so that the wrappers control memory.
"""

from cython.parallel cimport parallel, prange, threadid
from libc.math cimport NAN, fabs, fmax, lgamma, sqrt
from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t, uint64_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memset

import numpy as np

ctypedef fused floating:
    float
    double


cdef extern from "_bj_kernels.h" nogil:
    int bj_max_threads()
    int bj_have_openmp()
    void bj_count_tile(const int8_t *g, int64_t nrows, int64_t n, uint8_t *t8c, uint8_t *t8h,
                       int32_t *sc, int32_t *sh, int64_t *o1, int64_t *o2, int64_t *om,
                       int64_t *ob)
    const char *bj_count_isa
    int64_t bj_count_invalid(const int8_t *x, int64_t n)
    void bj_row_sums(const int8_t *row, int64_t n, int64_t *sum, int64_t *called,
                     int64_t *nbad)
    double bj_hwe_exact(int64_t n_aa, int64_t n_ab, int64_t n_bb, int mid_p,
                        const double *lf, const double *rc, int64_t nlf)
    double bj_hwe_chi2(int64_t n_aa, int64_t n_ab, int64_t n_bb)
    double bj_t_sf2(double t, double df, double lbeta)
    double bj_ld_r2(const uint64_t *x, const uint64_t *y, int64_t nw)
    void bj_gather_stream(double *dst, const double *src, int64_t stride, int64_t len)
    void bj_sfence()
    void bj_ld_init()
    const char *bj_ld_isa


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


cdef inline int _threads(double work) noexcept nogil:
    """One thread for small inputs: a parallel region's start-up and barrier cost more than
    the work, and on an oversubscribed machine a descheduled peer stalls the barrier."""
    if work < 2.0e6:
        return 1
    return bj_max_threads()


def openmp_enabled() -> bool:
    return bool(bj_have_openmp())


def max_threads() -> int:
    return bj_max_threads()


def count_invalid(const int8_t[:, ::1] g) -> int:
    """Number of entries outside {-1, 0, 1, 2}."""
    cdef Py_ssize_t nv = g.shape[0], ns = g.shape[1], i
    cdef int64_t bad = 0
    cdef int nt = _threads(<double>nv * ns)
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
    cdef int nt = _threads(<double>nv * ns)
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
                    num_threads=_threads(200.0 * n)):
        out[i] = bj_hwe_exact(n_aa[i], n_ab[i], n_bb[i], mp, &lf[0], &rc[0], nlf)


def hwe_chi2_vec(const int64_t[::1] n_aa, const int64_t[::1] n_ab, const int64_t[::1] n_bb,
                 double[::1] out) -> None:
    cdef Py_ssize_t n = n_aa.shape[0], i
    for i in prange(n, nogil=True, schedule="static", num_threads=_threads(20.0 * n)):
        out[i] = bj_hwe_chi2(n_aa[i], n_ab[i], n_bb[i])


def t_sf2_vec(const double[::1] t, double df, double[::1] out) -> None:
    """Two-sided Student-t p-values."""
    cdef Py_ssize_t n = t.shape[0], i
    cdef double lbeta = lgamma(0.5 * df) + lgamma(0.5) - lgamma(0.5 * df + 0.5)
    for i in prange(n, nogil=True, schedule="dynamic", chunksize=256,
                    num_threads=_threads(200.0 * n)):
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
    cdef int nt = threads if threads > 0 else _threads(<double>nv * ns)
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
    cdef int nt = threads if threads > 0 else _threads(<double>nk * ns)
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
    for i in prange(nv, nogil=True, schedule="static", num_threads=_threads(<double>nv * ns)):
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
                    num_threads=_threads(<double>nv * window * nw * 20)):
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


# --------------------------------------------------------------------------------------------
# Pedigree
# --------------------------------------------------------------------------------------------

cdef inline double _lo(double[:, ::1] A, Py_ssize_t x, Py_ssize_t y) noexcept nogil:
    """A[x, y] read from the lower triangle."""
    if x >= y:
        return A[x, y]
    return A[y, x]


def a_matrix_fill(const int64_t[::1] sire, const int64_t[::1] dam, double[:, ::1] A) -> None:
    """Tabular method in row blocks, every access contiguous.

    Rows of a block take columns left of the block from their parents' complete rows
    (parallel over column chunks: column j depends only on column j), the block's own
    triangle serially, and then the block is mirrored into the rows above it.
    """
    cdef Py_ssize_t n = sire.shape[0], B = 128, b0, b1, i, j, c, c0, c1, nch, s, d, r
    cdef Py_ssize_t CW = 512
    cdef double x
    cdef int nt = _threads(<double>n * n)
    cdef Py_ssize_t PAGE = 512  # doubles per 4 KiB page
    with nogil:
        # First touch of fresh pages, spread over the threads: faulting (and the kernel's
        # zeroing of) 800 MB for n = 10,000 otherwise costs as much as the arithmetic.
        for r in prange(n, schedule="static", num_threads=nt):
            for j in range((n + PAGE - 1) // PAGE):
                A[r, j * PAGE] = 0.0
        b0 = 0
        while b0 < n:
            b1 = min(b0 + B, n)
            nch = (b0 + CW - 1) // CW
            for c in prange(nch, schedule="static", num_threads=nt):
                c0 = c * CW
                c1 = min(c0 + CW, b0)
                for i in range(b0, b1):
                    s = sire[i]
                    d = dam[i]
                    if s >= 0 and d >= 0:
                        for j in range(c0, c1):
                            A[i, j] = 0.5 * (A[s, j] + A[d, j])
                    elif s >= 0:
                        for j in range(c0, c1):
                            A[i, j] = 0.5 * A[s, j]
                    elif d >= 0:
                        for j in range(c0, c1):
                            A[i, j] = 0.5 * A[d, j]
                    else:
                        for j in range(c0, c1):
                            A[i, j] = 0.0
            for i in range(b0, b1):
                s = sire[i]
                d = dam[i]
                for j in range(b0, i):
                    x = 0.0
                    if s >= 0:
                        x = x + _lo(A, s, j)
                    if d >= 0:
                        x = x + _lo(A, d, j)
                    A[i, j] = 0.5 * x
                if s >= 0 and d >= 0:
                    A[i, i] = 1.0 + 0.5 * _lo(A, s, d)
                else:
                    A[i, i] = 1.0
            # mirror the block into the rows above it (and its own upper triangle)
            with parallel(num_threads=nt):
                for r in prange(b1, schedule="static"):
                    j = max(b0, r + 1)
                    if j < b1:
                        bj_gather_stream(&A[r, j], &A[j, r], n, b1 - j)
                bj_sfence()
            b0 = b1


cdef inline void _heap_push(int64_t *h, Py_ssize_t *size, int64_t v) noexcept nogil:
    cdef Py_ssize_t k = size[0], p
    size[0] += 1
    while k > 0:
        p = (k - 1) >> 1
        if h[p] >= v:
            break
        h[k] = h[p]
        k = p
    h[k] = v


cdef inline int64_t _heap_pop(int64_t *h, Py_ssize_t *size) noexcept nogil:
    cdef int64_t top = h[0], v
    cdef Py_ssize_t n, k = 0, c
    size[0] -= 1
    n = size[0]
    v = h[n]
    while True:
        c = 2 * k + 1
        if c >= n:
            break
        if c + 1 < n and h[c + 1] > h[c]:
            c += 1
        if h[c] <= v:
            break
        h[k] = h[c]
        k = c
    h[k] = v
    return top


def inbreeding_ml(const int64_t[::1] sire, const int64_t[::1] dam, double[::1] F) -> None:
    """Inbreeding coefficients by Meuwissen & Luo (1992), O(n * ancestors) without A.

    F_i = sum_j L_ij^2 D_j - 1 over i's ancestors j, where A = L D L'; ancestors are visited in
    decreasing order (a max-heap) so that L_ij is complete when j is expanded.
    """
    cdef Py_ssize_t n = sire.shape[0], i, hs
    cdef int64_t s, d, j, sj, dj
    cdef double fs, fd, fi, lj
    cdef double *D = <double *>malloc(max(n, 1) * sizeof(double))
    cdef double *L = <double *>calloc(max(n, 1), sizeof(double))
    cdef int64_t *heap = <int64_t *>malloc(max(n, 1) * sizeof(int64_t))
    cdef uint8_t *inq = <uint8_t *>calloc(max(n, 1), sizeof(uint8_t))
    if D == NULL or L == NULL or heap == NULL or inq == NULL:
        free(D)
        free(L)
        free(heap)
        free(inq)
        raise MemoryError()
    with nogil:
        for i in range(n):
            s = sire[i]
            d = dam[i]
            fs = F[s] if s >= 0 else -1.0
            fd = F[d] if d >= 0 else -1.0
            D[i] = 0.5 - 0.25 * (fs + fd)
            if s < 0 or d < 0:
                F[i] = 0.0
                continue
            hs = 0
            L[i] = 1.0
            _heap_push(heap, &hs, i)
            inq[i] = 1
            fi = 0.0
            while hs > 0:
                j = _heap_pop(heap, &hs)
                inq[j] = 0
                lj = L[j]
                L[j] = 0.0
                fi = fi + lj * lj * D[j]
                sj = sire[j]
                dj = dam[j]
                if sj >= 0:
                    L[sj] += 0.5 * lj
                    if not inq[sj]:
                        inq[sj] = 1
                        _heap_push(heap, &hs, sj)
                if dj >= 0:
                    L[dj] += 0.5 * lj
                    if not inq[dj]:
                        inq[dj] = 1
                        _heap_push(heap, &hs, dj)
            F[i] = fi - 1.0
    free(D)
    free(L)
    free(heap)
    free(inq)


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
        for bi in prange(nb, schedule="dynamic", num_threads=_threads(<double>n * n)):
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
