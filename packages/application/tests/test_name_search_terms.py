"""The console's search term (ADR 0385): bounded, printable, only for entities with names;
and the criterion as the fake store (every gateway test's) applies it."""

from __future__ import annotations

import pytest
from bijmantra.application.brapi.name_search import (
    MAX_SEARCH_TERM,
    SEARCHED_NAMES,
    checked_term,
    name_contains,
)
from bijmantra.kernel import ValidationFailed


def test_a_term_up_to_the_bound_is_kept_as_typed() -> None:
    term = "x" * MAX_SEARCH_TERM
    assert checked_term(term) == term
    criterion = name_contains("germplasm", "IR 6%_")
    assert criterion.term == "IR 6%_"
    assert criterion.names == SEARCHED_NAMES["germplasm"]


@pytest.mark.parametrize(
    ("entity", "term", "problem"),
    [
        ("germplasm", "x" * (MAX_SEARCH_TERM + 1), f"at most {MAX_SEARCH_TERM} characters"),
        ("study", "IR\x0064", "must not contain control characters"),
        ("trial", "a\nb", "must not contain control characters"),
        ("observation", "IR64", "observation has no names"),
    ],
)
def test_a_term_no_one_types_is_refused_naming_the_field(
    entity: str, term: str, problem: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        name_contains(entity, term, "q")
    assert [(e.location, e.message) for e in refused.value.details] == [("q", problem)]


def test_the_criterion_holds_a_part_of_any_name_in_any_case() -> None:
    criterion = name_contains("germplasm", "ir6")
    assert criterion.holds(["x", "IR64"])
    assert not criterion.holds(["IR 64", None, 64])
    assert name_contains("germplasm", "%").holds(["100%"])
    assert not name_contains("germplasm", "%").holds(["100"])
