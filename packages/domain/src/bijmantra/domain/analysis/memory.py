"""How much memory an analysis job needs at its peak, and the budget it must fit (ADR 0338).

Workers are shared by every organization (ADR 0329) and run one job at a time; a job that
allocates more than the worker has is OOM-killed with the worker, so every organization's
analyses stop. The figures below are the analytics-worker's own dominant allocations for each
analysis (``analytics_worker/analyses.py``, the kernels of ``bijmantra.genomics``, the results
it encodes and sends), for ``n`` samples, ``v`` variants, ``p`` phenotyped samples and an LD
window ``w``; each analysis is the largest of its phases:

- the dosage matrix, ``v x n`` int8, for PCA, LD, GBLUP and GWAS (QC and GRM stream blocks
  of 16,384 variants, three alive at once);
- GRM (float32): ``K`` and the matmul's output while blocks arrive, then ``K`` beside its
  packed upper triangle, three copies of it on the way out: ``10n²`` besides the blocks;
- PCA, GBLUP (float64 GRM): ``eigh`` holds ``K``, LAPACK's copy, ``2n²`` of workspace and the
  eigenvectors (``40n²``), GBLUP's reliabilities ``K``, ``U``, ``U'K`` and a temporary:
  ``48n²``; with fewer phenotyped samples ``p``, ``8n²`` plus the phenotyped block's own;
- GWAS: the phenotyped columns copied (``v x p`` int8), ``40p²`` for the kinship's ``eigh``,
  then six float64 blocks of 4,096 variants beside ``U`` and the transform;
- LD: a chromosome's copy and bit planes (``1.375 v n``), the ``v x w`` r² array and its
  temporaries, then each r² as a Python float and as JSON text (~140 bytes each);
- per-variant results (QC, LD, GWAS): the variant's name, rows of Python objects and their
  JSON, held three times (encoded, in the gRPC request, serialized).

The constants were measured: the worker's own path (feed, kernel, encoding, gRPC request,
figures) at several shapes, peak resident memory against this estimate; the test
``services/analytics-worker/tests/test_memory_estimate.py`` keeps them honest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from bijmantra.domain.analysis.model import AnalysisType
from bijmantra.domain.analysis.results import DEFAULT_LD_WINDOW
from bijmantra.kernel import FieldError, Unprocessable

MIB = 1 << 20
# The default per-job budget (ADR 0338): half the 4 GiB limit the worker's chart gives a pod.
DEFAULT_JOB_MEMORY = 2048 * MIB

BLOCK = 16_384  # variants in a GRM block (bijmantra.genomics.grm.DEFAULT_CHUNK)
GWAS_BLOCK = 4_096  # variants in a GWAS test block (mixed.gwas's chunk_variants)
GWAS_BLOCKS = 6  # float64 blocks alive while one is tested (the last block's linger)
CHUNK = 4 * MIB  # one stored genotype chunk, decoded (adapters.postgres.genotypes.CHUNK_BYTES)
IN_FLIGHT = 3  # streamed blocks alive at once: one being filled, one computed, one queued
VARIANT_NAME = 200  # a variant's chrom, pos and id as Python objects
SAMPLE_ROW = 1_000  # a sample's result row (names, scores) and its JSON
# A result row per variant as Python objects, and as JSON text (bytes), measured.
QC_ROW, QC_JSON, QC_ARRAYS = 640, 230, 176
GWAS_ROW, GWAS_JSON, GWAS_ARRAYS = 380, 180, 80
LD_ROW, LD_JSON = 320, 100
LD_VALUE = 140  # one r²: 8 in the array, 40 as a Python float in a list, ~21 as JSON x3
COPIES = 3  # JSON text encoded, copied into the gRPC request, serialized


@dataclass(frozen=True, slots=True)
class JobShape:
    """What an analysis reads: ``samples`` columns (the chosen call sets), ``variants`` rows,
    and for GWAS the ``phenotyped`` samples it tests (None: every sample)."""

    samples: int
    variants: int
    phenotyped: int | None = None

    @property
    def tested(self) -> int:
        return self.samples if self.phenotyped is None else min(self.phenotyped, self.samples)


def _window(parameters: Mapping[str, Any]) -> int:
    window = parameters.get("window", DEFAULT_LD_WINDOW)
    return window if isinstance(window, int) and not isinstance(window, bool) else 1


def _qc(n: int, v: int, parameters: Mapping[str, Any]) -> int:
    blocks = IN_FLIGHT * min(BLOCK, v) * n
    return blocks + CHUNK + v * (VARIANT_NAME + QC_ARRAYS + QC_ROW + COPIES * QC_JSON)


def _grm(n: int, v: int, parameters: Mapping[str, Any]) -> int:
    blocks = IN_FLIGHT * 4 * min(BLOCK, v) * n + CHUNK
    return blocks + 10 * n * n


def _pca(n: int, v: int, parameters: Mapping[str, Any]) -> int:
    building = 16 * n * n + 8 * min(BLOCK, v) * n
    return v * n + max(building, 48 * n * n)


def _gblup(n: int, v: int, p: int, parameters: Mapping[str, Any]) -> int:
    building = 16 * n * n + 8 * min(BLOCK, v) * n
    # Every sample phenotyped: eigh works on K itself, then K, U, U'K and a copy; else eigh
    # of the phenotyped block beside K, then the unphenotyped columns.
    partly = 8 * n * n + max(40 * p * p, 16 * p * p + 32 * p * n)
    solving = 48 * n * n if p >= n else partly
    return v * n + max(building, solving)


def _ld(n: int, v: int, parameters: Mapping[str, Any]) -> int:
    w = _window(parameters)
    computing = 11 * v * n // 8 + 16 * v * w
    rows = v * (VARIANT_NAME + LD_ROW + COPIES * LD_JSON)
    return v * n + max(computing, LD_VALUE * v * w) + rows


def _gwas(n: int, v: int, p: int, parameters: Mapping[str, Any]) -> int:
    testing = GWAS_BLOCKS * 8 * min(GWAS_BLOCK, v) * p
    if parameters.get("kinship", True):
        kinship = max(16 * p * p + 8 * min(BLOCK, v) * p, 40 * p * p, 24 * p * p + testing)
    else:
        kinship = testing
    per_variant = v * (VARIANT_NAME + GWAS_ARRAYS + GWAS_ROW + COPIES * GWAS_JSON)
    return v * n + v * p + kinship + per_variant


_BY_SAMPLES_AND_VARIANTS: dict[AnalysisType, Callable[[int, int, Mapping[str, Any]], int]] = {
    AnalysisType.QC: _qc,
    AnalysisType.GRM: _grm,
    AnalysisType.PCA: _pca,
    AnalysisType.LD: _ld,
}


def working_memory(kind: AnalysisType, parameters: Mapping[str, Any], shape: JobShape) -> int:
    """Bytes the worker holds at the job's peak, beyond its own resident baseline."""
    n, v = max(shape.samples, 0), max(shape.variants, 0)
    if kind is AnalysisType.GWAS:
        peak = _gwas(n, v, max(shape.tested, 0), parameters)
    elif kind is AnalysisType.GBLUP:
        peak = _gblup(n, v, max(shape.tested, 0), parameters)
    else:
        peak = _BY_SAMPLES_AND_VARIANTS[kind](n, v, parameters)
    return peak + SAMPLE_ROW * n


