/*
 * Hot inner loops of bijmantra.genomics, written in C so that the compiler vectorises them
 * (restrict pointers, simple counted loops). The parallel loops around them live in
 * _kernels.pyx; nothing here touches Python objects, so everything is callable without the GIL.
 */
#ifndef BJ_KERNELS_H
#define BJ_KERNELS_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
static int bj_max_threads(void) { return omp_get_max_threads(); }
static int bj_have_openmp(void) { return 1; }
#else
static int bj_max_threads(void) { return 1; }
static int bj_have_openmp(void) { return 0; }
#endif

/* ------------------------------------------------------------------------------------------ */
/* Pedigree: mirror a block column into a row with streaming stores.                           */
/* ------------------------------------------------------------------------------------------ */

#if defined(__x86_64__) || defined(_M_X64)
#include <emmintrin.h>
/* dst[k] = src[k * stride] for k < len. The destination (the upper triangle of A) is not read
 * again soon, so non-temporal stores skip the read-for-ownership of every line written. */
static inline void bj_gather_stream(double *restrict dst, const double *restrict src,
                                    int64_t stride, int64_t len) {
    int64_t k = 0;
    if (((uintptr_t)dst & 15) != 0 && len > 0) {
        dst[0] = src[0];
        k = 1;
    }
    for (; k + 2 <= len; k += 2)
        _mm_stream_pd(dst + k, _mm_set_pd(src[(k + 1) * stride], src[k * stride]));
    for (; k < len; k++) dst[k] = src[k * stride];
}
static inline void bj_sfence(void) { _mm_sfence(); }
#else
static inline void bj_gather_stream(double *restrict dst, const double *restrict src,
                                    int64_t stride, int64_t len) {
    for (int64_t k = 0; k < len; k++) dst[k] = src[k * stride];
}
static inline void bj_sfence(void) {}
#endif

/* ------------------------------------------------------------------------------------------ */
/* QC: one row (variant) of dosages -> genotype counts, plus per-sample call / het tallies.   */
/* ------------------------------------------------------------------------------------------ */

/* A tile of at most 255 variant rows -> per-row genotype counts, and per-sample "called" and
 * "het" tallies added into sc/sh. Within the tile the per-sample tallies are kept in bytes
 * (t8c/t8h, n bytes each) so that every operation of the inner loop is byte-wide SIMD. */
#define BJ_COUNT_TILE_BODY                                                                  \
    memset(t8c, 0, (size_t)n);                                                              \
    memset(t8h, 0, (size_t)n);                                                              \
    for (int64_t r = 0; r < nrows; r++) {                                                   \
        const int8_t *restrict row = g + r * n;                                             \
        /* 64 byte-lanes per counter, flushed before they can overflow */                   \
        uint8_t a1[64], a2[64], am[64], ab[64];                                             \
        int64_t c1 = 0, c2 = 0, cm = 0, cb = 0;                                             \
        int64_t k0 = 0;                                                                     \
        while (k0 + 64 <= n) {                                                              \
            memset(a1, 0, 64);                                                              \
            memset(a2, 0, 64);                                                              \
            memset(am, 0, 64);                                                              \
            memset(ab, 0, 64);                                                              \
            int64_t stop = k0 + 64 * 255;                                                   \
            if (stop > n) stop = n;                                                         \
            for (; k0 + 64 <= stop; k0 += 64) {                                             \
                for (int j = 0; j < 64; j++) {                                              \
                    int8_t v = row[k0 + j];                                                 \
                    uint8_t is1 = (uint8_t)(v == 1);                                        \
                    a1[j] += is1;                                                           \
                    a2[j] += (uint8_t)(v == 2);                                             \
                    am[j] += (uint8_t)(v == -1);                                            \
                    ab[j] += (uint8_t)((uint8_t)(v + 1) > 3);                               \
                    t8c[k0 + j] += (uint8_t)(v >= 0);                                       \
                    t8h[k0 + j] += is1;                                                     \
                }                                                                           \
            }                                                                               \
            for (int j = 0; j < 64; j++) {                                                  \
                c1 += a1[j];                                                                \
                c2 += a2[j];                                                                \
                cm += am[j];                                                                \
                cb += ab[j];                                                                \
            }                                                                               \
        }                                                                                   \
        for (int64_t k = k0; k < n; k++) {                                                  \
            int8_t v = row[k];                                                              \
            c1 += (v == 1);                                                                 \
            c2 += (v == 2);                                                                 \
            cm += (v == -1);                                                                \
            cb += ((uint8_t)(v + 1) > 3);                                                   \
            t8c[k] += (uint8_t)(v >= 0);                                                    \
            t8h[k] += (uint8_t)(v == 1);                                                    \
        }                                                                                   \
        o1[r] = c1;                                                                         \
        o2[r] = c2;                                                                         \
        om[r] = cm;                                                                         \
        ob[r] = cb;                                                                         \
    }                                                                                       \
    for (int64_t k = 0; k < n; k++) {                                                       \
        sc[k] += t8c[k];                                                                    \
        sh[k] += t8h[k];                                                                    \
    }

