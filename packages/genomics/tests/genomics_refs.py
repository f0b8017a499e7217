"""Independent plain NumPy/SciPy reference implementations and hypothesis strategies.

Written from the textbook definitions, deliberately not sharing code or algorithms with
bijmantra.genomics (full enumeration instead of truncated recurrences, explicit loops
instead of blocked kernels, Henderson's mixed-model equations instead of eigen-rotations).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import optimize, special
from scipy import stats as sps

# ------------------------------------------------------------------------------ strategies


@st.composite
def genotype_matrices(draw, max_variants=12, max_samples=20, min_variants=1, min_samples=1):
    """int8 dosages with random missingness plus monomorphic and all-missing rows."""
    nv = draw(st.integers(min_variants, max_variants))
    ns = draw(st.integers(min_samples, max_samples))
    g = draw(hnp.arrays(np.int8, (nv, ns), elements=st.sampled_from([-1, 0, 1, 2])))
    kinds = draw(
        st.lists(
            st.sampled_from(["as-is", "mono", "missing", "sparse-missing"]),
            min_size=nv,
            max_size=nv,
        )
    )
    for i, k in enumerate(kinds):
        if k == "mono":
            g[i] = np.where(g[i] < 0, -1, draw(st.sampled_from([0, 1, 2])))
        elif k == "missing":
            g[i] = -1
        elif k == "sparse-missing":
            g[i] = np.where(g[i] < 0, 0, g[i])
    return g


# ------------------------------------------------------------------------------ QC / HWE


def ref_qc(g):
    g = g.astype(np.int64)
    called = g >= 0
    nc = called.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(called, g, 0).sum(1) / (2.0 * nc)
        het = (g == 1).sum(1) / nc
        he = 1.0 - p**2 - (1.0 - p) ** 2
        f = np.where(he > 0, 1.0 - het / np.where(he > 0, he, 1.0), np.nan)
        s_het = (g == 1).sum(0) / called.sum(0)
    return {
        "n_called": nc,
        "call_rate": nc / g.shape[1],
        "alt_freq": p,
        "maf": np.minimum(p, 1 - p),
        "het_obs": het,
        "het_exp": he,
        "inbreeding_f": f,
        "sample_call_rate": called.mean(0),
        "sample_het_obs": s_het,
        "counts": ((g == 0).sum(1), (g == 1).sum(1), (g == 2).sum(1)),
    }


def ref_hwe_exact(aa, ab, bb, mid_p=False):
    """Enumerate every het count with the exact (log-space) HWE probability."""
    n = aa + ab + bb
    if n == 0:
        return np.nan
    n_a = 2 * aa + ab  # copies of allele A
    n_b = 2 * n - n_a
    hets = np.arange(n_a % 2, min(n_a, n_b) + 1, 2)
    x_aa = (n_a - hets) // 2
    x_bb = (n_b - hets) // 2
    logp = (
        special.gammaln(n + 1)
        - special.gammaln(x_aa + 1)
        - special.gammaln(hets + 1)
        - special.gammaln(x_bb + 1)
        + hets * np.log(2.0)
        + special.gammaln(n_a + 1)
        + special.gammaln(n_b + 1)
        - special.gammaln(2 * n + 1)
    )
    lobs = logp[hets == ab][0]
    sel = logp <= lobs + 1e-7
    lp = special.logsumexp(logp[sel]) - special.logsumexp(logp)
    p = np.exp(lp)
    if mid_p:
        p -= 0.5 * np.exp(lobs - special.logsumexp(logp))
    return min(p, 1.0)


def ref_hwe_chi2(aa, ab, bb):
    n = aa + ab + bb
    if n == 0:
        return np.nan
    p = (2 * aa + ab) / (2 * n)
    if p in (0.0, 1.0):
        return 1.0
    exp = np.array([n * p * p, 2 * n * p * (1 - p), n * (1 - p) ** 2])
    x = (((np.array([aa, ab, bb]) - exp) ** 2) / exp).sum()
    return float(sps.chi2.sf(x, 1))


# ------------------------------------------------------------------------------ GRM / PCA


def ref_grm(g, method="vanraden1", min_maf=0.0):
    g = g.astype(np.float64)
    miss = g < 0
    cols = []
    denom = 0.0
    m = 0
    for i in range(g.shape[0]):
        row = g[i]
        ok = ~miss[i]
        if not ok.any():
            continue
        p = row[ok].mean() / 2
        maf = min(p, 1 - p)
        if maf == 0 or maf < min_maf:
            continue
        z = np.where(ok, row - 2 * p, 0.0)  # mean imputation
        if method == "vanraden2":
            z = z / np.sqrt(2 * p * (1 - p))
        cols.append(z)
        denom += 2 * p * (1 - p)
        m += 1
    if not cols:
        return None
    z = np.array(cols).T  # samples x variants
    k = z @ z.T
    return k / (denom if method == "vanraden1" else m)


# ------------------------------------------------------------------------------ LD


def ref_r2(x, y):
    ok = (x >= 0) & (y >= 0)
    if ok.sum() < 2:
        return np.nan
    a, b = x[ok].astype(float), y[ok].astype(float)
    if a.std() == 0 or b.std() == 0:
        return np.nan
    return float(np.corrcoef(a, b)[0, 1] ** 2)


def ref_ld_r2(g, window):
    nv = g.shape[0]
    out = np.full((nv, window), np.nan)
    for i in range(nv):
        for d in range(1, window + 1):
            if i + d < nv:
                out[i, d - 1] = ref_r2(g[i], g[i + d])
    return out


def ref_ld_prune(g, window, step, threshold):
    nv = g.shape[0]
    keep = np.ones(nv, bool)
    for ws in range(0, nv, step):
        we = min(ws + window, nv)
        for i in range(ws, we):
            if not keep[i]:
                continue
            for j in range(i + 1, we):
                if keep[j]:
                    r2 = ref_r2(g[i], g[j])
                    if r2 > threshold:
                        keep[j] = False
    return keep


# ------------------------------------------------------------------------------ pedigree


@st.composite
def pedigrees(draw, max_n=25):
    n = draw(st.integers(1, max_n))
    sire, dam = [], []
    for i in range(n):
        s = draw(st.integers(-1, i - 1)) if i > 0 else -1
        d = draw(st.integers(-1, i - 1)) if i > 0 else -1
        sire.append(s)
        dam.append(d)
    return np.array(sire), np.array(dam)


def ref_a_matrix(sire, dam):
    """Recursive covariance definition, memoised, entry by entry."""
    n = len(sire)
    memo = {}

    def a(i, j):
        if i < 0 or j < 0:
            return 0.0
        if i < j:
            i, j = j, i
        key = (i, j)
        if key in memo:
            return memo[key]
        if i == j:
            val = 1.0 + 0.5 * a(sire[i], dam[i]) if sire[i] >= 0 and dam[i] >= 0 else 1.0
        else:  # i is the younger one
            val = 0.5 * (a(sire[i], j) + a(dam[i], j))
        memo[key] = val
        return val

    return np.array([[a(i, j) for j in range(n)] for i in range(n)])


# ------------------------------------------------------------------------------ mixed models


def ref_mme(y, x, k, delta):
    """Henderson's mixed-model equations on the observed rows (Z = incidence)."""
    obs = ~np.isnan(y)
    n = len(y)
    z = np.eye(n)[obs]
    xo = x[obs]
    kinv = np.linalg.inv(k)
    lhs = np.block([[xo.T @ xo, xo.T @ z], [z.T @ xo, z.T @ z + delta * kinv]])
    rhs = np.concatenate([xo.T @ y[obs], z.T @ y[obs]])
    sol = np.linalg.solve(lhs, rhs)
    c = np.linalg.inv(lhs)
    p = x.shape[1]
    pev_over_s2e = np.diag(c)[p:]
    rel = 1.0 - delta * pev_over_s2e / np.diag(k)
    return sol[:p], sol[p:], rel


