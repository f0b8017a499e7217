"""How much of a result one page may carry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bijmantra.kernel import FieldError, ValidationFailed

# Values one page of a matrix result (a GRM's rows) may hold (ADR 0332): each becomes a Python
# float and a JSON number, so 10,000 rows of a 10,000-sample matrix held gigabytes.
MAX_PAGE_VALUES = 1_000_000


def check_matrix_page(rows: int, columns: int) -> None:
    """A page of ``rows`` rows of a ``columns``-wide matrix holds at most
    :data:`MAX_PAGE_VALUES` values; a 400 naming the largest page size that fits."""
    if rows * columns > MAX_PAGE_VALUES:
        fits = max(MAX_PAGE_VALUES // max(columns, 1), 1)
        raise ValidationFailed(
            "Result page too large",
            [
                FieldError(
                    "pageSize",
                    f"rows of this matrix hold {columns} values; at most {fits} rows a page",
                )
            ],
        )


# r² values one LD analysis may compute (ADR 0332): the worker holds variants x window of them
# as an array and again as the result table's rows. A 100,000-variant set with a window of
# 1,000 was 10^8 values, gigabytes in a worker every organization shares.
MAX_LD_VALUES = 10_000_000
DEFAULT_LD_WINDOW = 50  # the worker's, when the request names none


def ld_size_problems(parameters: Mapping[str, Any], n_variants: int) -> list[FieldError]:
    """The LD window this set allows, or nothing when ``window`` is not a valid integer
    (that is the parameter check's to say)."""
    window = parameters.get("window", DEFAULT_LD_WINDOW)
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        return []
    if window * n_variants <= MAX_LD_VALUES:
        return []
    fits = MAX_LD_VALUES // max(n_variants, 1)
    return [
        FieldError(
            "parameters.window",
            f"{n_variants} variants x a window of {window} exceeds {MAX_LD_VALUES} r² values; "
            f"a window of at most {fits} fits this set",
        )
    ]
