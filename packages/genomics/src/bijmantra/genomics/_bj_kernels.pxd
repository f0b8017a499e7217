"""C declarations and the threading rule every genomics kernel module shares.

``_bj_kernels.h`` holds the SIMD/OpenMP C code; each extension module that cimports this file
compiles its own copy of those static functions, so a module that uses the dispatched ones
(``bj_count_tile``, ``bj_ld_r2``) calls ``bj_ld_init()`` once at import.
"""

from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t, uint64_t


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


cdef inline int threads_for(double work) noexcept nogil:
    """One thread for small inputs: a parallel region's start-up and barrier cost more than
    the work, and on an oversubscribed machine a descheduled peer stalls the barrier."""
    if work < 2.0e6:
        return 1
    return bj_max_threads()
