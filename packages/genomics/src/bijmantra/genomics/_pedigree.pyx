# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Pedigree kernels behind bijmantra.genomics.pedigree: the numerator relationship matrix A
and inbreeding coefficients.

Arguments are validated by the Python wrappers (C-contiguous, parents before offspring); the
loops do no Python-level work and release the GIL.
"""

from cython.parallel cimport parallel, prange
from libc.stdint cimport int64_t, uint8_t
from libc.stdlib cimport calloc, free, malloc

from bijmantra.genomics._bj_kernels cimport bj_gather_stream, bj_sfence, threads_for


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
    cdef int nt = threads_for(<double>n * n)
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
