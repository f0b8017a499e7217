"""Readers of genotype files: VCF (plain or BGZF/gzip) and PLINK 1 binary (.bed/.bim/.fam).

Push parsers: the caller feeds bytes as they arrive (an upload, a file read in blocks) and
gets back blocks of variants with their calls (``bijmantra.genomics.calls.CallMatrix``:
any number of alleles, any ploidy up to 8, phase, missing alleles, DS/GQ/DP) and the
int8 dosage view the kernels read ``(n_variants, n_samples)`` (copies of the ALT allele at
biallelic sites, -1 missing). Nothing is held beyond one block, so files larger than memory
stream through. Lines whose calls are all single-digit ``a/b`` or ``a|b`` with GT alone are
decoded with vectorised NumPy over a whole block; other lines sample by sample.

Every problem raises :class:`FormatError` carrying the 1-based line (or record) number.
VCF sites without GT are skipped and counted in ``skipped``; PLINK variants whose alleles
are not single nucleotides too (``not_snp``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from bijmantra.genomics._vcf import parse_diploid_gt
from bijmantra.genomics.calls import ABSENT, FIELDS, MAX_ALLELES, MAX_PLOIDY, MISSING, CallMatrix
from bijmantra.genomics.streams import (
    MAX_LINE_BYTES,
    MAX_POSITION_DIGITS,
    FormatError,
    LineReader,
    refuse_nul,
    whole_number,
)
from numpy.typing import NDArray

BLOCK_LINES = 2048
BLOCK_BYTES = 64 << 20  # a block is cut at this many bytes of lines even before BLOCK_LINES
_RETRY = 2  # a line the C decoder leaves to the line-by-line one (_vcf.LineStatus)


@dataclass(frozen=True, slots=True)
class VariantBlock:
    """Consecutive kept variants with their dosages (rows = variants, columns = samples)."""

    chrom: list[str]
    pos: NDArray[np.int64]
    ids: list[str]
    ref: list[str]
    alt: list[str]
    dosages: NDArray[np.int8]
    calls: CallMatrix | None = None  # None: the dosages are the calls (diploid, unphased)

    def __len__(self) -> int:
        return len(self.chrom)


@dataclass
class VcfParser:
    """Feed bytes with :meth:`feed`, call :meth:`finish` at the end; both return blocks."""

    block_lines: int = BLOCK_LINES
    max_line_bytes: int = MAX_LINE_BYTES
    max_decompressed_bytes: int | None = None
    samples: list[str] | None = None
    skipped: Counter[str] = field(default_factory=Counter)
    lines_read: int = 0
    contigs: dict[str, int | None] = field(default_factory=dict)  # ##contig ID -> length
    _reader: LineReader = field(init=False)
    _pending: list[tuple[int, bytes]] = field(default_factory=list)
    _pending_bytes: int = 0

    def __post_init__(self) -> None:
        self._reader = LineReader(self.max_line_bytes, self.max_decompressed_bytes)

    def feed(self, data: bytes) -> list[VariantBlock]:
        try:
            return [b for lines in self._reader.feed(data) for b in self._take(lines, final=False)]
        except FormatError as error:
            raise self._at_line(error) from None

    def _at_line(self, error: FormatError) -> FormatError:
        """Stream errors (size caps, corrupt gzip) name the line being read when they happen."""
        if error.line is not None:
            return error
        return FormatError(error.reason, self.lines_read + 1, error.file)

    def finish(self) -> list[VariantBlock]:
        try:
            tail = self._reader.finish()
        except FormatError as error:
            raise self._at_line(error) from None
        blocks = self._take(tail, final=True)
        if self.samples is None:
            raise FormatError("no #CHROM header line: not a VCF file", self.lines_read or 1)
        return blocks

    def _take(self, lines: list[bytes], *, final: bool) -> list[VariantBlock]:
        blocks = []
        for line in lines:
            self.lines_read += 1
            number = self.lines_read
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                continue
            refuse_nul(line, number)
            if self.samples is None:
                self._header_line(line, number)
                continue
            if line[:1] == b"#":
                raise FormatError("header line after the #CHROM line", number)
            self._pending.append((number, line))
            self._pending_bytes += len(line)
            if len(self._pending) >= self.block_lines or self._pending_bytes >= BLOCK_BYTES:
                blocks.extend(self._flush())
        if final:
            blocks.extend(self._flush())
        return blocks

    def _header_line(self, line: bytes, number: int) -> None:
        if number == 1 and not line.startswith(b"##fileformat=VCF"):
            raise FormatError("not a VCF file (expected ##fileformat=VCF…)", number)
        if line.startswith(b"##contig=<"):
            self._contig(line)
        if line.startswith(b"##"):
            return
        if not line.startswith(b"#CHROM"):
            raise FormatError("data line before the #CHROM header line", number)
        columns = line.decode("utf-8", "replace").split("\t")
        if len(columns) < 10 or columns[8] != "FORMAT":
            raise FormatError("the #CHROM line names no FORMAT column and samples", number)
        names = columns[9:]
        duplicated = sorted(n for n, count in Counter(names).items() if count > 1)
        if duplicated or any(not n.strip() for n in names):
            raise FormatError(
                f"sample names must be unique and non-blank ({duplicated[:3]})", number
            )
        self.samples = names

    def _contig(self, line: bytes) -> None:
        """``##contig=<ID=chr1,length=248956422,…>``: the ID and its length when given."""
        fields = dict(
            part.split("=", 1)
            for part in line[10:].rstrip(b">").decode("utf-8", "replace").split(",")
            if "=" in part
        )
        name, length = fields.get("ID", "").strip(), fields.get("length", "").strip()
        if name:
            self.contigs[name] = whole_number(length)

    def _flush(self) -> list[VariantBlock]:
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        if not pending:
            return []
        assert self.samples is not None
        n = len(self.samples)
        sites = _Sites()
        fast: list[tuple[int, bytes]] = []
        slow: list[tuple[int, list[bytes], bytes]] = []
        for number, line in pending:
            parts = line.split(b"\t", 9)
            if len(parts) < 10:
                raise FormatError(
                    f"expected {9 + n} tab-separated columns, found {len(parts)}", number
                )
            c, p, i, r, a, _qual, _filt, _info, fmt, rest = parts
            if not p.isdigit() or len(p) > MAX_POSITION_DIGITS:
                raise FormatError(
                    f"POS must be a positive integer of at most {MAX_POSITION_DIGITS} digits, "
                    f"got {p[:20].decode(errors='replace')!r}",
                    number,
                )
            keys = fmt.split(b":")
            if keys[0] != b"GT":
                self.skipped["no_gt"] += 1
                continue
            row = sites.add(c, p, i, r, a, number)
            if len(keys) > 1 and not any(k.decode() in FIELDS for k in keys):
                rest = b"\t".join(s.split(b":", 1)[0] for s in rest.split(b"\t"))
                keys = keys[:1]
            if len(keys) == 1 and len(rest) == 4 * n - 1:
                fast.append((row, rest))
            else:
                slow.append((row, keys, rest))
        if not sites.numbers:
            return []
        decoded = _decode_fast(sites, fast, n)
        if not slow and decoded.plain:  # the dosages say every call: no call matrix
            dosages, calls = decoded.dosages, None
        else:
            calls = _decode_block(sites, decoded, slow, n, self.samples)
            dosages = calls.dosages(np.asarray(sites.n_alt, dtype=np.int64))
        return [
            VariantBlock(
                sites.chrom,
                np.asarray(sites.pos, dtype=np.int64),
                sites.ids,
                sites.ref,
                sites.alt,
                dosages,
                calls,
            )
        ]


