"""Readers of genotype files: VCF (plain or BGZF/gzip) and PLINK 1 binary (.bed/.bim/.fam).

Push parsers: the caller feeds bytes as they arrive (an upload, a file read in blocks) and
gets back blocks of biallelic SNPs as int8 dosage matrices ``(n_variants, n_samples)`` in the
package convention (copies of the ALT allele, -1 missing). Nothing is held beyond one block,
so files larger than memory stream through. Genotype columns are decoded with vectorised
NumPy over a whole block of lines; only the nine fixed VCF columns are split per line.

Every problem raises :class:`FormatError` carrying the 1-based line (or record) number.
Records that are valid but out of scope (indels, multi-allelic sites, sites without GT)
are skipped and counted in ``skipped`` by reason.
"""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

BLOCK_LINES = 2048
_NUCLEOTIDES = frozenset(b"ACGTacgt")
_ZERO, _ONE, _DOT = ord("0"), ord("1"), ord(".")
_TAB, _SLASH, _PIPE = ord("\t"), ord("/"), ord("|")


class FormatError(ValueError):
    """A malformed input file; ``line`` is 1-based (a VCF/.bim/.fam line, or a .bed record)."""

    def __init__(self, message: str, line: int | None = None, file: str = "") -> None:
        where = f"{file + ' ' if file else ''}line {line}: " if line is not None else ""
        super().__init__(f"{where}{message}")
        self.line = line
        self.file = file
        self.reason = message


@dataclass(frozen=True, slots=True)
class VariantBlock:
    """Consecutive kept variants with their dosages (rows = variants, columns = samples)."""

    chrom: list[str]
    pos: NDArray[np.int64]
    ids: list[str]
    ref: list[str]
    alt: list[str]
    dosages: NDArray[np.int8]

    def __len__(self) -> int:
        return len(self.chrom)


class Inflater:
    """Transparent gzip/BGZF decompression: BGZF is many gzip members back to back."""

    def __init__(self) -> None:
        self._gzip: bool | None = None
        self._head = b""
        self._inflate = zlib.decompressobj(wbits=31)

    def feed(self, data: bytes) -> bytes:
        if self._gzip is None:
            self._head += data
            if len(self._head) < 2:
                return b""
            self._gzip = self._head[:2] == b"\x1f\x8b"
            data, self._head = self._head, b""
        if not self._gzip:
            return data
        out = []
        try:
            while data:
                out.append(self._inflate.decompress(data))
                if not self._inflate.eof:
                    break
                data = self._inflate.unused_data
                self._inflate = zlib.decompressobj(wbits=31)
        except zlib.error as exc:
            raise FormatError(f"corrupt gzip/BGZF data ({exc})") from None
        return b"".join(out)

    def finish(self) -> bytes:
        if self._gzip is None:  # fewer than two bytes in total
            data, self._head = self._head, b""
            return data
        return b""


@dataclass
class VcfParser:
    """Feed bytes with :meth:`feed`, call :meth:`finish` at the end; both return blocks."""

    block_lines: int = BLOCK_LINES
    samples: list[str] | None = None
    skipped: Counter[str] = field(default_factory=Counter)
    lines_read: int = 0
    _inflater: Inflater = field(default_factory=Inflater)
    _partial: bytes = b""
    _pending: list[tuple[int, bytes]] = field(default_factory=list)

    def feed(self, data: bytes) -> list[VariantBlock]:
        text = self._partial + self._inflater.feed(data)
        cut = text.rfind(b"\n")
        if cut < 0:
            self._partial = text
            return []
        self._partial = text[cut + 1 :]
        return self._take(text[:cut].split(b"\n"), final=False)

    def finish(self) -> list[VariantBlock]:
        tail = self._partial + self._inflater.finish()
        self._partial = b""
        blocks = self._take(tail.split(b"\n") if tail else [], final=True)
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
            if self.samples is None:
                self._header_line(line, number)
                continue
            if line[:1] == b"#":
                raise FormatError("header line after the #CHROM line", number)
            self._pending.append((number, line))
            if len(self._pending) >= self.block_lines:
                blocks.extend(self._flush())
        if final:
            blocks.extend(self._flush())
        return blocks

    def _header_line(self, line: bytes, number: int) -> None:
        if number == 1 and not line.startswith(b"##fileformat=VCF"):
            raise FormatError("not a VCF file (expected ##fileformat=VCF…)", number)
        if line.startswith(b"##"):
            return
        if not line.startswith(b"#CHROM"):
            raise FormatError("data line before the #CHROM header line", number)
        columns = line.decode("utf-8", "replace").split("\t")
        if len(columns) < 10 or columns[8] != "FORMAT":
            raise FormatError("the #CHROM line names no FORMAT column and samples", number)
        names = columns[9:]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated or any(not n.strip() for n in names):
            raise FormatError(
                f"sample names must be unique and non-blank ({duplicated[:3]})", number
            )
        self.samples = names

    def _flush(self) -> list[VariantBlock]:
        pending, self._pending = self._pending, []
        if not pending:
            return []
        assert self.samples is not None
        n = len(self.samples)
        chrom: list[str] = []
        pos: list[int] = []
        ids: list[str] = []
        ref: list[str] = []
        alt: list[str] = []
        numbers: list[int] = []
        calls: list[bytes] = []
        for number, line in pending:
            parts = line.split(b"\t", 9)
            if len(parts) < 10:
                raise FormatError(
                    f"expected {9 + n} tab-separated columns, found {len(parts)}", number
                )
            c, p, i, r, a, _qual, _filt, _info, fmt, rest = parts
            if not p.isdigit():
                raise FormatError(
                    f"POS must be a positive integer, got {p[:20].decode(errors='replace')!r}",
                    number,
                )
            if b"," in a:
                self.skipped["multiallelic"] += 1
                continue
            if len(r) != 1 or len(a) != 1 or r[0] not in _NUCLEOTIDES or a[0] not in _NUCLEOTIDES:
                self.skipped["not_snp"] += 1
                continue
            keys = fmt.split(b":")
            if keys[0] != b"GT":
                self.skipped["no_gt"] += 1
                continue
            if len(keys) > 1:  # keep only the GT subfield of every sample
                rest = b"\t".join(s.split(b":", 1)[0] for s in rest.split(b"\t"))
            if len(rest) != 4 * n - 1:
                rest = _normalise_calls(rest, n, number, self.samples)
            chrom.append(c.decode())
            pos.append(int(p))
            ids.append("" if i == b"." else i.decode())
            ref.append(r.decode().upper())
            alt.append(a.decode().upper())
            numbers.append(number)
            calls.append(rest)
        if not calls:
            return []
        dosages = _decode_calls(calls, n, numbers, self.samples)
        return [VariantBlock(chrom, np.asarray(pos, dtype=np.int64), ids, ref, alt, dosages)]