#define BJ_COUNT_TILE_ARGS                                                                  \
    const int8_t *restrict g, int64_t nrows, int64_t n, uint8_t *restrict t8c,             \
        uint8_t *restrict t8h, int32_t *restrict sc, int32_t *restrict sh,                  \
        int64_t *restrict o1, int64_t *restrict o2, int64_t *restrict om,                   \
        int64_t *restrict ob

typedef void (*bj_count_tile_fn)(BJ_COUNT_TILE_ARGS);
static void bj_count_tile_generic(BJ_COUNT_TILE_ARGS) { BJ_COUNT_TILE_BODY }
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(BJ_NO_DISPATCH)
__attribute__((target("avx2"))) static void bj_count_tile_avx2(BJ_COUNT_TILE_ARGS) {
    BJ_COUNT_TILE_BODY
}
__attribute__((target("avx512f,avx512bw,avx512vl"))) static void bj_count_tile_avx512(
    BJ_COUNT_TILE_ARGS) {
    BJ_COUNT_TILE_BODY
}
#endif

/* Number of values outside {-1, 0, 1, 2} in a buffer. */
static inline int64_t bj_count_invalid(const int8_t *restrict x, int64_t n) {
    int64_t bad = 0;
    for (int64_t k = 0; k < n; k++) bad += ((uint8_t)(x[k] + 1) > 3);
    return bad;
}

/* Sum of called dosages, number of called genotypes and number of invalid values in a row. */
static inline void bj_row_sums(const int8_t *restrict row, int64_t n, int64_t *sum,
                               int64_t *called, int64_t *nbad) {
    int64_t s1 = 0, sc = 0, sb = 0;
    int64_t s = 0;
    while (s < n) {
        int64_t e = s + 60 < n ? s + 60 : n;
        int8_t b1 = 0, bc = 0, bb = 0;
        for (int64_t k = s; k < e; k++) {
            int8_t v = row[k];
            int8_t ok = (int8_t)(v >= 0);
            b1 += (int8_t)(ok ? v : 0);
            bc += ok;
            bb += (int8_t)((uint8_t)(v + 1) > 3);
        }
        s1 += b1;
        sc += bc;
        sb += bb;
        s = e;
    }
    *sum = s1;
    *called = sc;
    *nbad = sb;
}

/* ------------------------------------------------------------------------------------------ */
/* Hardy-Weinberg exact test (Wigginton, Cutler & Abecasis 2005).                             */
/* ------------------------------------------------------------------------------------------ */

static inline double bj_lfact(int64_t k, const double *lf, int64_t nlf) {
    return k < nlf ? lf[k] : lgamma((double)k + 1.0);
}

static inline double bj_log_het_prob(int64_t hets, int64_t homr, int64_t homc,
                                     const double *lf, int64_t nlf) {
    /* log P(hets | n, rare) up to a constant: 2^het / (het! homr! homc!); lf is an optional
     * table of log k! (nlf entries) that spares the lgamma calls. */
    return (double)hets * 0.69314718055994530942 - bj_lfact(hets, lf, nlf) -
           bj_lfact(homr, lf, nlf) - bj_lfact(homc, lf, nlf);
}

/* Exact HWE p-value. Terms are generated by the paper's recurrence outwards from the mode,
 * which is normalised to 1, and the walk stops once the remaining tail cannot change the
 * p-value in the 16th digit; so the cost is O(sd of the het count) instead of O(n). */