@dataclass
class _Sites:
    """The fixed columns of a block's kept lines."""

    chrom: list[str] = field(default_factory=list)
    pos: list[int] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    ref: list[str] = field(default_factory=list)
    alt: list[str] = field(default_factory=list)
    n_alt: list[int] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)

    def add(self, c: bytes, p: bytes, i: bytes, r: bytes, a: bytes, number: int) -> int:
        n_alt = 0 if a == b"." else a.count(b",") + 1
        if n_alt >= MAX_ALLELES:
            raise FormatError(f"{n_alt} ALT alleles (at most {MAX_ALLELES - 1})", number)
        try:
            chrom, name, ref, alt = c.decode(), i.decode(), r.decode(), a.decode()
        except UnicodeDecodeError:
            raise FormatError("CHROM, ID, REF and ALT must be UTF-8 text", number) from None
        self.chrom.append(chrom)
        self.pos.append(int(p))
        self.ids.append("" if name == "." else name)
        self.ref.append(ref.upper())
        self.alt.append("" if n_alt == 0 else alt.upper())
        self.n_alt.append(n_alt)
        self.numbers.append(number)
        return len(self.numbers) - 1


def _decode_block(
    sites: _Sites,
    decoded: _FastLines,
    slow: list[tuple[int, list[bytes], bytes]],
    n: int,
    samples: list[str],
) -> CallMatrix:
    """The block's call matrix: the fast lines as decoded, the others one by one."""
    decoded_slow = [
        (row, _decode_line(rest, keys, n, sites.n_alt[row], sites.numbers[row], samples))
        for row, keys, rest in [*slow, *((row, [b"GT"], rest) for row, rest in decoded.retry)]
    ]
    width = max([2, *(d[0].shape[1] for _, d in decoded_slow)])
    names = [k for k in FIELDS if any(k in d[2] for _, d in decoded_slow)]
    n_rows = len(sites.numbers)
    alleles = np.full((n_rows, n, width), ABSENT, dtype=np.int8)
    phased = np.zeros((n_rows, n), dtype=np.bool_)
    fields = {k: np.full((n_rows, n), np.nan, dtype=np.float32) for k in names}
    alleles[decoded.rows, :, :2] = decoded.alleles
    phased[decoded.rows] = decoded.phased
    for row, (line_alleles, line_phased, line_fields) in decoded_slow:
        alleles[row, :, : line_alleles.shape[1]] = line_alleles
        phased[row] = line_phased
        for k, values in line_fields.items():
            fields[k][row] = values
    return CallMatrix(alleles, phased, fields)


