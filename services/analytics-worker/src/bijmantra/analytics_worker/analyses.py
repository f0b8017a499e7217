"""The six analyses: kernels from ``bijmantra.genomics`` plus tables and pictures people use.

Pure functions of a ``JobInput`` (the job's dosage matrix and metadata) returning an
``Outcome``; they run in a worker thread. A ``ValueError`` here (from a kernel, or a
parameter that only the data can refute, e.g. ``k`` larger than the number of samples)
fails the job with that message; anything else is a bug and is retried.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from bijmantra.analytics_worker import plots
from bijmantra.analytics_worker.chunk_decoding import (
    BlockBuffers,
    BlockFeed,
    CentringFeed,
    MatrixFeed,
)
from bijmantra.genomics import gblup, gwas, ld_r2, pca, qc_stats, reml_gblup
from bijmantra.genomics.grm import DEFAULT_CHUNK, GrmCentring, grm_counted, grm_from_blocks
from bijmantra.genomics.symmetric import pack_symmetric_array
from numpy.typing import NDArray

NPY = "application/x-npy"
CHI2_1_MEDIAN = 0.454936  # median of chi-square with 1 df, for the genomic inflation factor


@dataclass(frozen=True)
class JobInput:
    """``dosages`` is the (variants, samples) matrix, or for the ``STREAMING`` analyses an
    iterable of variant chunks still arriving; variant metadata is complete once the
    kernel has consumed the last chunk."""

    dosages: Any
    chrom: list[str]
    pos: list[int]
    variant_db_ids: list[str]
    samples: list[dict[str, Any]]  # callSetDbId, sampleName, germplasmDbId, label
    parameters: dict[str, Any]
    phenotypes: dict[str, float]  # callSetDbId -> value
    n_variants: int = 0

    @property
    def streamed(self) -> bool:
        return not isinstance(self.dosages, np.ndarray)


@dataclass
class Outcome:
    """``figures`` are drawn after the job is completed with the rest (ADR 0070)."""

    summary: dict[str, Any]
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # (name, media type, data, whether data is a symmetric matrix packed as its upper triangle)
    artifacts: list[tuple[str, str, bytes, bool]] = field(default_factory=list)
    figures: list[plots.Figure] = field(default_factory=list)


def _floats(values: Any) -> list[float | None]:
    """JSON-ready floats: NaN and infinities become null."""
    array = np.asarray(values, dtype=np.float64)
    return [None if not np.isfinite(v) else float(v) for v in array.tolist()]


def _npy(matrix: Any) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, matrix, allow_pickle=False)
    return buffer.getvalue()


def _matrix_artifact(name: str, matrix: Any) -> tuple[str, str, bytes, bool]:
    """A matrix as ``.npy``; a bitwise symmetric one (a GRM: SYRK) packed as its upper
    triangle here, straight from the array, so half the bytes travel to domain-api, which
    stores them as they are."""
    packed = pack_symmetric_array(matrix)
    return (name, NPY, _npy(matrix), False) if packed is None else (name, NPY, packed, True)


def _sample_rows(job: JobInput, **columns: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for i, sample in enumerate(job.samples):
        row = {"callSetDbId": sample["callSetDbId"], "sampleName": sample["sampleName"]}
        row.update({name: values[i] for name, values in columns.items()})
        rows.append(row)
    return rows


def _variant_rows(job: JobInput, index: Any = None, **columns: list[Any]) -> list[dict[str, Any]]:
    picked = range(len(job.chrom)) if index is None else np.asarray(index).tolist()
    rows = []
    for k, i in enumerate(picked):
        row = {"variantDbId": job.variant_db_ids[i], "chrom": job.chrom[i], "pos": int(job.pos[i])}
        row.update({name: values[k] for name, values in columns.items()})
        rows.append(row)
    return rows


def run_qc(job: JobInput) -> Outcome:
    stats = qc_stats(job.dosages, hwe=job.parameters.get("hwe", True))
    maf = stats.maf
    outcome = Outcome(
        summary={
            "nVariants": job.n_variants,
            "nSamples": len(job.samples),
            "meanCallRate": float(np.nanmean(stats.call_rate)),
            "meanMaf": float(np.nanmean(maf)),
            "monomorphic": int(np.sum(maf == 0)),
            "hweP<1e-6": int(np.sum(stats.hwe_p_exact < 1e-6)),
        },
        tables={
            "variants": _variant_rows(
                job,
                callRate=_floats(stats.call_rate),
                altFreq=_floats(stats.alt_freq),
                maf=_floats(maf),
                hetObs=_floats(stats.het_obs),
                hetExp=_floats(stats.het_exp),
                hweP=_floats(stats.hwe_p_exact),
            ),
            "samples": _sample_rows(
                job, callRate=_floats(stats.sample_call_rate), hetObs=_floats(stats.sample_het_obs)
            ),
        },
    )
    histograms = (
        (maf, "maf", "Minor allele frequency", "MAF"),
        (stats.call_rate, "variant-call-rate", "Call rate per variant", "call rate"),
        (stats.sample_call_rate, "sample-call-rate", "Call rate per sample", "call rate"),
    )
    for values, stem, title, xlabel in histograms:
        outcome.figures.append(
            plots.later(plots.histogram, values, stem=stem, title=title, xlabel=xlabel)
        )
    return outcome


def _grm_options(parameters: dict[str, Any]) -> dict[str, Any]:
    return {
        "method": parameters.get("method", "vanraden1"),
        "min_maf": parameters.get("minMaf", 0.0),
    }


def _relationships(
    job: JobInput, dosages: Any = None, dtype: Any = np.float32
) -> tuple[NDArray[Any], int]:
    """The GRM and the number of variants it was built on: those that passed the filters
    (called, polymorphic, ``minMaf``), not the set's count (ADR 0360)."""
    if dosages is None and isinstance(job.dosages, CentringFeed):
        centring = job.dosages.centring
        return grm_from_blocks(job.dosages, method=centring.method), centring.variants_used
    return grm_counted(
        job.dosages if dosages is None else dosages, dtype=dtype, **_grm_options(job.parameters)
    )


