"""How much of a result one page may carry."""

from __future__ import annotations

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