@dataclass(frozen=True, slots=True)
class _FastLines:
    """GT-only lines of single-digit diploid calls, decoded by the C kernel; ``plain``
    when every line was decoded and the dosages say all its calls."""

    rows: NDArray[np.intp]
    alleles: NDArray[np.int8]
    phased: NDArray[np.bool_]
    dosages: NDArray[np.int8]
    plain: bool
    retry: list[tuple[int, bytes]]


def _decode_fast(sites: _Sites, fast: list[tuple[int, bytes]], n: int) -> _FastLines:
    """Decode ``a/b\ta|b…`` rows in C; rows that do not fit go back for the line-by-line
    decoder (which names the bad sample)."""
    starts = np.zeros(len(fast) + 1, dtype=np.int64)
    np.cumsum([len(rest) for _, rest in fast], out=starts[1:])
    n_alt = np.asarray([sites.n_alt[row] for row, _ in fast], dtype=np.int16)
    alleles = np.empty((len(fast), n, 2), dtype=np.int8)
    phased = np.zeros((len(fast), n), dtype=np.bool_)
    dosages = np.empty((len(fast), n), dtype=np.int8)
    status = np.empty(len(fast), dtype=np.uint8)
    text = b"".join(rest for _, rest in fast)
    parse_diploid_gt(text, starts, n_alt, alleles, phased.view(np.uint8), dosages, status)
    keep = np.flatnonzero(status != _RETRY)
    rows = np.asarray([fast[k][0] for k in keep], dtype=np.intp)
    plain = keep.size == len(fast) and not status.any()
    retry = [fast[k] for k in np.flatnonzero(status == _RETRY)]
    return _FastLines(rows, alleles[keep], phased[keep], dosages[keep], plain, retry)