static double bj_hwe_exact(int64_t n_aa, int64_t n_ab, int64_t n_bb, int mid_p,
                           const double *lf, const double *rc, int64_t nlf) {
    if (n_aa < 0 || n_ab < 0 || n_bb < 0) return NAN;
    int64_t n = n_aa + n_ab + n_bb;
    if (n == 0) return NAN;
    int64_t homr = n_aa < n_bb ? n_aa : n_bb;
    int64_t homc = n_aa < n_bb ? n_bb : n_aa;
    int64_t rare = 2 * homr + n_ab;
    if (rare == 0) return mid_p ? 0.5 : 1.0; /* one possible configuration */
    int64_t mid = (int64_t)((double)rare * (double)(2 * n - rare) / (double)(2 * n));
    if ((mid & 1) != (rare & 1)) mid++;
    if (mid > rare) mid -= 2;
    int64_t mid_homr = (rare - mid) / 2;
    int64_t mid_homc = n - mid - mid_homr;
    double lthr = bj_log_het_prob(n_ab, homr, homc, lf, nlf) -
                  bj_log_het_prob(mid, mid_homr, mid_homc, lf, nlf);
    double thr = exp(lthr) * (1.0 + 1e-7);
    double incl0 = (1.0 <= thr) ? 1.0 : 0.0, pobs = (mid == n_ab) ? 1.0 : 0.0;
    /* The ratio of consecutive terms does not depend on p, so only one multiply sits on the
     * loop-carried chain; counts stay integers (no float->int conversions for the table
     * lookups) and rc[k] = 1/k replaces the division when tabulated. The observed term is
     * at most thr, so it is only looked for among included terms. */
    double pd = 1.0, pu = 1.0, td = 0.0, tu = 0.0, id = 0.0, iu = 0.0;
    int64_t hd = mid, hu = mid, hrd = mid_homr, hcd = mid_homc, hru = mid_homr, hcu = mid_homc;
#define BJ_HWE_WALK(RATIO_DOWN, RATIO_UP)                                                   \
    while (hd > 1) { /* fewer hets */                                                       \
        double num = (double)hd * (double)(hd - 1);                                         \
        pd *= (RATIO_DOWN);                                                                 \
        hrd++;                                                                              \
        hcd++;                                                                              \
        hd -= 2;                                                                            \
        td += pd;                                                                           \
        if (pd <= thr) {                                                                    \
            if (hd == n_ab) pobs = pd;                                                      \
            id += pd;                                                                       \
            if (pd < 1e-15 * (incl0 + id) || pd < 1e-300) break;                            \
        }                                                                                   \
    }                                                                                       \
    while (hu <= rare - 2) { /* more hets */                                                \
        double num = 4.0 * (double)hru * (double)hcu;                                       \
        pu *= (RATIO_UP);                                                                   \
        hru--;                                                                              \
        hcu--;                                                                              \
        hu += 2;                                                                            \
        tu += pu;                                                                           \
        if (pu <= thr) {                                                                    \
            if (hu == n_ab) pobs = pu;                                                      \
            iu += pu;                                                                       \
            if (pu < 1e-15 * (incl0 + id + iu) || pu < 1e-300) break;                       \
        }                                                                                   \
    }
    if (n < nlf - 1) {
        BJ_HWE_WALK((num * 0.25) * (rc[hrd + 1] * rc[hcd + 1]), num * (rc[hu + 2] * rc[hu + 1]))
    } else {
        BJ_HWE_WALK(num / (4.0 * (double)(hrd + 1) * (double)(hcd + 1)),
                    num / ((double)(hu + 2) * (double)(hu + 1)))
    }
#undef BJ_HWE_WALK
    double total = 1.0 + td + tu, incl = incl0 + id + iu;
    double pv = incl / total;
    if (mid_p) pv -= 0.5 * pobs / total;
    if (pv > 1.0) pv = 1.0;
    if (pv < 0.0) pv = 0.0;
    return pv;
}