def _largest(fits: Callable[[int], bool], high: int) -> int:
    """The largest ``x`` in ``[0, high]`` with ``fits(x)`` (``fits`` is monotone)."""
    low = 0
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _mib(size: int) -> str:
    return f"{size / MIB:,.0f} MiB" if size >= MIB else f"{size:,} bytes"


def memory_refusal(
    kind: AnalysisType, parameters: Mapping[str, Any], shape: JobShape, budget: int
) -> Unprocessable | None:
    """The 422 for a job whose peak exceeds ``budget`` bytes, naming both and what to reduce
    (the most samples, variants or LD window that fit); None when it fits."""
    need = working_memory(kind, parameters, shape)
    if need <= budget:
        return None

    def within(parameters: Mapping[str, Any], shape: JobShape) -> bool:
        return working_memory(kind, parameters, shape) <= budget

    hints = []
    samples = _largest(lambda x: within(parameters, replace(shape, samples=x)), shape.samples)
    if samples:
        hints.append(
            FieldError(
                "callSetDbIds", f"at most {samples:,} samples fit with {shape.variants:,} variants"
            )
        )
    variants = _largest(lambda x: within(parameters, replace(shape, variants=x)), shape.variants)
    if variants:
        hints.append(
            FieldError(
                "variantSetDbId",
                f"at most {variants:,} variants fit with {shape.samples:,} samples "
                "(extract fewer variants into a new set)",
            )
        )
    if kind is AnalysisType.LD:
        window = _largest(lambda x: within({**parameters, "window": x}, shape), _window(parameters))
        if window:
            hints.append(FieldError("parameters.window", f"a window of at most {window} fits"))
    message = (
        f"This {kind.value} analysis ({shape.samples:,} samples x {shape.variants:,} variants) "
        f"needs about {_mib(need)} of working memory; an analysis may use at most "
        f"{_mib(budget)}. "
        + (
            "Reduce: " + "; or ".join(f"{h.message} ({h.location})" for h in hints)
            if hints
            else "No smaller request of this kind fits."
        )
    )
    return Unprocessable(message, hints)