def _decode_line(
    rest: bytes, keys: list[bytes], n: int, n_alt: int, number: int, samples: list[str]
) -> tuple[NDArray[np.int8], NDArray[np.bool_], dict[str, NDArray[np.float32]]]:
    """One line's calls of any ploidy, with the FORMAT values the store keeps."""
    values = rest.split(b"\t")
    if len(values) != n:
        raise FormatError(
            f"expected {9 + n} tab-separated columns, found {9 + len(values)}", number
        )
    wanted = {k: keys.index(k.encode()) for k in FIELDS if k.encode() in keys}
    calls: list[list[int]] = []
    phased = np.zeros(n, dtype=np.bool_)
    fields = {k: np.full(n, np.nan, dtype=np.float32) for k in wanted}
    for column, value in enumerate(values):
        sub = value.split(b":")
        gt = sub[0]
        tokens = gt.replace(b"|", b"/").split(b"/")
        try:
            alleles = [MISSING if t == b"." else int(t) if t.isdigit() else -9 for t in tokens]
        except ValueError:
            alleles = [-9]
        if not gt or len(tokens) > MAX_PLOIDY or any(x == -9 or x > n_alt for x in alleles):
            shown = gt[:20].decode(errors="replace")
            raise FormatError(
                f"invalid genotype {shown!r} for sample {samples[column]!r} "
                f"(alleles 0..{n_alt} or '.', ploidy at most {MAX_PLOIDY})",
                number,
            )
        calls.append(alleles)
        phased[column] = b"|" in gt
        for key, at in wanted.items():
            if at < len(sub) and sub[at] not in (b"", b"."):
                fields[key][column] = _number(sub[at], key, samples[column], number)
    width = max(len(c) for c in calls)
    out = np.full((n, width), ABSENT, dtype=np.int8)
    for column, alleles in enumerate(calls):
        out[column, : len(alleles)] = alleles
    return out, phased, fields


def _number(text: bytes, key: str, sample: str, number: int) -> float:
    try:
        return float(text)
    except ValueError:
        shown = text[:20].decode(errors="replace")
        raise FormatError(
            f"{key} {shown!r} for sample {sample!r} is not a number", number
        ) from None


# ---- PLINK 1 binary --------------------------------------------------------------------

BED_MAGIC = b"\x6c\x1b\x01"  # SNP-major mode
# PLINK 2-bit codes, low bits first: 00 hom A1, 01 missing, 10 het, 11 hom A2. A1 is ALT.
_BED_CODE_DOSAGE = np.array([2, -1, 1, 0], dtype=np.int8)
BED_LUT = _BED_CODE_DOSAGE[(np.arange(256)[:, None] >> (2 * np.arange(4))) & 3]


