"""Plate wells: which positions a format has and what a sample's row/column/well name."""

from __future__ import annotations

from bijmantra.domain.genotyping.plates import (
    Well,
    placement_problems,
    repeated_wells,
    sample_well,
)
from hypothesis import given
from hypothesis import strategies as st


def test_a_well_may_be_spelled_a2_or_a02_and_reads_back_canonically() -> None:
    assert sample_well(None, None, "A2") == (Well("A", 2), [])
    assert sample_well(None, None, "a02") == (Well("A", 2), [])
    assert Well("A", 2).name == "A02"
    assert sample_well("B", 11, None) == (Well("B", 11), [])
    assert sample_well(None, None, None) == (None, [])


def test_disagreeing_or_half_given_positions_are_refused() -> None:
    well, problems = sample_well("B", 2, "A2")
    assert well is None
    assert [p.field for p in problems] == ["row"]
    assert [p.field for p in sample_well("A", 3, "A2")[1]] == ["column"]
    assert [p.field for p in sample_well("A", None, None)[1]] == ["column"]
    assert [p.field for p in sample_well(None, 4, None)[1]] == ["row"]
    assert [p.field for p in sample_well(None, None, "2A")[1]] == ["well"]
    assert [p.field for p in sample_well("AB", 0, None)[1]] == ["row", "column"]


@given(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), st.integers(1, 40))
def test_a_96_well_plate_has_exactly_a01_to_h12(row: str, column: int) -> None:
    inside = row in "ABCDEFGH" and column <= 12
    assert (placement_problems("PLATE_96", Well(row, column)) == []) == inside


def test_tubes_and_unformatted_plates_have_no_wells() -> None:
    assert placement_problems("TUBES", Well("A", 1))
    assert placement_problems(None, Well("A", 1))
    assert placement_problems("TUBES", None) == []


def test_the_second_sample_in_a_well_clashes_with_the_first() -> None:
    placed = [
        ("s1", "p1", Well("A", 1)),
        ("s2", "p2", Well("A", 1)),  # another plate: free
        ("s3", "p1", Well("A", 1)),
        ("s1", "p1", Well("A", 1)),  # the holder itself again: no clash
    ]
    assert repeated_wells(placed) == {"s3": ("s1", "p1", Well("A", 1))}
