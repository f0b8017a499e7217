"""A reference's bases: kept in fixed-size blocks, served in bounded windows (ADR 0196).

``GET /references/{id}/bases`` names a 0-based, end-exclusive range and a continuation
token; a reference may be hundreds of megabases, so one answer carries at most
``PAGE_BASES`` of it and says where the next one starts. These are the rules for that
arithmetic, for splitting a sequence into blocks and for which text a sequence may hold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bijmantra.kernel import FieldError, ValidationFailed

BLOCK_BASES = 10_000  # bases in one stored block
PAGE_BASES = 100_000  # bases in one answer (ten blocks)
MAX_SEQUENCE = 2**31 - 1  # a reference no longer than PostgreSQL/BrAPI integers can say
# IUPAC nucleotide codes, gaps and masking (lower case), as FASTA files carry them.
_BASES = re.compile(r"[ACGTURYSWKMBDHVN.\-acgturyswkmbdhvn]*")


def block_db_id(reference_db_id: str, block: int) -> str:
    return f"{reference_db_id}:{block}"


def split_blocks(sequence: str) -> list[str]:
    """The sequence as consecutive blocks of ``BLOCK_BASES`` (the last one shorter)."""
    check_bases(sequence)
    return [sequence[i : i + BLOCK_BASES] for i in range(0, len(sequence), BLOCK_BASES)]


def check_bases(sequence: str) -> None:
    if len(sequence) > MAX_SEQUENCE:
        raise ValidationFailed("Sequence too long", [FieldError("sequence", "at most 2^31-1")])
    if not _BASES.fullmatch(sequence):
        bad = next(i for i, c in enumerate(sequence) if not _BASES.fullmatch(c))
        raise ValidationFailed(
            "Not a nucleotide sequence",
            [FieldError("sequence", f"position {bad}: {sequence[bad]!r} is not an IUPAC code")],
        )


@dataclass(frozen=True, slots=True)
class BasesWindow:
    """The bases one answer carries: ``[start, stop)`` and the token of the next answer."""

    start: int
    stop: int
    next_token: str | None

    @property
    def blocks(self) -> range:
        """The stored blocks this window touches."""
        if self.stop <= self.start:
            return range(0)
        return range(self.start // BLOCK_BASES, (self.stop - 1) // BLOCK_BASES + 1)

    def cut(self, blocks: dict[int, str]) -> str:
        """The window's text out of the blocks it touches (missing blocks end it early)."""
        text = []
        for block in self.blocks:
            part = blocks.get(block)
            if part is None:
                break
            text.append(part)
        offset = self.start - (self.blocks.start * BLOCK_BASES if self.blocks else 0)
        return "".join(text)[offset : offset + self.stop - self.start]


def _integer(raw: str | None, name: str, default: int) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise ValidationFailed(f"Invalid {name}", [FieldError(name, "a non-negative integer")])
    return int(raw)


def bases_window(
    length: int, start: str | None, end: str | None, page_token: str | None
) -> BasesWindow:
    """Where an answer starts and stops for a reference of ``length`` bases.

    ``start``/``end`` are the request's range (0-based, end exclusive; defaults: the whole
    reference); ``page_token`` (a position inside the range, from the previous answer)
    continues it.
    """
    first = _integer(start, "start", 0)
    last = _integer(end, "end", length)
    if last > length or first > last:
        raise ValidationFailed(
            "Invalid range",
            [FieldError("end", f"0 <= start <= end <= {length} (the reference's length)")],
        )
    at = _integer(page_token, "pageToken", first)
    if not first <= at <= last:
        raise ValidationFailed("Invalid pageToken", [FieldError("pageToken", "outside the range")])
    stop = min(last, at + PAGE_BASES)
    return BasesWindow(at, stop, str(stop) if stop < last else None)