/* Pearson chi-square HWE test, 1 df, no continuity correction. */
static double bj_hwe_chi2(int64_t n_aa, int64_t n_ab, int64_t n_bb) {
    double n = (double)(n_aa + n_ab + n_bb);
    if (n <= 0) return NAN;
    double p = (2.0 * n_aa + n_ab) / (2.0 * n), q = 1.0 - p;
    if (p <= 0.0 || q <= 0.0) return 1.0;
    double e_aa = n * p * p, e_ab = 2.0 * n * p * q, e_bb = n * q * q;
    double x = (n_aa - e_aa) * (n_aa - e_aa) / e_aa + (n_ab - e_ab) * (n_ab - e_ab) / e_ab +
               (n_bb - e_bb) * (n_bb - e_bb) / e_bb;
    return erfc(sqrt(0.5 * x));
}

/* ------------------------------------------------------------------------------------------ */
/* Student t two-sided p-value via the regularised incomplete beta function.                  */
/* ------------------------------------------------------------------------------------------ */

static double bj_betacf(double a, double b, double x) {
    const double FPMIN = 1e-300, EPS = 1e-16;
    double qab = a + b, qap = a + 1.0, qam = a - 1.0;
    double c = 1.0, d = 1.0 - qab * x / qap;
    if (fabs(d) < FPMIN) d = FPMIN;
    d = 1.0 / d;
    double h = d;
    for (int m = 1; m <= 100000; m++) {
        double m2 = 2.0 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if (fabs(d) < FPMIN) d = FPMIN;
        c = 1.0 + aa / c;
        if (fabs(c) < FPMIN) c = FPMIN;
        d = 1.0 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if (fabs(d) < FPMIN) d = FPMIN;
        c = 1.0 + aa / c;
        if (fabs(c) < FPMIN) c = FPMIN;
        d = 1.0 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1.0) < EPS) break;
    }
    return h;
}

/* Regularised incomplete beta I_x(a, b); lbeta = lgamma(a)+lgamma(b)-lgamma(a+b). */
static double bj_betainc(double a, double b, double x, double lbeta) {
    if (!(x > 0.0)) return x == 0.0 ? 0.0 : NAN;
    if (x >= 1.0) return x == 1.0 ? 1.0 : NAN;
    double lbt = a * log(x) + b * log1p(-x) - lbeta;
    if (x < (a + 1.0) / (a + b + 2.0)) return exp(lbt) * bj_betacf(a, b, x) / a;
    return 1.0 - exp(lbt) * bj_betacf(b, a, 1.0 - x) / b;
}

/* Two-sided p-value of a t statistic with df degrees of freedom. */
static double bj_t_sf2(double t, double df, double lbeta) {
    if (isnan(t) || !(df > 0)) return NAN;
    if (isinf(t)) return 0.0;
    double x = df / (df + t * t);
    return bj_betainc(0.5 * df, 0.5, x, lbeta);
}

/* ------------------------------------------------------------------------------------------ */
/* LD: r^2 of two bit-packed variants over pairwise-complete samples.                         */
/* Each variant is 3*nw words: a = (g >= 1), b = (g == 2), m = called; dosage = a + b.        */
/* ------------------------------------------------------------------------------------------ */

#define BJ_LD_SUMS_BODY                                                                     \
    const uint64_t *ax = x, *bx = x + nw, *mx = x + 2 * nw;                                 \
    const uint64_t *ay = y, *by = y + nw, *my = y + 2 * nw;                                 \
    int64_t n = 0, xa = 0, xb = 0, ya = 0, yb = 0, aa = 0, ab = 0, ba = 0, bb = 0;          \
    for (int64_t w = 0; w < nw; w++) {                                                      \
        n += __builtin_popcountll(mx[w] & my[w]);                                           \
        xa += __builtin_popcountll(ax[w] & my[w]);                                          \
        xb += __builtin_popcountll(bx[w] & my[w]);                                          \
        ya += __builtin_popcountll(ay[w] & mx[w]);                                          \
        yb += __builtin_popcountll(by[w] & mx[w]);                                          \
        aa += __builtin_popcountll(ax[w] & ay[w]);                                          \
        ab += __builtin_popcountll(ax[w] & by[w]);                                          \
        ba += __builtin_popcountll(bx[w] & ay[w]);                                          \
        bb += __builtin_popcountll(bx[w] & by[w]);                                          \
    }                                                                                       \
    out[0] = n;                                                                             \
    out[1] = xa + xb;     /* sum x   */                                                     \
    out[2] = xa + 3 * xb; /* sum x^2 (1 -> 1, 2 -> 1 + 3) */                                \
    out[3] = ya + yb;                                                                       \
    out[4] = ya + 3 * yb;                                                                   \
    out[5] = aa + ab + ba + bb; /* sum x*y */

