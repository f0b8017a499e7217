"""Readers of HapMap (TASSEL) and Flapjack genotype files, with the VCF reader's bounds.

Both are push parsers over ``streams.LineReader`` (plain or gzip, lines of bounded length,
decompressed size capped) and raise ``FormatError`` naming the line. HapMap is
variant-major and yields blocks as lines arrive. A Flapjack genotype file is
sample-major, so its rows are coded (int8 allele slots as wide as the sample's ploidy:
``A/T/T/T`` is tetraploid, ADR 0296) into a temporary file and read back by blocks of
variants at the end: memory is one row and one block, the transposition goes through
disk (ADR 0271).
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

import numpy as np
from bijmantra.genomics.calls import ABSENT, MAX_ALLELES, MAX_PLOIDY, MISSING, CallMatrix
from bijmantra.genomics.formats import BLOCK_BYTES, BLOCK_LINES, VariantBlock
from bijmantra.genomics.streams import (
    MAX_LINE_BYTES,
    FormatError,
    LineReader,
    refuse_nul,
    whole_number,
)
from numpy.typing import NDArray

HAPMAP_FIXED = (
    11  # rs# alleles chrom pos strand assembly# center protLSID assayLSID panelLSID QCcode
)
# TASSEL's one-letter heterozygotes (IUPAC)
IUPAC = {"R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT", "M": "AC"}
FLAPJACK_MISSING = frozenset({"", "-", "?", "N", "NA"})
BLOCK_VARIANTS = 4096


def _block(
    chrom: list[str],
    pos: list[int],
    ids: list[str],
    alleles_of: list[list[str]],
    calls: NDArray[np.int8],
) -> VariantBlock:
    """A block from its sites (REF first in each allele list) and calls (v, s, width)."""
    matrix = CallMatrix(calls, np.zeros(calls.shape[:2], dtype=np.bool_), {})
    n_alt = np.asarray([len(a) - 1 for a in alleles_of], dtype=np.int64)
    return VariantBlock(
        chrom,
        np.asarray(pos, dtype=np.int64),
        ids,
        [a[0] for a in alleles_of],
        [",".join(a[1:]) for a in alleles_of],
        matrix.dosages(n_alt),
        matrix,
    )


@dataclass
class _Lines:
    """Bounded lines with their numbers; stream errors name the line being read."""

    max_line_bytes: int = MAX_LINE_BYTES
    max_decompressed_bytes: int | None = None
    lines_read: int = 0
    _reader: LineReader = field(init=False)

    def __post_init__(self) -> None:
        self._reader = LineReader(self.max_line_bytes, self.max_decompressed_bytes)

    def _numbered(self, lines: list[bytes]) -> Iterator[tuple[int, str]]:
        for line in lines:
            self.lines_read += 1
            text = line.decode("utf-8", "replace").rstrip("\r")
            refuse_nul(text, self.lines_read)
            if text.strip():
                yield self.lines_read, text

    def _read(self, data: bytes | None) -> Iterator[tuple[int, str]]:
        try:
            pieces = [self._reader.finish()] if data is None else list(self._reader.feed(data))
        except FormatError as error:
            raise FormatError(error.reason, self.lines_read + 1, error.file) from None
        for lines in pieces:
            yield from self._numbered(lines)


@dataclass
class HapMapParser(_Lines):
    """Feed bytes with :meth:`feed`, call :meth:`finish` at the end; both return blocks."""

    block_lines: int = BLOCK_LINES
    samples: list[str] | None = None
    skipped: Counter[str] = field(default_factory=Counter)
    _pending: list[tuple[int, list[str]]] = field(default_factory=list)
    _pending_bytes: int = 0

    def feed(self, data: bytes) -> list[VariantBlock]:
        return self._take(self._read(data), final=False)

    def finish(self) -> list[VariantBlock]:
        blocks = self._take(self._read(None), final=True)
        if self.samples is None:
            raise FormatError("no header line (rs# alleles chrom pos …): not a HapMap file", 1)
        return blocks

    def _take(self, lines: Iterator[tuple[int, str]], *, final: bool) -> list[VariantBlock]:
        blocks = []
        for number, line in lines:
            columns = line.split("\t")
            if self.samples is None:
                self.samples = _hapmap_samples(columns, number)
                continue
            if len(columns) != HAPMAP_FIXED + len(self.samples):
                raise FormatError(
                    f"expected {HAPMAP_FIXED + len(self.samples)} tab-separated columns, "
                    f"found {len(columns)}",
                    number,
                )
            self._pending.append((number, columns))
            self._pending_bytes += len(line)
            if len(self._pending) >= self.block_lines or self._pending_bytes >= BLOCK_BYTES:
                blocks.append(self._flush())
        if final and self._pending:
            blocks.append(self._flush())
        return blocks

    def _flush(self) -> VariantBlock:
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        assert self.samples is not None
        rows = [_hapmap_line(columns, number, self.samples) for number, columns in pending]
        width = max(r[4].shape[1] for r in rows)
        calls = np.full((len(rows), len(self.samples), width), ABSENT, dtype=np.int8)
        for k, row in enumerate(rows):
            calls[k, :, : row[4].shape[1]] = row[4]
        return _block(
            [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
            [r[3] for r in rows], calls,
        )  # fmt: skip


def _hapmap_samples(columns: list[str], number: int) -> list[str]:
    if columns[0].lower() != "rs#" or len(columns) <= HAPMAP_FIXED:
        raise FormatError("not a HapMap header line (rs# alleles chrom pos … then samples)", number)
    return _unique_names(columns[HAPMAP_FIXED:], number)


def _unique_names(names: list[str], number: int) -> list[str]:
    duplicated = sorted(n for n, count in Counter(names).items() if count > 1)
    if duplicated or any(not n.strip() for n in names):
        raise FormatError(f"names must be unique and non-blank ({duplicated[:3]})", number)
    return names


def _position(text: str, number: int) -> int:
    position = whole_number(text)
    if position is None:
        raise FormatError(f"position must be a whole number of bases, got {text[:20]!r}", number)
    return position


def _hapmap_line(
    columns: list[str], number: int, samples: list[str]
) -> tuple[str, int, str, list[str], NDArray[np.int8]]:
    """One line: chrom, pos, id, alleles (REF first), calls ``(samples, width)``."""
    alleles = [a.upper() for a in columns[1].split("/") if a.upper() != "N"]
    if not alleles or any(len(a) != 1 for a in alleles) or len(set(alleles)) != len(alleles):
        raise FormatError(
            f"alleles {columns[1][:40]!r} must be distinct single characters (A/G, +/-)", number
        )
    if len(alleles) > MAX_ALLELES:
        raise FormatError(f"{len(alleles)} alleles (at most {MAX_ALLELES})", number)
    index = {a: i for i, a in enumerate(alleles)}
    cells = columns[HAPMAP_FIXED:]
    spelled: dict[str, list[int]] = {}
    for sample, cell in zip(samples, cells, strict=True):
        if cell not in spelled:
            spelled[cell] = _hapmap_call(cell.upper(), index, sample, number)
    width = max(len(c) for c in spelled.values())
    table = np.full((len(spelled), width), ABSENT, dtype=np.int8)
    at = {}
    for k, (cell, call) in enumerate(spelled.items()):
        table[k, : len(call)] = call
        at[cell] = k
    picked = np.fromiter((at[c] for c in cells), np.intp, len(cells))
    name = "" if columns[0] in ("", ".") else columns[0]
    return columns[2], _position(columns[3], number), name, alleles, table[picked]


def _hapmap_call(cell: str, index: dict[str, int], sample: str, number: int) -> list[int]:
    """``AG``/``AAGG`` (a base per allele, ``N`` missing), or one letter: a homozygote,
    an IUPAC heterozygote, ``N`` missing (diploid)."""
    if len(cell) == 1:
        cell = IUPAC.get(cell, cell * 2)
    if not cell or len(cell) > MAX_PLOIDY or any(c != "N" and c not in index for c in cell):
        raise FormatError(
            f"genotype {cell[:20]!r} for sample {sample!r}: alleles must be among "
            f"{'/'.join(index)} or N, at most {MAX_PLOIDY}",
            number,
        )
    return [MISSING if c == "N" else index[c] for c in cell]


# ---- Flapjack -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FlapjackMap:
    chrom: dict[str, str]
    pos: dict[str, int]


def read_flapjack_map(data: bytes) -> FlapjackMap:
    """``marker chromosome position`` lines (``#`` comments); positions whole bases."""
    chrom: dict[str, str] = {}
    pos: dict[str, int] = {}
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        refuse_nul(line, number, ".map")
        columns = line.rstrip("\r").split("\t")
        if len(columns) != 3:
            raise FormatError(f"expected 3 columns, found {len(columns)}", number, ".map")
        marker = columns[0]
        if marker in chrom:
            raise FormatError(f"marker {marker[:40]!r} is listed twice", number, ".map")
        try:
            pos[marker] = _position(columns[2].strip(), number)
        except FormatError as error:
            raise FormatError(error.reason, number, ".map") from None
        chrom[marker] = columns[1]
    if not chrom:
        raise FormatError("no markers", None, ".map")
    return FlapjackMap(chrom, pos)


@dataclass
class FlapjackReader(_Lines):
    """Feed the genotype file with :meth:`feed`, then :meth:`finish`; then :meth:`blocks`
    reads the coded rows back by variants. Markers absent from the map are skipped."""

    genetic_map: FlapjackMap = field(default_factory=lambda: FlapjackMap({}, {}))
    block_variants: int = BLOCK_VARIANTS
    samples: list[str] = field(default_factory=list)
    markers: list[str] | None = None
    skipped: Counter[str] = field(default_factory=Counter)
    _alleles: list[dict[str, int]] = field(default_factory=list)
    _widths: list[int] = field(default_factory=list)  # each sample row's ploidy
    _spool: IO[bytes] = field(default_factory=tempfile.TemporaryFile)

    def feed(self, data: bytes) -> None:
        for number, line in self._read(data):
            self._line(number, line)

    def finish(self) -> list[str]:
        for number, line in self._read(None):
            self._line(number, line)
        if self.markers is None:
            raise FormatError("no marker line: not a Flapjack genotype file", 1, ".genotype")
        if not self.samples:
            raise FormatError("no sample rows", None, ".genotype")
        _unique_names(self.samples, self.lines_read)
        return self.samples

    def _line(self, number: int, line: str) -> None:
        if line.startswith("#"):
            return
        columns = line.split("\t")
        if self.markers is None:
            self.markers = _unique_names(columns[1:], number)
            self._alleles = [{} for _ in self.markers]
            return
        if len(columns) != len(self.markers) + 1:
            raise FormatError(
                f"expected {len(self.markers) + 1} tab-separated columns, found {len(columns)}",
                number,
            )
        cells = [None if c in FLAPJACK_MISSING else c.split("/") for c in columns[1:]]
        ploidy = max([2, *(len(tokens) for tokens in cells if tokens)])
        if ploidy > MAX_PLOIDY:
            raise FormatError(
                f"sample {columns[0]!r}: a genotype of more than {MAX_PLOIDY} alleles "
                "joined by '/'",
                number,
            )
        row = np.full((len(self.markers), ploidy), MISSING, dtype=np.int8)
        for j, tokens in enumerate(cells):
            if tokens:
                row[j] = self._call(j, tokens, ploidy, columns[0], number)
        self.samples.append(columns[0])
        self._widths.append(ploidy)
        self._spool.write(row.tobytes())

    def _call(
        self, marker: int, tokens: list[str], ploidy: int, sample: str, number: int
    ) -> list[int]:
        """A cell's allele indexes, ``ploidy`` wide: one allele is a homozygote of the
        sample's ploidy (the most alleles any of its cells joins), fewer alleles than that
        leave the rest of the call absent."""
        if not all(tokens):
            raise FormatError(
                f"genotype {'/'.join(tokens)[:20]!r} for sample {sample!r}: an empty allele",
                number,
            )
        known = self._alleles[marker]
        for token in tokens:
            if token not in known:
                if len(known) >= MAX_ALLELES:
                    raise FormatError(f"more than {MAX_ALLELES} alleles", number)
                known[token] = len(known)
        if len(tokens) == 1:
            return [known[tokens[0]]] * ploidy
        return [known[t] for t in tokens] + [ABSENT] * (ploidy - len(tokens))

    def alleles(self, marker: int) -> list[str]:
        """A marker's alleles in order of first appearance (the first is stored as REF)."""
        return list(self._alleles[marker])

    def blocks(self) -> Iterator[VariantBlock]:
        """Blocks of variants, in the file's marker order, read back from the spool."""
        assert self.markers is not None
        self._spool.flush()
        mapped = [j for j, m in enumerate(self.markers) if m in self.genetic_map.chrom]
        self.skipped["not_in_map"] = len(self.markers) - len(mapped)
        if not self.skipped["not_in_map"]:
            del self.skipped["not_in_map"]
        for start in range(0, len(mapped), self.block_variants):
            picked = mapped[start : start + self.block_variants]
            calls = self._block_calls(picked)
            names = [self.markers[j] for j in picked]
            alleles = [list(self._alleles[j]) or ["N"] for j in picked]
            yield _block(
                [self.genetic_map.chrom[m] for m in names],
                [self.genetic_map.pos[m] for m in names],
                names,
                alleles,
                calls,
            )

    def _block_calls(self, picked: list[int]) -> NDArray[np.int8]:
        """The picked markers' calls ``(variants, samples, ploidy)`` from the spool: one
        gather when every sample has one ploidy, else row by row, the narrower padded."""
        assert self.markers is not None
        n_markers, widths = len(self.markers), self._widths
        if len(set(widths)) == 1:
            shape = (len(widths), n_markers, widths[0])
            coded = np.memmap(self._spool, np.int8, "r", shape=shape)
            return np.ascontiguousarray(coded[:, picked, :].transpose(1, 0, 2))
        calls = np.full((len(picked), len(widths), max(widths)), ABSENT, dtype=np.int8)
        flat, offset = np.memmap(self._spool, np.int8, "r"), 0
        for s, width in enumerate(widths):
            row = flat[offset : offset + n_markers * width].reshape(n_markers, width)
            calls[:, s, :width] = row[picked]
            offset += n_markers * width
        return calls

    def close(self) -> None:
        self._spool.close()
