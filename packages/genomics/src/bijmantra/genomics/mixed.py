"""GBLUP with REML variance components (EMMA-style) and GWAS (OLS or EMMAX-style LMM).

Model: y = X b + u + e, u ~ N(0, s2g K), e ~ N(0, s2e I), delta = s2e / s2g. One symmetric
eigendecomposition K = U diag(s) U' turns every REML evaluation into O(n p^2) work on rotated
data (Kang et al. 2008; Lippert et al. 2011), so the 1-D search over log(delta) is cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from bijmantra.genomics import _kernels
from bijmantra.genomics import _validate as v
from numpy.typing import NDArray

F64 = NDArray[np.float64]

_LOG_DELTA_RANGE = (-10.0, 10.0)
_GRID = 101


def _design(x: Any, n: int, name: str = "X") -> F64:
    """Fixed-effect design: an intercept when ``x`` is None; checked for full column rank."""
    if x is None:
        return np.ones((n, 1))
    m = v.matrix(x, name, rows=n)
    if m.shape[1] == 0:
        return np.ones((n, 1))
    return m


def _check_rank(x: F64, name: str) -> None:
    if x.shape[0] <= x.shape[1]:
        raise ValueError(
            f"{name} has {x.shape[1]} columns but only {x.shape[0]} observations: need more "
            "observations than fixed effects"
        )
    if np.linalg.matrix_rank(x) < x.shape[1]:
        raise ValueError(f"{name} is not of full column rank (collinear fixed effects)")


def _reml_curve(log_delta: F64, s: F64, yr: F64, xr: F64) -> F64:
    """Profiled REML log-likelihood (up to a constant) at each log(delta)."""
    n, p = xr.shape
    delta = np.exp(log_delta)
    w = 1.0 / (s[:, None] + delta[None, :])  # (n, g)
    xtwx = np.einsum("ik,ig,il->gkl", xr, w, xr)
    xtwy = np.einsum("ik,ig,i->gk", xr, w, yr)
    ytwy = w.T @ (yr * yr)
    beta = np.linalg.solve(xtwx, xtwy[..., None])[..., 0]
    q = ytwy - np.einsum("gk,gk->g", beta, xtwy)
    sign, logdet = np.linalg.slogdet(xtwx)
    nu = n - p
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = -0.5 * (nu * np.log(q / nu) + np.log(s[:, None] + delta[None, :]).sum(0) + logdet)
    return np.where((sign > 0) & (q > 0), ll, -np.inf)


def _reml_delta(s: F64, yr: F64, xr: F64) -> float:
    """Maximise the REML likelihood over log(delta): grid, then golden-section refinement."""
    lo, hi = _LOG_DELTA_RANGE
    grid = np.linspace(lo, hi, _GRID)
    ll = _reml_curve(grid, s, yr, xr)
    if not np.isfinite(ll).any():
        raise ValueError("REML likelihood is undefined: y has no variation beyond X")
    i = int(np.argmax(ll))
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, _GRID - 1)]
    gr = (math.sqrt(5.0) - 1.0) / 2.0
    c, d = b - gr * (b - a), a + gr * (b - a)
    fc, fd = _reml_curve(np.array([c, d]), s, yr, xr)
    while b - a > 1e-9:
        if fc > fd:
            b, d, fd = d, c, fc
            c = b - gr * (b - a)
            fc = _reml_curve(np.array([c]), s, yr, xr)[0]
        else:
            a, c, fc = c, d, fd
            d = a + gr * (b - a)
            fd = _reml_curve(np.array([d]), s, yr, xr)[0]
    best = 0.5 * (a + b)
    # keep the grid point if the refinement did not improve on it (boundary maxima)
    if _reml_curve(np.array([best]), s, yr, xr)[0] < ll[i]:
        best = grid[i]
    return float(math.exp(best))


@dataclass(frozen=True, slots=True)
class GBLUPResult:
    """Variance components, fixed effects and genomic BLUPs.

    ``blup`` and ``reliability`` cover every row of K, including individuals whose phenotype is
    NaN (predicted through their relationships). Reliability is 1 - PEV / (s2g K_ii), the
    squared correlation between true and predicted value. ``h2 = s2g / (s2g + s2e)`` assumes
    K is scaled so its mean diagonal is about 1, as a VanRaden GRM or A is.
    """

    sigma2_g: float
    sigma2_e: float
    h2: float
    delta: float
    beta: F64
    beta_se: F64
    blup: F64
    reliability: F64
    log_likelihood: float


def _prepare(y: Any, k: Any, x: Any) -> tuple[F64, F64, F64, NDArray[np.intp]]:
    yv = v.vector(y, "y", allow_nan=True)
    n = yv.shape[0]
    if n == 0:
        raise ValueError("y is empty")
    kk = v.kinship(k, "K", n=n)
    xx = _design(x, n)
    obs = np.flatnonzero(~np.isnan(yv))
    _check_rank(xx[obs], "X (rows with a phenotype)")
    yo = yv[obs]
    fit, *_ = np.linalg.lstsq(xx[obs], yo, rcond=None)
    if np.linalg.norm(yo - xx[obs] @ fit) <= 1e-10 * (1.0 + np.linalg.norm(yo)):
        raise ValueError("y has no variation beyond X: variance components are undefined")
    return yv, kk, xx, obs


def _solve(yv: F64, kk: F64, xx: F64, obs: NDArray[np.intp], h2: float | None) -> GBLUPResult:
    """Fit on the observed rows; delta from REML when ``h2`` is None."""
    n = kk.shape[0]
    full = obs.size == n
    ko = kk if full else kk[np.ix_(obs, obs)]
    s, u = np.linalg.eigh(ko)
    s = np.clip(s, 0.0, None)
    yr = u.T @ yv[obs]
    xr = u.T @ xx[obs]
    delta = _reml_delta(s, yr, xr) if h2 is None else (1.0 - h2) / h2
    w = 1.0 / (s + delta)
    xtwx = (xr * w[:, None]).T @ xr
    xtwy = (xr * w[:, None]).T @ yr
    beta = np.linalg.solve(xtwx, xtwy)
    rr = yr - xr @ beta
    n_obs, p = xr.shape
    q = float(rr @ (w * rr))
    sigma2_g = q / (n_obs - p)
    ll = float(_reml_curve(np.array([math.log(delta)]), s, yr, xr)[0])
    c_inv = np.linalg.inv(xtwx)
    beta_se = np.sqrt(np.clip(np.diag(c_inv) * sigma2_g, 0.0, None))
    alpha = u @ (w * rr)  # H^-1 (y - Xb) on the observed rows
    blup = kk @ alpha if full else kk[:, obs] @ alpha
    # Reliability: k_i' P k_i / K_ii with P = H^-1 - H^-1 X C^-1 X' H^-1, in rotated space.
    # kr = U' K[obs, :]; for phenotyped columns U' K_oo = diag(s) U', so only the columns of
    # unphenotyped individuals need a matrix product.
    kr = np.empty((obs.size, n))
    kr[:, obs] = s[:, None] * u.T
    if not full:
        miss = np.setdiff1d(np.arange(n), obs)
        kr[:, miss] = u.T @ kk[np.ix_(obs, miss)]
    wk = w[:, None] * kr
    quad = np.einsum("ij,ij->j", kr, wk)
    bx = xr.T @ wk  # (p, n)
    quad -= np.einsum("kj,kl,lj->j", bx, c_inv, bx)
    diag = np.diag(kk)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(diag > 0, quad / diag, np.nan)
    return GBLUPResult(
        sigma2_g=sigma2_g,
        sigma2_e=delta * sigma2_g,
        h2=1.0 / (1.0 + delta),
        delta=delta,
        beta=beta,
        beta_se=beta_se,
        blup=blup,
        reliability=np.clip(rel, 0.0, 1.0),
        log_likelihood=ll,
    )


def reml_gblup(y: Any, K: Any, X: Any = None) -> GBLUPResult:
    """REML variance components and GBLUP from one eigendecomposition (EMMA-style).

    ``y`` (n,) may hold NaN for individuals without a phenotype; ``K`` (n, n) is a relationship
    matrix (GRM or A); ``X`` (n, p) the fixed-effect design, an intercept by default (rows of
    unphenotyped individuals are ignored). The REML likelihood is maximised over
    log(delta) in [-10, 10]; ``log_likelihood`` omits constants.
    """
    yv, kk, xx, obs = _prepare(y, K, X)
    return _solve(yv, kk, xx, obs, None)


def gblup(y: Any, K: Any, h2: float, X: Any = None) -> GBLUPResult:
    """GBLUP for a known heritability (delta = (1 - h2) / h2); see :func:`reml_gblup`."""
    try:
        h = float(h2)
    except (TypeError, ValueError):
        raise ValueError(f"h2 must be a number, got {h2!r}") from None
    if not (0.0 < h < 1.0):
        raise ValueError(f"h2 must be in (0, 1), got {h2!r}")
    yv, kk, xx, obs = _prepare(y, K, X)
    return _solve(yv, kk, xx, obs, h)


@dataclass(frozen=True, slots=True)
class GWASResult:
    """Per-variant allele-substitution effect, its standard error, t statistic and p-value
    (NaN for variants without variation). ``delta``/``h2`` are the null-model REML values when
    a kinship matrix was used, else NaN. ``n_tested``: the variants tested, i.e. those with
    variation among the samples after the covariates (the rest have NaN statistics)."""

    effect: F64
    se: F64
    t: F64
    p_value: F64
    df: int
    delta: float
    h2: float
    n_tested: int = 0


def gwas(
    y: Any,
    g: Any,
    *,
    K: Any = None,
    covariates: Any = None,
    chunk_variants: int = 4096,
) -> GWASResult:
    """Single-variant association scan.

    Without ``K``: ordinary least squares y ~ intercept + covariates + dosage. With ``K``: the
    variance ratio is estimated once by REML on the null model and every variant is tested by
    generalised least squares with that ratio fixed (EMMAX, Kang et al. 2010). Missing
    genotypes are mean-imputed (as in :func:`grm`). ``g`` may be an iterable of variant chunks.
    An intercept is added unless a covariate column is already constant.
    """
    yv = v.vector(y, "y")
    n = yv.shape[0]
    if covariates is None:
        x = np.ones((n, 1))
    else:
        c = v.matrix(covariates, "covariates", rows=n)
        const = np.all(c == c[:1], axis=0) if c.shape[1] else np.zeros(0, bool)
        x = c if const.any() else np.hstack([np.ones((n, 1)), c])
    _check_rank(x, "covariates (with intercept)")
    df = n - x.shape[1] - 1
    if df < 1:
        raise ValueError(
            f"{n} samples leave no residual degrees of freedom for {x.shape[1]} "
            "covariates plus the variant"
        )
    delta = math.nan
    transform: F64 | None = None
    if K is not None:
        kk = v.kinship(K, "K", n=n)
        s, u = np.linalg.eigh(kk)
        s = np.clip(s, 0.0, None)
        yr, xr = u.T @ yv, u.T @ x
        delta = _reml_delta(s, yr, xr)
        transform = (u / np.sqrt(s + delta)[None, :]).T  # H^-1/2 in rotated coordinates
        yt, xt = transform @ yv, transform @ x
    else:
        yt, xt = yv, x
    q, _ = np.linalg.qr(xt)
    yres = yt - q @ (q.T @ yt)
    yy = float(yres @ yres)
    if not math.sqrt(yy) > 1e-10 * float(np.linalg.norm(yt)):
        # A constant y leaves only rounding noise here; its t statistics look like real ones.
        raise ValueError("y has no variation beyond the covariates: nothing to associate")
    effects, ses, ts = [], [], []
    n_seen = n_tested = 0
    for z, _het, _m in _center_chunks_all(g, chunk_variants):
        if z.shape[1] != n:
            raise ValueError(f"g has {z.shape[1]} samples but y has {n}")
        zt = z @ transform.T if transform is not None else z
        zr = zt - (zt @ q) @ q.T
        ssx = np.einsum("ij,ij->i", zr, zr)
        sxy = zr @ yres
        with np.errstate(divide="ignore", invalid="ignore"):
            ok = ssx > 1e-10 * n
            b = np.where(ok, sxy / ssx, np.nan)
            rss = np.clip(yy - b * sxy, 0.0, None)
            se = np.sqrt(rss / df / ssx)
            se = np.where(ok, se, np.nan)
            t = b / se
        effects.append(b)
        ses.append(se)
        ts.append(t)
        n_seen += z.shape[0]
        n_tested += int(np.count_nonzero(ok))
    eff = np.concatenate(effects)
    se_all = np.concatenate(ses)
    t_all = np.ascontiguousarray(np.concatenate(ts))
    p = np.empty_like(t_all)
    _kernels.t_sf2_vec(t_all, float(df), p)
    p[np.isnan(t_all)] = np.nan
    return GWASResult(
        effect=eff,
        se=se_all,
        t=t_all,
        p_value=p,
        df=df,
        delta=delta,
        h2=1.0 / (1.0 + delta) if not math.isnan(delta) else math.nan,
        n_tested=n_tested,
    )


def _center_chunks_all(g: Any, chunk_variants: int) -> Any:
    """Mean-imputed, centred float64 dosage blocks keeping every variant (monomorphic ones as
    zero rows, so results stay aligned with the input)."""
    if int(chunk_variants) < 1:
        raise ValueError(f"chunk_variants must be positive, got {chunk_variants}")
    for k, c in enumerate(v.chunks(g)):
        for start in range(0, c.shape[0], int(chunk_variants)):
            sub = c[start : start + int(chunk_variants)]
            nv = sub.shape[0]
            sums = np.empty(nv, dtype=np.int64)
            called = np.empty(nv, dtype=np.int64)
            bad = _kernels.row_sums(sub, sums, called)
            v.raise_invalid(bad, "g" if isinstance(g, np.ndarray) else f"g[chunk {k}]")
            with np.errstate(invalid="ignore", divide="ignore"):
                center = np.where(called > 0, sums / np.maximum(called, 1), 0.0)
            z = np.empty(sub.shape, dtype=np.float64)
            _kernels.center_scale(sub, np.arange(nv, dtype=np.int64), center, np.ones(nv), z)
            yield z, 0.0, nv


__all__ = ["GBLUPResult", "GWASResult", "gblup", "gwas", "reml_gblup"]