def _normalise_calls(rest: bytes, n: int, number: int, samples: list[str]) -> bytes:
    """Slow path for lines whose calls are not all ``a/b``: haploid or multi-digit alleles."""
    fields = rest.split(b"\t")
    if len(fields) != n:
        raise FormatError(
            f"expected {9 + n} tab-separated columns, found {9 + len(fields)}", number
        )
    out = []
    for k, gt in enumerate(fields):
        if len(gt) == 1 and gt in (b"0", b"1", b"."):  # haploid call: a homozygous dosage
            out.append(gt + b"/" + gt)
        elif len(gt) == 3:
            out.append(gt)
        else:
            raise FormatError(
                f"invalid genotype {gt[:20].decode(errors='replace')!r} for sample {samples[k]!r}",
                number,
            )
    return b"\t".join(out)


def _decode_calls(
    calls: list[bytes], n: int, numbers: list[int], samples: list[str]
) -> NDArray[np.int8]:
    """Decode a block of ``a/b\\ta/b…`` rows at once; name the first bad line and sample."""
    raw = np.frombuffer(b"\t".join(calls) + b"\t", dtype=np.uint8).reshape(len(calls), n, 4)
    a, sep, b, tab = raw[..., 0], raw[..., 1], raw[..., 2], raw[..., 3]
    ok = (tab == _TAB) & ((sep == _SLASH) | (sep == _PIPE))
    ok &= (a == _ZERO) | (a == _ONE) | (a == _DOT)
    ok &= (b == _ZERO) | (b == _ONE) | (b == _DOT)
    if not ok.all():
        row, col = np.argwhere(~ok)[0]
        bad = bytes(raw[row, col, :3]).decode(errors="replace")
        raise FormatError(
            f"invalid genotype {bad!r} for sample {samples[col]!r} (biallelic GT expected)",
            numbers[row],
        )
    dosages = (a - _ZERO).astype(np.int8) + (b - _ZERO).astype(np.int8)
    dosages[(a == _DOT) | (b == _DOT)] = -1
    return dosages


# ---- PLINK 1 binary --------------------------------------------------------------------

BED_MAGIC = b"\x6c\x1b\x01"  # SNP-major mode
# PLINK 2-bit codes, low bits first: 00 hom A1, 01 missing, 10 het, 11 hom A2. A1 is ALT.
_BED_CODE_DOSAGE = np.array([2, -1, 1, 0], dtype=np.int8)
BED_LUT = _BED_CODE_DOSAGE[(np.arange(256)[:, None] >> (2 * np.arange(4))) & 3]


def read_fam(data: bytes) -> list[str]:
    """Sample names (IID, column 2) from a .fam file."""
    names = []
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        if not line.strip():
            continue
        columns = line.split()
        if len(columns) != 6:
            raise FormatError(f"expected 6 columns, found {len(columns)}", number, ".fam")
        names.append(columns[1])
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
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        if not line.strip():
            continue
        columns = line.split()
        if len(columns) != 6:
            raise FormatError(f"expected 6 columns, found {len(columns)}", number, ".bim")
        c, i, _cm, p, a1, a2 = columns
        if not p.isdigit():
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
