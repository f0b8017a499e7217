"""Scale validation as properties: values inside a scale accepted, outside rejected."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from bijmantra.domain import phenotyping
from hypothesis import given, settings
from hypothesis import strategies as st


def scale_problem(scale: dict[str, Any], value: str | None) -> str | None:
    """The scale document read as the use case reads it, then the rule."""
    return phenotyping.scale_problem(phenotyping.scale_of(scale), value)


BOUNDED = settings(max_examples=150, deadline=None)
bounds = st.tuples(st.integers(-10_000, 10_000), st.integers(0, 10_000)).map(
    lambda b: (b[0], b[0] + b[1])
)


def numerical(low: int, high: int, places: int | None = None) -> dict[str, object]:
    return {
        "dataType": "Numerical",
        "decimalPlaces": places,
        "validValues": {"minimumValue": str(low), "maximumValue": str(high)},
    }


@BOUNDED
@given(bounds, st.data())
def test_numbers_inside_the_bounds_are_accepted(
    limits: tuple[int, int], data: st.DataObject
) -> None:
    low, high = limits
    value = data.draw(st.decimals(low, high, places=2, allow_nan=False, allow_infinity=False))
    assert scale_problem(numerical(low, high, 2), str(value)) is None


@BOUNDED
@given(
    bounds,
    st.decimals("0.01", "1e6", places=2, allow_nan=False, allow_infinity=False),
    st.booleans(),
)
def test_numbers_outside_the_bounds_are_rejected(
    limits: tuple[int, int], gap: Decimal, below: bool
) -> None:
    low, high = limits
    value = Decimal(low) - gap if below else Decimal(high) + gap
    assert scale_problem(numerical(low, high), str(value)) is not None


@BOUNDED
@given(st.integers(0, 4), st.integers(1, 4))
def test_more_decimal_places_than_the_scale_allows_are_rejected(places: int, extra: int) -> None:
    value = "1." + "5" * (places + extra)
    assert scale_problem(numerical(0, 10, places), value) is not None
    assert scale_problem(numerical(0, 10, places), "1." + "5" * places if places else "1") is None


@BOUNDED
@given(st.text(min_size=1).filter(lambda t: not _is_number(t)))
def test_non_numbers_are_rejected_by_a_numerical_scale(value: str) -> None:
    assert scale_problem({"dataType": "Numerical"}, value) is not None


def _is_number(text: str) -> bool:
    try:
        return Decimal(text.strip()).is_finite()
    except ArithmeticError:
        return False


categories = st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=6, unique=True)


@BOUNDED
@given(st.sampled_from(["Ordinal", "Nominal", "Code"]), categories, st.data())
def test_only_declared_categories_are_accepted(
    kind: str, values: list[str], data: st.DataObject
) -> None:
    scale = {
        "dataType": kind,
        "validValues": {"categories": [{"label": v.upper(), "value": v} for v in values]},
    }
    assert scale_problem(scale, data.draw(st.sampled_from(values))) is None
    outside = data.draw(st.text(max_size=8).filter(lambda t: t not in values))
    assert scale_problem(scale, outside) is not None


day_bounds = st.tuples(st.dates(date(1900, 1, 1), date(2100, 1, 1)), st.integers(0, 3650))


@BOUNDED
@given(day_bounds, st.data())
def test_dates_inside_the_range_are_accepted_and_outside_rejected(
    limits: tuple[date, int], data: st.DataObject
) -> None:
    start, span = limits
    end = start + timedelta(days=span)
    scale = {
        "dataType": "Date",
        "validValues": {"minimumValue": start.isoformat(), "maximumValue": end.isoformat()},
    }
    inside = start + timedelta(days=data.draw(st.integers(0, span)))
    assert scale_problem(scale, inside.isoformat()) is None
    assert scale_problem(scale, f"{inside.isoformat()}T12:30:00+00:00") is None
    outside = data.draw(st.sampled_from([start - timedelta(days=1), end + timedelta(days=1)]))
    assert scale_problem(scale, outside.isoformat()) is not None


@BOUNDED
@given(st.text().filter(lambda t: not _is_iso_date(t)))
def test_non_dates_are_rejected_by_a_date_scale(value: str) -> None:
    assert scale_problem({"dataType": "Date"}, value) is not None


def _is_iso_date(text: str) -> bool:
    try:
        date.fromisoformat(text.split("T")[0])
    except ValueError:
        return False
    return True


durations = st.builds(
    lambda d, h, m: (
        "P"
        + (f"{d}D" if d else "")
        + (("T" + (f"{h}H" if h else "") + (f"{m}M" if m else "")) if h or m else "")
    ),
    st.integers(0, 400),
    st.integers(0, 23),
    st.integers(0, 59),
).filter(lambda s: s != "P")


@BOUNDED
@given(durations)
def test_iso_durations_are_accepted(value: str) -> None:
    assert scale_problem({"dataType": "Duration"}, value) is None


@BOUNDED
@given(
    st.one_of(
        st.just("P"), st.just("PT"), st.just("3 days"), st.integers().map(str), st.just("P1DT")
    )
)
def test_non_durations_are_rejected(value: str) -> None:
    assert scale_problem({"dataType": "Duration"}, value) is not None


@BOUNDED
@given(st.text())
def test_text_scales_accept_any_text_and_no_value_is_never_a_problem(value: str) -> None:
    assert scale_problem({"dataType": "Text"}, value) is None
    assert scale_problem(numerical(0, 1), None) is None
