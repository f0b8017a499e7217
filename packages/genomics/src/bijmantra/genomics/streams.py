"""Bounded byte streams for the genotype readers: inflation in pieces, lines of bounded length.

A 200 KB gzip member can inflate to hundreds of MB and one "line" can be all of it; a
reader that inflates a piece whole or re-joins its unfinished line with every piece holds
that much (and copies it quadratically). Here output comes in pieces of at most
``PIECE_BYTES``, the total is capped, the unfinished line is a list of pieces joined once,
and a line longer than its cap is refused as soon as it gets there.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

MAX_LINE_BYTES = 32 << 20  # a line of 1M samples with GT:AD:DP fields fits; a bomb does not
PIECE_BYTES = 1 << 20


class FormatError(ValueError):
    """A malformed input file; ``line`` is 1-based (a VCF/.bim/.fam line, or a .bed record)."""

    def __init__(self, message: str, line: int | None = None, file: str = "") -> None:
        where = f"{file + ' ' if file else ''}line {line}: " if line is not None else ""
        super().__init__(f"{where}{message}")
        self.line = line
        self.file = file
        self.reason = message


MAX_POSITION_DIGITS = 18  # every 18-digit position fits the store's bigint


def whole_number(text: str, max_digits: int = MAX_POSITION_DIGITS) -> int | None:
    """``text`` as a whole number of at most ``max_digits`` ASCII digits, or None
    (``str.isdigit`` also admits '²', which ``int`` refuses)."""
    if text.isascii() and text.isdigit() and len(text) <= max_digits:
        return int(text)
    return None


def refuse_nul(line: bytes | str, number: int, file: str = "") -> None:
    """A NUL in a text file is an error of that line (PostgreSQL text cannot hold one)."""
    if (isinstance(line, str) and "\x00" in line) or (isinstance(line, bytes) and b"\0" in line):
        raise FormatError("NUL character in the line", number, file)


class Inflater:
    """Transparent gzip/BGZF decompression: BGZF is many gzip members back to back.

    Output comes in pieces of at most ``PIECE_BYTES`` (a 200 KB gzip bomb inflates to
    hundreds of MB; it is never one bytes object), and ``max_output`` bounds the total."""

    def __init__(self, max_output: int | None = None) -> None:
        self._gzip: bool | None = None
        self._head = b""
        self._inflate = zlib.decompressobj(wbits=31)
        self._max_output = max_output
        self.output_bytes = 0
        self._in_member = False  # a gzip member has begun and not reached its end

    def pieces(self, data: bytes) -> Iterator[bytes]:
        if self._gzip is None:
            self._head += data
            if len(self._head) < 2:
                return
            self._gzip = self._head[:2] == b"\x1f\x8b"
            data, self._head = self._head, b""
        if not self._gzip:
            for start in range(0, len(data), PIECE_BYTES):
                yield self._counted(data[start : start + PIECE_BYTES])
            return
        try:
            while data:
                self._in_member = True
                yield self._counted(self._inflate.decompress(data, PIECE_BYTES))
                data = self._inflate.unconsumed_tail
                if self._inflate.eof:
                    data = self._inflate.unused_data
                    self._inflate = zlib.decompressobj(wbits=31)
                    self._in_member = False
        except zlib.error as exc:
            raise FormatError(f"corrupt gzip/BGZF data ({exc})") from None

    def _counted(self, piece: bytes) -> bytes:
        self.output_bytes += len(piece)
        if self._max_output is not None and self.output_bytes > self._max_output:
            raise FormatError(f"decompressed data exceeds {self._max_output} bytes")
        return piece

    def feed(self, data: bytes) -> bytes:
        return b"".join(self.pieces(data))

    def finish(self) -> bytes:
        if self._gzip is None:  # fewer than two bytes in total
            data, self._head = self._head, b""
            return self._counted(data)
        if self._gzip and self._in_member:
            # A cut at a flush point inflates to whole lines: without this the file's first
            # part was imported as if it were all of it (ADR 0358).
            raise FormatError("truncated gzip/BGZF data: the file ends inside a compressed member")
        return b""


class LineReader:
    """Complete lines (without ``\\n``) of a plain or gzip/BGZF byte stream fed in pieces."""

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES, max_bytes: int | None = None) -> None:
        self._inflater = Inflater(max_bytes)
        self._max_line = max_line_bytes
        self._partial: list[bytes] = []  # pieces of the unfinished line
        self._partial_bytes = 0

    def feed(self, data: bytes) -> Iterator[list[bytes]]:
        """The lines each inflated piece completes (a list per piece, possibly empty)."""
        for piece in self._inflater.pieces(data):
            if piece:
                yield self._lines(piece)

    def _lines(self, piece: bytes) -> list[bytes]:
        cut = piece.rfind(b"\n")
        first_end = piece.find(b"\n") if cut >= 0 else len(piece)
        if self._partial_bytes + first_end > self._max_line:
            raise FormatError(f"line longer than {self._max_line} bytes")
        if cut < 0:
            self._partial.append(piece)
            self._partial_bytes += len(piece)
            return []
        head = b"".join((*self._partial, piece[:cut])) if self._partial else piece[:cut]
        rest = piece[cut + 1 :]
        self._partial, self._partial_bytes = ([rest], len(rest)) if rest else ([], 0)
        return head.split(b"\n")

    def finish(self) -> list[bytes]:
        """The last lines: what remains unfinished, and what the inflater still held."""
        tail = b"".join((*self._partial, self._inflater.finish()))
        self._partial, self._partial_bytes = [], 0
        if len(tail) > self._max_line:
            raise FormatError(f"line longer than {self._max_line} bytes")
        return tail.split(b"\n") if tail else []
