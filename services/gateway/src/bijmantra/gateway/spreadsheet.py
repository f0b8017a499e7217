"""Cells of CSV/TSV downloads made safe to open in a spreadsheet (CSV/formula injection).

Excel, LibreOffice and Google Sheets evaluate a cell that starts with ``=``, ``+``, ``-``
or ``@`` as a formula (``=HYPERLINK(...)``, DDE ``-2+3+cmd|...``), and some strip a
leading tab or carriage return first. An observation value is text a field worker or a
client typed, so every such text cell is prefixed with ``'``, the sign spreadsheets read as
"this is text" (OWASP's advice), and the cell is shown as written.

One exception, so numbers stay numbers: a cell that is *entirely* a decimal number
(``-3.5``, ``+2``, ``-1e-3``) is left alone. It holds no operator after its sign, no
function and no reference, and every spreadsheet reads it as the number it is; prefixing it
would turn each negative measurement into text.
"""

from __future__ import annotations

import re
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def safe_cell(value: Any) -> Any:
    """``value`` as a spreadsheet will show it, never evaluate it; non-text is kept as is."""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    if _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


def safe_row(row: list[Any]) -> list[Any]:
    return [safe_cell(cell) for cell in row]