def ref_reml(y, x, k):
    """Maximise the REML likelihood over (s2g, s2e) with a general-purpose optimiser."""
    n = x.shape[0]

    def nll(theta):
        s2g, s2e = np.exp(theta)
        v = s2g * k + s2e * np.eye(n)
        vi = np.linalg.inv(v)
        xvx = x.T @ vi @ x
        pm = vi - vi @ x @ np.linalg.solve(xvx, x.T @ vi)
        return 0.5 * (np.linalg.slogdet(v)[1] + np.linalg.slogdet(xvx)[1] + y @ pm @ y)

    v0 = np.var(y)
    best = None
    starts = ([np.log(v0 / 2)] * 2, [np.log(v0 / 10), np.log(v0)], [np.log(v0), np.log(v0 / 10)])
    for start in starts:
        r = optimize.minimize(
            nll,
            start,
            method="Nelder-Mead",
            options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000},
        )
        if best is None or r.fun < best.fun:
            best = r
    s2g, s2e = np.exp(best.x)
    return s2g, s2e


def ref_ols_scan(y, g, cov=None, transform=None):
    """Per-variant least squares with mean-imputed dosages; SciPy t distribution."""
    n = len(y)
    x0 = np.ones((n, 1)) if cov is None else np.column_stack([np.ones(n), cov])
    out = []
    for row in g:
        ok = row >= 0
        if not ok.any():
            out.append((np.nan, np.nan, np.nan))
            continue
        d = np.where(ok, row, row[ok].mean()).astype(float)
        xx = np.column_stack([x0, d])
        yy = y
        if transform is not None:
            xx, yy = transform @ xx, transform @ y
        if np.linalg.matrix_rank(xx) < xx.shape[1]:
            out.append((np.nan, np.nan, np.nan))
            continue
        beta, *_ = np.linalg.lstsq(xx, yy, rcond=None)
        res = yy - xx @ beta
        df = n - xx.shape[1]
        s2 = res @ res / df
        cov_b = s2 * np.linalg.inv(xx.T @ xx)
        se = np.sqrt(cov_b[-1, -1])
        t = beta[-1] / se
        out.append((beta[-1], se, 2 * sps.t.sf(abs(t), df)))
    return np.array(out)