def run_grm(job: JobInput) -> Outcome:
    k, used = _relationships(job)
    n = k.shape[0]
    off = (k.sum(dtype=np.float64) - np.trace(k, dtype=np.float64)) / max(n * (n - 1), 1)
    outcome = Outcome(
        summary={
            "nSamples": n,
            "nVariants": used,
            "method": job.parameters.get("method", "vanraden1"),
            "meanDiagonal": float(np.mean(np.diag(k))),
            "meanOffDiagonal": float(off),
            "dtype": str(k.dtype),
        },
        tables={"samples": _sample_rows(job, index=list(range(n)))},
        artifacts=[_matrix_artifact("grm.npy", k)],
    )
    outcome.figures.append(
        plots.later(plots.heatmap, k, stem="grm", title="Genomic relationship matrix")
    )
    return outcome


def run_pca(job: JobInput) -> Outcome:
    n = job.dosages.shape[1]
    k = int(job.parameters.get("k", min(10, n)))
    if k > n:
        raise ValueError(f"k = {k} exceeds the number of samples ({n})")
    used: int | None
    if "minMaf" in job.parameters:
        kinship, used = _relationships(job, dtype=np.float64)
        result = pca(grm=kinship, k=k)
    else:
        result = pca(job.dosages, k=k)
        used = result.variants_used
    scores = {f"pc{i + 1}": _floats(result.scores[:, i]) for i in range(k)}
    labels = [s.get("label") for s in job.samples]
    outcome = Outcome(
        summary={
            "k": k,
            "nVariants": used,
            "eigenvalues": _floats(result.eigenvalues),
            "explainedVariance": _floats(result.explained_variance),
            "colorBy": job.parameters.get("colorBy"),
        },
        tables={"scores": _sample_rows(job, label=labels, **scores)},
    )
    x = result.scores[:, 0]
    y = result.scores[:, 1] if k > 1 else np.zeros(n)
    explained = result.explained_variance
    outcome.figures.append(
        plots.later(
            plots.scatter,
            x,
            y,
            labels if job.parameters.get("colorBy") else [],
            stem="pca",
            title="Principal components",
            legend=str(job.parameters.get("colorBy", "")),
            xlabel=f"PC1 ({100 * explained[0]:.1f}%)",
            ylabel=f"PC2 ({100 * explained[1]:.1f}%)" if k > 1 else "",
        )
    )
    return outcome


def ld_by_chromosome(dosages: Any, chrom: list[str], window: int) -> NDArray[np.float64]:
    """r² to the next ``window`` variants of the same chromosome (NaN beyond it)."""
    names = np.asarray(chrom)
    out = np.full((dosages.shape[0], window), np.nan)
    for name in dict.fromkeys(chrom):
        rows = np.flatnonzero(names == name)
        out[rows] = ld_r2(np.ascontiguousarray(dosages[rows]), window=window)
    return out


def run_ld(job: JobInput) -> Outcome:
    window = int(job.parameters.get("window", 50))
    r2 = ld_by_chromosome(job.dosages, job.chrom, window)
    with np.errstate(invalid="ignore"):
        mean_by_lag = np.nanmean(np.where(np.isnan(r2), np.nan, r2), axis=0) if r2.size else r2
    outcome = Outcome(
        summary={
            "window": window,
            "meanR2ByDistance": _floats(mean_by_lag),
            "meanR2": float(np.nanmean(r2)),
        },
        tables={"r2": _variant_rows(job, r2=[_floats(row) for row in r2])},
    )
    outcome.figures.append(
        plots.later(plots.decay, np.arange(1, window + 1), mean_by_lag, stem="ld-decay")
    )
    return outcome


