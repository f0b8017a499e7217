"""What a client may write as a genotype call (PUT /calls)."""

from __future__ import annotations

import pytest
from bijmantra.domain.genotyping.calls import (
    Genotype,
    check_alleles,
    format_value,
    genotype_of,
    parse_genotype,
)
from bijmantra.kernel import ValidationFailed
from hypothesis import given
from hypothesis import strategies as st


@given(
    st.lists(st.integers(-1, 126), min_size=1, max_size=8),
    st.booleans(),
)
def test_a_genotype_reads_back_from_its_own_text(alleles: list[int], phased: bool) -> None:
    genotype = Genotype(tuple(alleles), phased)
    parsed = parse_genotype(genotype.text, "x")
    assert parsed.alleles == genotype.alleles
    assert parsed.phased == (phased and len(alleles) > 1)


@pytest.mark.parametrize(
    "text", ["0/1|1", "", "0/", "a/b", "0/-1", "0/127", "/".join("0" * 9), "01/1", " 0/1"]
)
def test_texts_that_are_not_a_storable_call_are_refused(text: str) -> None:
    with pytest.raises(ValidationFailed):
        parse_genotype(text, "[0].genotypeValue")


def test_values_must_be_texts_of_alleles() -> None:
    assert genotype_of([".", "2"], False, "x").alleles == (-1, 2)
    with pytest.raises(ValidationFailed):
        genotype_of([0, 1], False, "x")  # numbers, as a careless client sends them


def test_an_allele_beyond_the_variants_alt_alleles_is_refused() -> None:
    check_alleles(parse_genotype("0/2", "x"), 2, "x")
    with pytest.raises(ValidationFailed, match="Invalid call"):
        check_alleles(parse_genotype("0/2", "x"), 1, "x")


@pytest.mark.parametrize("raw", ["x", "nan", "inf", "-1", True, None, [1]])
def test_format_values_are_finite_non_negative_numbers(raw: object) -> None:
    with pytest.raises(ValidationFailed):
        format_value("DS", raw, "x")


def test_only_ds_gq_dp_are_kept() -> None:
    assert format_value("GQ", "30", "x") == 30.0
    with pytest.raises(ValidationFailed):
        format_value("PL", "3", "x")
