"""Forms of several like rows (a request's items, an invoice's lines): a bounded number of
rows read from ``<field>-<row>`` inputs, rows left blank skipped, and each refusal of the
API's ``<array>[n]…`` said next to the row it concerns."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from bijmantra.kernel import BijmantraError, ErrorCode, FieldError, ValidationFailed

# Refusals a form is shown again for, as typed (others are the error page).
# Refusals shown beside the form that caused them (a NUL in a text is ``malformed``).
REFUSED_FORM = (
    ErrorCode.VALIDATION,
    ErrorCode.UNPROCESSABLE,
    ErrorCode.CONFLICT,
    ErrorCode.MALFORMED,
)


@dataclass(frozen=True)
class RowForm:
    array: str  # the API's name of the list: its refusals say ``<array>[n].<field>``
    fields: tuple[str, ...]
    required: tuple[str, ...]  # a row that has any field must have these
    rows: int  # read at most this many (the API takes more)
    incomplete: str  # what a row that lacks a required field is told

    def read(self, form: Mapping[str, Any]) -> tuple[list[dict[str, str]], list[int]]:
        """Every row as typed (``rows`` of them) and the indexes of those not left blank."""
        typed = [
            {n: v.strip() for n in self.fields if isinstance(v := form.get(f"{n}-{k}", ""), str)}
            for k in range(self.rows)
        ]
        return typed, [k for k, row in enumerate(typed) if any(row.values())]

    def blank(self) -> list[dict[str, str]]:
        return [{} for _ in range(self.rows)]

    def check(self, typed: list[dict[str, str]], filled: list[int]) -> None:
        """A half-filled row, or none filled, is refused before anything is sent."""
        problems = [
            FieldError(f"{self.array}[{n}]", self.incomplete)
            for n, k in enumerate(filled)
            if not all(typed[k].get(name) for name in self.required)
        ]
        if not filled:
            problems.append(FieldError(self.array, "at least one"))
        if problems:
            raise ValidationFailed(f"Some {self.array} are incomplete", problems)

    def mark(self, typed: list[dict[str, str]], filled: list[int], error: BijmantraError) -> None:
        """Each ``<array>[n]…`` refusal as the ``problem`` of the n-th filled row."""
        opening = f"{self.array}["
        for detail in error.details:
            if not detail.location.startswith(opening) or "]" not in detail.location:
                continue
            index = detail.location[len(opening) : detail.location.index("]")]
            if index.isdecimal() and int(index) < len(filled):
                field = detail.location[detail.location.index("]") + 1 :].lstrip(".")
                reason = f"{field}: {detail.message}" if field else detail.message
                row = typed[filled[int(index)]]
                row["problem"] = f"{row['problem']}; {reason}" if row.get("problem") else reason

    async def sent(
        self,
        typed: list[dict[str, str]],
        filled: list[int],
        send: Callable[[], Awaitable[bytes]],
        shown_again: Collection[ErrorCode] = REFUSED_FORM,
    ) -> tuple[dict[str, Any], BijmantraError | None]:
        """The rows checked, then ``send``'s answer; or a refusal the form is shown again
        for (``shown_again``), each row's part marked on it. Other errors propagate."""
        try:
            self.check(typed, filled)
            answer: dict[str, Any] = msgspec.json.decode(await send())
        except BijmantraError as error:
            if error.code not in shown_again:
                raise
            self.mark(typed, filled, error)
            return {}, error
        return answer, None