def _phenotype_vector(job: JobInput) -> NDArray[np.float64]:
    return np.array(
        [job.phenotypes.get(s["callSetDbId"], np.nan) for s in job.samples], dtype=np.float64
    )


def run_gblup(job: JobInput) -> Outcome:
    y = _phenotype_vector(job)
    k, used = _relationships(job, dtype=np.float64)
    h2 = job.parameters.get("h2")
    result = reml_gblup(y, k) if h2 is None else gblup(y, k, h2)
    return Outcome(
        summary={
            "method": "REML" if h2 is None else "fixed h2",
            "h2": float(result.h2),
            "sigma2G": float(result.sigma2_g),
            "sigma2E": float(result.sigma2_e),
            "beta": _floats(result.beta),
            "logLikelihood": float(result.log_likelihood),
            "nPhenotyped": int(np.sum(~np.isnan(y))),
            "nVariants": used,
        },
        tables={
            "breedingValues": _sample_rows(
                job,
                germplasmDbId=[s["germplasmDbId"] for s in job.samples],
                phenotype=_floats(y),
                gebv=_floats(result.blup),
                reliability=_floats(result.reliability),
            )
        },
    )


def run_gwas(job: JobInput) -> Outcome:
    y_all = _phenotype_vector(job)
    observed = np.flatnonzero(~np.isnan(y_all))
    g = np.ascontiguousarray(job.dosages[:, observed])
    kinship, kinship_variants = (
        _relationships(job, g, dtype=np.float64)
        if job.parameters.get("kinship", True)
        else (None, None)
    )
    result = gwas(y_all[observed], g, K=kinship)
    p = result.p_value
    chi2 = np.square(result.t[np.isfinite(result.t)])
    outcome = Outcome(
        summary={
            "nSamples": int(observed.size),
            # Tested: with variation among the phenotyped samples; the rest have no p-value.
            "nVariants": result.n_tested,
            "model": "EMMAX (GRM kinship)" if kinship is not None else "OLS",
            # The kinship's own count: polymorphic among the phenotyped samples (None for OLS).
            "kinshipVariants": kinship_variants,
            "minP": float(np.nanmin(p)),
            "lambdaGC": float(np.median(chi2) / CHI2_1_MEDIAN) if chi2.size else None,
            "bonferroni5": 0.05 / max(result.n_tested, 1),
        },
        tables={
            "associations": _variant_rows(
                job, effect=_floats(result.effect), se=_floats(result.se), pValue=_floats(p)
            )
        },
    )
    outcome.figures.append(plots.later(plots.manhattan, job.chrom, job.pos, p, stem="manhattan"))
    outcome.figures.append(plots.later(plots.qq, p, stem="qq"))
    return outcome


# Analyses whose kernels consume chunks as they arrive (see ``feed``).
STREAMING = frozenset({"qc", "grm"})


def feed_for(
    analysis: str,
    n_variants: int,
    n_samples: int,
    parameters: dict[str, Any],
    buffers: BlockBuffers | None = None,
) -> BlockFeed | CentringFeed | MatrixFeed:
    """Where the job's chunks go: a GRM's are centred as they arrive (the kernel's blocks,
    bitwise, in ``buffers`` kept from earlier jobs), QC's decoded into blocks, the rest into
    the whole matrix. Raises ``ValueError`` for GRM parameters the kernel refuses, before
    anything is read."""
    if analysis == "grm":
        in_flight = 2
        spares = None
        if buffers is not None:
            rows = max(1, min(DEFAULT_CHUNK, n_variants))
            spares = buffers.spares(rows, n_samples, np.dtype(np.float32), in_flight)
        options = _grm_options(parameters)
        centring = GrmCentring(**options, n_variants=n_variants, threads=1, spares=spares)
        return CentringFeed(centring, n_samples, in_flight)
    if analysis in STREAMING:
        return BlockFeed(n_variants, n_samples)
    return MatrixFeed(n_variants, n_samples)


# Analyses whose results name variants: only these receive chrom, pos and variant ids.
PER_VARIANT = frozenset({"qc", "ld", "gwas"})
ANALYSES: dict[str, Callable[[JobInput], Outcome]] = {
    "qc": run_qc,
    "grm": run_grm,
    "pca": run_pca,
    "ld": run_ld,
    "gblup": run_gblup,
    "gwas": run_gwas,
}
