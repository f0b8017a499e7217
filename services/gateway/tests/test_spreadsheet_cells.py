"""The spreadsheet-safety rule of CSV/TSV cells, cell by cell."""

from __future__ import annotations

import pytest
from bijmantra.gateway.spreadsheet import safe_cell


@pytest.mark.parametrize(
    "cell",
    [
        '=HYPERLINK("http://evil.example","x")',
        "+1+cmd|' /C calc'!A0",
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(A1:A2)",
        "\t=1+1",
        "\r=1+1",
        "-",
        "+",
        "-1e5+1",
        "- 3",
        "-3.5\n=1",
    ],
)
def test_formula_like_text_is_prefixed_with_a_quote(cell: str) -> None:
    assert safe_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["-3.5", "+2", "-1e-3", "-.5", "12", "plain", "", "a=b", "'x"])
def test_numbers_and_plain_text_are_kept(cell: str) -> None:
    assert safe_cell(cell) == cell


@pytest.mark.parametrize("cell", [None, -3, 2.5, True])
def test_values_that_are_not_text_are_kept(cell: object) -> None:
    assert safe_cell(cell) == cell