typedef void (*bj_ld_sums_fn)(const uint64_t *restrict, const uint64_t *restrict, int64_t,
                              int64_t *restrict);

static void bj_ld_sums_generic(const uint64_t *restrict x, const uint64_t *restrict y,
                               int64_t nw, int64_t *restrict out) {
    BJ_LD_SUMS_BODY
}

/* Runtime dispatch on x86-64 with GCC/Clang: AVX-512 VPOPCNTDQ counts 8 words per
 * instruction, POPCNT one; the generic build (x86-64 baseline) has neither. */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(BJ_NO_DISPATCH)
__attribute__((target("avx512f,avx512vl,avx512bw,avx512vpopcntdq,popcnt"))) static void
bj_ld_sums_avx512(const uint64_t *restrict x, const uint64_t *restrict y, int64_t nw,
                  int64_t *restrict out) {
    BJ_LD_SUMS_BODY
}
__attribute__((target("popcnt"))) static void bj_ld_sums_popcnt(const uint64_t *restrict x,
                                                                const uint64_t *restrict y,
                                                                int64_t nw,
                                                                int64_t *restrict out) {
    BJ_LD_SUMS_BODY
}
static bj_ld_sums_fn bj_ld_sums = bj_ld_sums_generic;
static const char *bj_ld_isa = "generic";
static bj_count_tile_fn bj_count_tile = bj_count_tile_generic;
static const char *bj_count_isa = "generic";
/* BIJMANTRA_GENOMICS_ISA=generic|baseline caps the dispatch (to test every code path, or to
 * rule the SIMD paths out when debugging). */
static void bj_ld_init(void) {
    const char *cap = getenv("BIJMANTRA_GENOMICS_ISA");
    int allow_simd = !(cap && (strcmp(cap, "generic") == 0 || strcmp(cap, "baseline") == 0));
    int allow_wide = allow_simd && !(cap && strcmp(cap, "popcnt") == 0);
    __builtin_cpu_init();
    if (!allow_simd) return;
    if (allow_wide && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) {
        bj_count_tile = bj_count_tile_avx512;
        bj_count_isa = "avx512bw";
    } else if (allow_wide && __builtin_cpu_supports("avx2")) {
        bj_count_tile = bj_count_tile_avx2;
        bj_count_isa = "avx2";
    }
    if (allow_wide && __builtin_cpu_supports("avx512vpopcntdq") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw")) {
        bj_ld_sums = bj_ld_sums_avx512;
        bj_ld_isa = "avx512vpopcntdq";
    } else if (__builtin_cpu_supports("popcnt")) {
        bj_ld_sums = bj_ld_sums_popcnt;
        bj_ld_isa = "popcnt";
    }
}
#else
static bj_ld_sums_fn bj_ld_sums = bj_ld_sums_generic;
static const char *bj_ld_isa = "generic";
static bj_count_tile_fn bj_count_tile = bj_count_tile_generic;
static const char *bj_count_isa = "generic";
static void bj_ld_init(void) {}
#endif

static inline double bj_ld_r2(const uint64_t *x, const uint64_t *y, int64_t nw) {
    int64_t s[6];
    bj_ld_sums(x, y, nw, s);
    double n = (double)s[0];
    if (s[0] < 2) return NAN;
    double vx = n * (double)s[2] - (double)s[1] * (double)s[1];
    double vy = n * (double)s[4] - (double)s[3] * (double)s[3];
    if (vx <= 0.0 || vy <= 0.0) return NAN;
    double cov = n * (double)s[5] - (double)s[1] * (double)s[3];
    double r2 = cov * cov / (vx * vy);
    return r2 > 1.0 ? 1.0 : r2;
}

#endif /* BJ_KERNELS_H */
