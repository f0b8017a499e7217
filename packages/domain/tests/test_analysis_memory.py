"""The working memory an analysis job needs, and the refusal of one over its budget (ADR 0338)."""

from __future__ import annotations

import pytest
from bijmantra.domain.analysis import (
    DEFAULT_JOB_MEMORY,
    AnalysisType,
    JobShape,
    memory_refusal,
    working_memory,
)
from bijmantra.domain.analysis.memory import MIB
from hypothesis import given
from hypothesis import strategies as st

KINDS = st.sampled_from(list(AnalysisType))
SAMPLES = st.integers(0, 200_000)
VARIANTS = st.integers(0, 6_000_000)
PARAMETERS = st.fixed_dictionaries(
    {},
    optional={
        "window": st.integers(1, 1000),
        "kinship": st.booleans(),
        "h2": st.floats(0.01, 0.99),
        "k": st.integers(1, 50),
    },
)


@given(KINDS, PARAMETERS, SAMPLES, SAMPLES, VARIANTS, st.none() | st.integers(0, 200_000))
def test_more_samples_never_need_less_memory(
    kind: AnalysisType, parameters: dict[str, object], a: int, b: int, v: int, p: int | None
) -> None:
    low, high = sorted((a, b))
    need = working_memory(kind, parameters, JobShape(high, v, p))
    assert working_memory(kind, parameters, JobShape(low, v, p)) <= need


@given(KINDS, PARAMETERS, SAMPLES, VARIANTS, VARIANTS, st.none() | st.integers(0, 200_000))
def test_more_variants_never_need_less_memory(
    kind: AnalysisType, parameters: dict[str, object], n: int, a: int, b: int, p: int | None
) -> None:
    low, high = sorted((a, b))
    need = working_memory(kind, parameters, JobShape(n, high, p))
    assert working_memory(kind, parameters, JobShape(n, low, p)) <= need


@given(SAMPLES, VARIANTS, st.integers(1, 1000), st.integers(1, 1000))
def test_a_wider_ld_window_never_needs_less_memory(n: int, v: int, a: int, b: int) -> None:
    low, high = sorted((a, b))
    shape = JobShape(n, v)
    assert working_memory(AnalysisType.LD, {"window": low}, shape) <= working_memory(
        AnalysisType.LD, {"window": high}, shape
    )


@given(KINDS, PARAMETERS, st.integers(1, 200_000), st.integers(1, 6_000_000))
def test_a_refusal_names_limits_that_really_fit(
    kind: AnalysisType, parameters: dict[str, object], n: int, v: int
) -> None:
    budget = 64 * MIB
    shape = JobShape(n, v, n // 2)
    refusal = memory_refusal(kind, parameters, shape, budget)
    if refusal is None:
        assert working_memory(kind, parameters, shape) <= budget
        return
    assert "at most 64 MiB" in refusal.message
    for hint in refusal.details:
        assert hint.location in ("callSetDbIds", "variantSetDbId", "parameters.window")
        if hint.location == "callSetDbIds":
            fits = int(hint.message.split()[2].replace(",", ""))
            assert working_memory(kind, parameters, JobShape(fits, v, n // 2)) <= budget
            assert working_memory(kind, parameters, JobShape(fits + 1, v, n // 2)) > budget


def test_a_grm_over_a_hundred_thousand_samples_is_refused_naming_what_fits() -> None:
    """The GRM of 100,000 samples is a 40 GB float32 matrix: the worker would hold ~100 GB."""
    shape = JobShape(100_000, 50_000)
    need = working_memory(AnalysisType.GRM, {}, shape)
    assert need > 10 * 100_000**2
    refusal = memory_refusal(AnalysisType.GRM, {}, shape, DEFAULT_JOB_MEMORY)
    assert refusal is not None
    assert refusal.code == "unprocessable"  # 422 at the platform API
    assert refusal.message.startswith(
        "This grm analysis (100,000 samples x 50,000 variants) needs about 114,217 MiB"
    )
    assert "an analysis may use at most 2,048 MiB" in refusal.message
    (samples,) = [h for h in refusal.details if h.location == "callSetDbIds"]
    assert samples.message == "at most 7,781 samples fit with 50,000 variants"


def test_an_ld_window_is_named_when_a_smaller_one_fits() -> None:
    shape = JobShape(500, 10_000)
    refusal = memory_refusal(AnalysisType.LD, {"window": 1000}, shape, 64 * MIB)
    assert refusal is not None
    assert [h.location for h in refusal.details] == ["variantSetDbId", "parameters.window"]
    assert refusal.details[1].message == "a window of at most 38 fits"
    assert working_memory(AnalysisType.LD, {"window": 38}, shape) <= 64 * MIB
    assert working_memory(AnalysisType.LD, {"window": 39}, shape) > 64 * MIB


@pytest.mark.parametrize(
    ("kind", "shape", "mib"),
    [
        (AnalysisType.QC, JobShape(1_000, 100_000), 215),
        (AnalysisType.GRM, JobShape(5_000, 100_000), 1_185),
        (AnalysisType.PCA, JobShape(5_000, 50_000), 1_388),
        (AnalysisType.GBLUP, JobShape(5_000, 50_000, 5_000), 1_388),
        (AnalysisType.GWAS, JobShape(4_000, 50_000, 4_000), 1_559),
        (AnalysisType.LD, JobShape(1_000, 100_000), 842),
    ],
)
def test_typical_jobs_fit_the_default_budget(kind: AnalysisType, shape: JobShape, mib: int) -> None:
    assert round(working_memory(kind, {}, shape) / MIB) == mib
    assert memory_refusal(kind, {}, shape, DEFAULT_JOB_MEMORY) is None


def test_gwas_counts_the_phenotyped_samples_it_tests() -> None:
    every = working_memory(AnalysisType.GWAS, {}, JobShape(20_000, 10_000, 20_000))
    some = working_memory(AnalysisType.GWAS, {}, JobShape(20_000, 10_000, 2_000))
    assert some < every / 10
