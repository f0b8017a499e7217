"""A variable's scale (BrAPI ``Scale``) and the values it accepts.

A value travels as a string whatever the data type; the scale says what the string must
be: a number inside the bounds (with at most ``decimalPlaces`` decimals), one of the
declared categories, an ISO 8601 date or duration, or free text. ``Scale.from_brapi``
reads the document once, at the edge of the use case; the rules below see typed fields only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

# ISO 8601 durations: P[nY][nM][nW][nD][T[nH][nM][nS]] with at least one component.
_DURATION = re.compile(
    r"P(?!$)(\d+(?:[.,]\d+)?Y)?(\d+(?:[.,]\d+)?M)?(\d+(?:[.,]\d+)?W)?(\d+(?:[.,]\d+)?D)?"
    r"(T(?=\d)(\d+(?:[.,]\d+)?H)?(\d+(?:[.,]\d+)?M)?(\d+(?:[.,]\d+)?S)?)?"
)

Bound = str | int | float  # as the document gives it: BrAPI 2.1 strings, 2.0 numbers
ValueCheck = Callable[[str], str | None]
ScaleRule = Callable[[str | None], str | None]


@dataclass(frozen=True)
class Scale:
    """``minimum``/``maximum`` are ``validValues.minimumValue``/``maximumValue``;
    ``legacy_minimum``/``legacy_maximum`` the deprecated ``min``/``max``, used only when the
    current field is absent. ``categories`` holds every declared category's value (None for
    a category without one)."""

    data_type: str = "Text"
    minimum: Bound | None = None
    maximum: Bound | None = None
    legacy_minimum: Bound | None = None
    legacy_maximum: Bound | None = None
    decimal_places: int | None = None
    categories: tuple[str | None, ...] = ()

    @classmethod
    def from_brapi(cls, document: Mapping[str, Any]) -> Scale:
        valid = document.get("validValues") or {}
        places = document.get("decimalPlaces")
        return cls(
            data_type=document.get("dataType") or "Text",
            minimum=valid.get("minimumValue"),
            maximum=valid.get("maximumValue"),
            legacy_minimum=valid.get("min"),
            legacy_maximum=valid.get("max"),
            decimal_places=places if isinstance(places, int) else None,
            categories=tuple(c.get("value") for c in valid.get("categories") or [] if c),
        )

    @property
    def bounds(self) -> tuple[Bound | None, Bound | None]:
        low = self.legacy_minimum if self.minimum is None else self.minimum
        high = self.legacy_maximum if self.maximum is None else self.maximum
        return low, high

    def rule(self) -> ScaleRule:
        """``problem`` with the bounds and categories read once: a batch of observations
        checks thousands of values against a handful of scales."""
        check = _RULES.get(self.data_type, _text)(self)
        return lambda value: None if value is None else check(value)

    def problem(self, value: str | None) -> str | None:
        """Why ``value`` is not a value of this scale; None when it is (or nothing was observed)."""
        return self.rule()(value)

    def definition_problems(self) -> list[tuple[str, str]]:
        """(path under ``validValues``, message): bounds that are not values of the scale's
        type or are out of order, and category values that repeat."""
        problems: list[tuple[str, str]] = []
        low, high = self.minimum, self.maximum
        if self.data_type == "Numerical" and low is not None and high is not None:
            low_number, high_number = _number(low), _number(high)
            if low_number is not None and high_number is not None and low_number > high_number:
                problems.append(("", "minimumValue must not exceed maximumValue"))
        if self.data_type in {"Numerical", "Date"}:
            plain = Scale(self.data_type)
            for name, bound in (("minimumValue", low), ("maximumValue", high)):
                if bound is not None and (problem := plain.problem(str(bound))):
                    problems.append((f".{name}", problem))
        if len(self.categories) != len(set(self.categories)):
            problems.append((".categories", "category values must be distinct"))
        return problems


Ordered = TypeVar("Ordered", Decimal, date)


def _outside(
    value: Ordered, low: Ordered | None, high: Ordered | None, below: str, above: str
) -> str | None:
    """Why ``value`` is out of the scale's bounds (either may be open), or ``None``."""
    if low is not None and value < low:
        return f"{below} {low}"
    if high is not None and value > high:
        return f"{above} {high}"
    return None


def _number(raw: Any) -> Decimal | None:
    if raw is None or isinstance(raw, bool):
        return None
    try:
        number = Decimal(str(raw).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _numerical(scale: Scale) -> ValueCheck:
    low, high = (_number(b) for b in scale.bounds)
    places = scale.decimal_places

    def check(value: str) -> str | None:
        number = _number(value)
        if number is None:
            return "must be a number"
        if outside := _outside(number, low, high, "must be at least", "must be at most"):
            return outside
        exponent = number.as_tuple().exponent
        if places is not None and isinstance(exponent, int) and -exponent > max(places, 0):
            return f"must have at most {places} decimal place(s)"
        return None

    return check


def _categorical(scale: Scale) -> ValueCheck:
    allowed = [value for value in scale.categories if value is not None]
    if allowed:
        members, message = set(allowed), f"must be one of {', '.join(allowed)}"
        return lambda value: None if value in members else message
    if scale.data_type == "Ordinal" and any(b is not None for b in scale.bounds):
        return _numerical(replace(scale, decimal_places=0))
    return lambda value: None if value.strip() else "must not be empty"


def _parse_date(raw: str) -> date | None:
    try:
        return datetime.fromisoformat(raw).date() if "T" in raw else date.fromisoformat(raw)
    except ValueError:
        return None


def _date(scale: Scale) -> ValueCheck:
    low, high = (_parse_date(b) if isinstance(b, str) else None for b in scale.bounds)

    def check(value: str) -> str | None:
        day = _parse_date(value)
        if day is None:
            return "must be an ISO 8601 date"
        return _outside(day, low, high, "must be on or after", "must be on or before")

    return check


def _duration(scale: Scale) -> ValueCheck:
    return lambda value: (
        None if _DURATION.fullmatch(value) else "must be an ISO 8601 duration (e.g. P3DT4H)"
    )


def _text(scale: Scale) -> ValueCheck:
    return lambda value: None


_RULES: dict[str, Callable[[Scale], ValueCheck]] = {
    "Numerical": _numerical,
    "Ordinal": _categorical,
    "Nominal": _categorical,
    "Code": _categorical,
    "Date": _date,
    "Duration": _duration,
    "Text": _text,
}


def scale_of(document: Mapping[str, Any] | None) -> Scale | None:
    """A variable's ``scale`` document read once; None (or empty) when it has none."""
    return Scale.from_brapi(document) if document else None


def scale_rule(scale: Scale | None) -> ScaleRule:
    """The check of a variable's values; a variable without a scale accepts anything."""
    return scale.rule() if scale is not None else (lambda value: None)


def scale_problem(scale: Scale | None, value: str | None) -> str | None:
    """Why ``value`` is not a value of ``scale``; None when it is (or nothing was observed)."""
    return scale_rule(scale)(value)
