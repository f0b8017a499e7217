"""An observation's value checked against its variable's scale (BrAPI ``Scale``).

A value travels as a string whatever the data type; the scale says what the string must
be: a number inside the bounds (with at most ``decimalPlaces`` decimals), one of the
declared categories, an ISO 8601 date or duration, or free text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

# ISO 8601 durations: P[nY][nM][nW][nD][T[nH][nM][nS]] with at least one component.
_DURATION = re.compile(
    r"P(?!$)(\d+(?:[.,]\d+)?Y)?(\d+(?:[.,]\d+)?M)?(\d+(?:[.,]\d+)?W)?(\d+(?:[.,]\d+)?D)?"
    r"(T(?=\d)(\d+(?:[.,]\d+)?H)?(\d+(?:[.,]\d+)?M)?(\d+(?:[.,]\d+)?S)?)?"
)


def _number(raw: Any) -> Decimal | None:
    if raw is None or isinstance(raw, bool):
        return None
    try:
        number = Decimal(str(raw).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _bounds(valid: dict[str, Any]) -> tuple[Any, Any]:
    low = valid.get("minimumValue")
    high = valid.get("maximumValue")
    return (valid.get("min") if low is None else low, valid.get("max") if high is None else high)


ScaleRule = Callable[[str], str | None]


def _numerical(scale: dict[str, Any]) -> ScaleRule:
    low, high = (_number(b) for b in _bounds(scale.get("validValues") or {}))
    places = scale.get("decimalPlaces")

    def check(value: str) -> str | None:
        number = _number(value)
        if number is None:
            return "must be a number"
        if low is not None and number < low:
            return f"must be at least {low}"
        if high is not None and number > high:
            return f"must be at most {high}"
        exponent = number.as_tuple().exponent
        if isinstance(places, int) and isinstance(exponent, int) and -exponent > max(places, 0):
            return f"must have at most {places} decimal place(s)"
        return None

    return check


def _categorical(scale: dict[str, Any]) -> ScaleRule:
    categories = (scale.get("validValues") or {}).get("categories") or []
    allowed = [c.get("value") for c in categories if c.get("value") is not None]
    if allowed:
        members, message = set(allowed), f"must be one of {', '.join(allowed)}"
        return lambda value: None if value in members else message
    if scale.get("dataType") == "Ordinal" and any(
        b is not None for b in _bounds(scale.get("validValues") or {})
    ):
        return _numerical({**scale, "decimalPlaces": 0})
    return lambda value: None if value.strip() else "must not be empty"


def _parse_date(raw: str) -> date | None:
    try:
        return datetime.fromisoformat(raw).date() if "T" in raw else date.fromisoformat(raw)
    except ValueError:
        return None


def _date(scale: dict[str, Any]) -> ScaleRule:
    low, high = (
        _parse_date(b) if isinstance(b, str) else None
        for b in _bounds(scale.get("validValues") or {})
    )

    def check(value: str) -> str | None:
        day = _parse_date(value)
        if day is None:
            return "must be an ISO 8601 date"
        if low is not None and day < low:
            return f"must be on or after {low.isoformat()}"
        if high is not None and day > high:
            return f"must be on or before {high.isoformat()}"
        return None

    return check


def _duration(scale: dict[str, Any]) -> ScaleRule:
    return lambda value: (
        None if _DURATION.fullmatch(value) else "must be an ISO 8601 duration (e.g. P3DT4H)"
    )


def _text(scale: dict[str, Any]) -> ScaleRule:
    return lambda value: None


_RULES: dict[str, Callable[[dict[str, Any]], ScaleRule]] = {
    "Numerical": _numerical,
    "Ordinal": _categorical,
    "Nominal": _categorical,
    "Code": _categorical,
    "Date": _date,
    "Duration": _duration,
    "Text": _text,
}


def scale_rule(scale: dict[str, Any] | None) -> Callable[[str | None], str | None]:
    """``scale_problem`` bound to one scale, its bounds and categories read once: a batch of
    observations checks thousands of values against a handful of scales."""
    if not scale:
        return lambda value: None
    check = _RULES.get(scale.get("dataType") or "Text", _text)(scale)
    return lambda value: None if value is None else check(value)


def scale_problem(scale: dict[str, Any] | None, value: str | None) -> str | None:
    """Why ``value`` is not a value of ``scale``; ``None`` when it is (or nothing was observed)."""
    return scale_rule(scale)(value)