def _six_column_rows(data: bytes, suffix: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, columns) of each non-blank line of a .fam or .bim file: both have six
    whitespace-separated columns."""
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        if not line.strip():
            continue
        refuse_nul(line, number, suffix)
        columns = line.split()
        if len(columns) != 6:
            raise FormatError(f"expected 6 columns, found {len(columns)}", number, suffix)
        yield number, columns


def read_fam(data: bytes) -> list[str]:
    """Sample names (IID, column 2) from a .fam file."""
    names = [columns[1] for _, columns in _six_column_rows(data, ".fam")]
    if not names:
        raise FormatError("no samples", None, ".fam")
    if len(set(names)) != len(names):
        raise FormatError("sample IIDs must be unique", None, ".fam")
    return names


@dataclass(frozen=True, slots=True)
class BimTable:
    chrom: list[str]
    ids: list[str]
    pos: NDArray[np.int64]
    alt: list[str]
    ref: list[str]
    keep: NDArray[np.bool_]
    skipped: Counter[str]

    def __len__(self) -> int:
        return len(self.chrom)


def read_bim(data: bytes) -> BimTable:
    """Variants from a .bim file; ALT = A1 (column 5), REF = A2 (column 6)."""
    chrom, ids, pos, alt, ref, keep = [], [], [], [], [], []
    skipped: Counter[str] = Counter()
    for number, (c, i, _cm, p, a1, a2) in _six_column_rows(data, ".bim"):
        if whole_number(p) is None:
            raise FormatError(
                f"position must be a non-negative integer, got {p[:20]!r}", number, ".bim"
            )
        snp = len(a1) == 1 and len(a2) == 1 and a1.upper() in "ACGT" and a2.upper() in "ACGT"
        if not snp:
            skipped["not_snp"] += 1
        chrom.append(c)
        ids.append(i)
        pos.append(int(p))
        alt.append(a1.upper())
        ref.append(a2.upper())
        keep.append(snp)
    if not chrom:
        raise FormatError("no variants", None, ".bim")
    return BimTable(
        chrom, ids, np.asarray(pos, dtype=np.int64), alt, ref, np.asarray(keep), skipped
    )


@dataclass
class BedDecoder:
    """Decode a SNP-major .bed stream into dosage blocks of the kept .bim variants."""

    bim: BimTable
    n_samples: int
    block_variants: int = 4096
    _buffer: bytearray = field(default_factory=bytearray)
    _magic_checked: bool = False
    _next_variant: int = 0

    @property
    def bytes_per_variant(self) -> int:
        return (self.n_samples + 3) // 4

    def feed(self, data: bytes) -> list[VariantBlock]:
        self._buffer += data
        if not self._magic_checked:
            if len(self._buffer) < 3:
                return []
            if bytes(self._buffer[:3]) != BED_MAGIC:
                raise FormatError("not a SNP-major PLINK .bed file (bad magic bytes)", None, ".bed")
            del self._buffer[:3]
            self._magic_checked = True
        return self._decode(final=False)

    def finish(self) -> list[VariantBlock]:
        if not self._magic_checked:
            raise FormatError("file too short for a PLINK .bed header", None, ".bed")
        blocks = self._decode(final=True)
        if self._buffer or self._next_variant != len(self.bim):
            expected = 3 + len(self.bim) * self.bytes_per_variant
            raise FormatError(
                f"size does not match {len(self.bim)} variants x {self.n_samples} samples "
                f"({expected} bytes expected)",
                None,
                ".bed",
            )
        return blocks

    def _decode(self, *, final: bool) -> list[VariantBlock]:
        width = self.bytes_per_variant
        blocks = []
        while True:
            available = min(len(self._buffer) // width, len(self.bim) - self._next_variant)
            if available == 0 or (available < self.block_variants and not final):
                break
            take = min(available, self.block_variants)
            raw = np.frombuffer(bytes(self._buffer[: take * width]), dtype=np.uint8).reshape(
                take, width
            )
            del self._buffer[: take * width]
            start, self._next_variant = self._next_variant, self._next_variant + take
            dosages = BED_LUT[raw].reshape(take, width * 4)[:, : self.n_samples]
            keep = self.bim.keep[start : start + take]
            rows = np.flatnonzero(keep)
            if rows.size:
                pick = [start + int(r) for r in rows]
                blocks.append(
                    VariantBlock(
                        [self.bim.chrom[i] for i in pick],
                        self.bim.pos[pick],
                        [self.bim.ids[i] for i in pick],
                        [self.bim.ref[i] for i in pick],
                        [self.bim.alt[i] for i in pick],
                        np.ascontiguousarray(dosages[rows]),
                    )
                )
        return blocks
