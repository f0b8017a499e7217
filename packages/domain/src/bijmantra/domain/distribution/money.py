"""Invoice arithmetic: exact decimals, rounded once per line to the currency's minor unit.

Rule (the one every total follows): a line's net is ``quantity x unit_price`` and its tax is
``net x tax_rate``, each rounded half-up to the currency's minor unit; the invoice's net, tax
and gross are the sums of the rounded line amounts, so the printed lines always add up to
the printed totals. Floats never enter: inputs are parsed from strings into ``Decimal``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation

from bijmantra.kernel import FieldError, ValidationFailed

# ISO 4217 currencies whose minor unit is not 1/100.
_MINOR_UNITS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG"), 0),
    **dict.fromkeys(("RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}
_CURRENCY = re.compile(r"[A-Z]{3}")
MAX_QUANTITY = Decimal("1e9")
MAX_UNIT_PRICE = Decimal("1e12")
MAX_TAX_RATE = Decimal(1)
MAX_LINES = 500
# Products and sums are exact in this context: within the bounds above a line's product has
# at most 33 digits, its tax 31, an invoice's sum 27. Decimal's default keeps 28, so a large
# product was rounded once by the context and again to the minor unit (ADR 0348).
_EXACT = Context(prec=60)


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of ``currency`` (``0.01`` for EUR, ``1`` for JPY)."""
    return Decimal(1).scaleb(-_MINOR_UNITS.get(currency, 2))


def check_currency(currency: str) -> str:
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise ValidationFailed(
            "Invalid currency", [FieldError("currency", "an ISO 4217 code such as EUR")]
        )
    return currency


def parse_decimal(value: object, where: str, *, low: Decimal, high: Decimal) -> Decimal:
    """A decimal from a JSON string or integer; floats are refused (they are not exact)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationFailed(
            "Amounts are decimal strings", [FieldError(where, 'a decimal string such as "12.50"')]
        )
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValidationFailed("Invalid decimal", [FieldError(where, "not a number")]) from None
    if not number.is_finite() or not low <= number <= high:
        raise ValidationFailed("Amount out of range", [FieldError(where, f"{low}..{high}")])
    exponent = number.as_tuple().exponent  # an int: only NaN and infinities have a letter
    if isinstance(exponent, int) and exponent < -6:
        raise ValidationFailed("Too many decimals", [FieldError(where, "at most 6 decimals")])
    return number


@dataclass(frozen=True)
class InvoiceLine:
    description: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal  # 0.19 for 19 %


@dataclass(frozen=True)
class LineAmounts:
    net: Decimal
    tax: Decimal

    @property
    def gross(self) -> Decimal:
        return self.net + self.tax


@dataclass(frozen=True)
class Totals:
    lines: tuple[LineAmounts, ...]
    net: Decimal
    tax: Decimal
    gross: Decimal


def line_amounts(line: InvoiceLine, currency: str) -> LineAmounts:
    unit = minor_unit(currency)
    net = _EXACT.multiply(line.quantity, line.unit_price).quantize(unit, ROUND_HALF_UP, _EXACT)
    tax = _EXACT.multiply(net, line.tax_rate).quantize(unit, ROUND_HALF_UP, _EXACT)
    return LineAmounts(net, tax)


def totals(lines: Sequence[InvoiceLine], currency: str) -> Totals:
    """Every figure an invoice prints, computed by the server from the lines alone."""
    amounts = tuple(line_amounts(line, currency) for line in lines)
    net = tax = Decimal(0).quantize(minor_unit(currency))
    for amount in amounts:
        net, tax = _EXACT.add(net, amount.net), _EXACT.add(tax, amount.tax)
    return Totals(amounts, net, tax, _EXACT.add(net, tax))


def negated(lines: Sequence[InvoiceLine]) -> tuple[InvoiceLine, ...]:
    """A credit note's lines: the same lines with negative quantities."""
    return tuple(
        InvoiceLine(line.description, -line.quantity, line.unit_price, line.tax_rate)
        for line in lines
    )


def invoice_number(year: int, sequence: int) -> str:
    """``2026-000123``: the year and the organization's gapless count within it."""
    return f"{year:04d}-{sequence:06d}"
