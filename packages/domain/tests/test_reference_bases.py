"""Bases windows: any range, read page by page from the stored blocks, is the plain slice."""

from __future__ import annotations

import pytest
from bijmantra.domain.genotyping.reference_bases import (
    BLOCK_BASES,
    PAGE_BASES,
    bases_window,
    check_bases,
    split_blocks,
)
from bijmantra.kernel import ValidationFailed
from hypothesis import given
from hypothesis import strategies as st

SEQUENCE = ("ACGTN" * (3 * PAGE_BASES // 5 + 7))[: 3 * PAGE_BASES + 1234]
BLOCKS = dict(enumerate(split_blocks(SEQUENCE)))


def read_range(start: int | None, end: int | None) -> str:
    """Follow the continuation tokens from the first answer to the last."""
    text, token = [], None
    while True:
        window = bases_window(
            len(SEQUENCE),
            None if start is None else str(start),
            None if end is None else str(end),
            token,
        )
        assert window.stop - window.start <= PAGE_BASES
        assert len(window.blocks) <= PAGE_BASES // BLOCK_BASES + 1
        text.append(window.cut({b: BLOCKS[b] for b in window.blocks}))
        if window.next_token is None:
            return "".join(text)
        token = window.next_token


@given(st.integers(0, len(SEQUENCE)), st.integers(0, len(SEQUENCE)))
def test_paging_through_any_range_gives_the_slice(a: int, b: int) -> None:
    start, end = min(a, b), max(a, b)
    assert read_range(start, end) == SEQUENCE[start:end]


def test_the_defaults_are_the_whole_reference() -> None:
    assert read_range(None, None) == SEQUENCE


def test_blocks_are_fixed_size_and_join_to_the_sequence() -> None:
    assert {len(b) for b in list(BLOCKS.values())[:-1]} == {BLOCK_BASES}
    assert "".join(BLOCKS.values()) == SEQUENCE


@pytest.mark.parametrize(
    ("start", "end", "token"),
    [
        ("-1", None, None),
        ("5", "4", None),
        (None, "99999999", None),
        ("3", None, "2"),
        ("x", None, None),
    ],
)
def test_a_range_outside_the_reference_is_refused(
    start: str | None, end: str | None, token: str | None
) -> None:
    with pytest.raises(ValidationFailed):
        bases_window(1000, start, end, token)


def test_only_nucleotide_codes_are_bases() -> None:
    check_bases("ACGTacgtNRY-.")
    with pytest.raises(ValidationFailed, match="nucleotide"):
        check_bases("ACGT<script>")
