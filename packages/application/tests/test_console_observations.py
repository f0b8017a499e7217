"""Workbench entry: scale checks before any write, creates vs updates, CSV parsing."""

from __future__ import annotations

from typing import Any

from bijmantra.application.console import MAX_ENTRIES, Entry, Existing, csv_entries, plan_entries

HEIGHT: dict[str, Any] = {
    "dataType": "Numerical",
    "validValues": {"minimumValue": "0", "maximumValue": "400"},
}
SCORE: dict[str, Any] = {
    "dataType": "Ordinal",
    "validValues": {"categories": [{"value": "0"}, {"value": "3"}]},
}
SCALES = {"h": HEIGHT, "s": SCORE}
UNITS = frozenset({"u1", "u2"})


def test_new_values_are_created_changed_ones_updated_blank_and_same_left_alone() -> None:
    existing = {("u1", "h"): Existing("o1", "10"), ("u2", "h"): Existing("o2", "20")}
    entries = [
        Entry("u1", "h", "12"),
        Entry("u2", "h", "20"),
        Entry("u1", "s", " 3 "),
        Entry("u2", "s", ""),
    ]
    plan = plan_entries(entries, SCALES, UNITS, existing)
    assert plan.errors == {}
    assert plan.creates == [
        {"observationUnitDbId": "u1", "observationVariableDbId": "s", "value": "3"}
    ]
    assert plan.updates == {
        "o1": {"observationUnitDbId": "u1", "observationVariableDbId": "h", "value": "12"}
    }


def test_every_bad_value_is_named_and_the_good_ones_still_listed_for_redisplay() -> None:
    entries = [
        Entry("u1", "h", "401"),
        Entry("u1", "s", "2"),
        Entry("u2", "h", "abc"),
        Entry("u9", "h", "1"),
        Entry("u1", "x", "1"),
        Entry("u2", "s", "0"),
    ]
    plan = plan_entries(entries, SCALES, UNITS, {})
    assert set(plan.errors) == {("u1", "h"), ("u1", "s"), ("u2", "h"), ("u9", "h"), ("u1", "x")}
    assert "not an observation unit" in plan.errors[("u9", "h")]
    assert "not a variable" in plan.errors[("u1", "x")]


def test_too_many_values_are_refused_whole() -> None:
    entries = [Entry("u1", "h", "1")] * (MAX_ENTRIES + 1)
    plan = plan_entries(entries, SCALES, UNITS, {})
    assert plan.empty
    assert plan.errors


def test_csv_columns_by_variable_name_or_dbid_and_brapi_second_row_skipped() -> None:
    text = 'observationUnitDbId,Other,Height,s\n"",,Height,Score\nu1,x,5,3\nu2,y,,0\n'
    entries, problems = csv_entries(text, {"Height": "h", "Score": "s"})
    assert problems == []
    assert entries == [
        Entry("u1", "h", "5"),
        Entry("u1", "s", "3"),
        Entry("u2", "h", ""),
        Entry("u2", "s", "0"),
    ]


def test_csv_without_unit_column_or_variables_is_refused() -> None:
    assert csv_entries("a,b\n1,2\n", {"Height": "h"})[1]
    assert csv_entries("observationUnitDbId,b\nu1,2\n", {"Height": "h"})[1]
    assert csv_entries("", {"Height": "h"})[1]


def test_a_csv_the_csv_module_cannot_read_is_a_problem_not_an_exception() -> None:
    """A field past the csv module's 128 KiB limit raised ``csv.Error``: a 500 on upload."""
    for text in ("observationUnitDbId," + "a" * 200_000 + "\n", '"' + "a" * 150_000 + '"\n'):
        entries, problems = csv_entries(text, {"Height": "h"})
        assert entries == []
        assert len(problems) == 1
        assert "not readable as CSV" in problems[0]
