"""A BrAPI filter's integer or number from a query string (ADR 0387): written in ASCII, as
the contract's JSON types are. ``int`` and ``float`` also read other scripts' digits, so a
filter given in full-width digits matched as if typed in ASCII."""

from __future__ import annotations

import pytest
from bijmantra.application.brapi.schema import parse_scalar
from bijmantra.kernel import FieldError


@pytest.mark.parametrize(
    ("kind", "raw", "value"), [("integer", "42", 42), ("integer", "-3", -3), ("number", "2.5", 2.5)]
)
def test_ascii_numbers_are_read(kind: str, raw: str, value: float) -> None:
    problems: list[FieldError] = []
    assert parse_scalar({"type": kind}, raw, "x", problems) == value
    assert problems == []


@pytest.mark.parametrize(
    ("kind", "raw"),
    [("integer", "\uff14\uff12"), ("integer", "+4"), ("integer", "4_2"), ("number", "\uff12.5")],
)
def test_other_scripts_digits_are_a_problem_named_by_location(kind: str, raw: str) -> None:
    problems: list[FieldError] = []
    assert parse_scalar({"type": kind}, raw, "x", problems) is None
    assert problems == [FieldError("x", f"expected {kind}")]
