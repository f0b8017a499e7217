"""Genotype calls as the store keeps them: allele indexes, phasing and per-call FORMAT values.

The 2-bit dosage codes (``packing``) hold what the kernels read: copies of the ALT allele at
a biallelic site in a diploid (or haploid) call. Everything a BrAPI client or a VCF can say
beyond that — multi-allelic sites, phase, tetraploid and other ploidies, half-missing
calls, DS/GQ/DP — is a :class:`CallMatrix` beside the codes. When the codes say it all (a
diploid, unphased, biallelic chunk without FORMAT values: SNP chips, PLINK) no call matrix
is stored and one is derived from the codes on read, so the common case costs nothing.

Layout: ``alleles`` int8 ``(variants, samples, width)``, an allele index (0 = REF), ``-1``
for a missing allele (``.``) and ``-2`` past the call's ploidy (a haploid call in a
diploid-wide matrix); ``phased`` bool ``(variants, samples)``; ``fields`` float32
``(variants, samples)`` per FORMAT key, NaN where absent.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from bijmantra.genomics._matrix_json import call_codes, count_call_keys, expand_codes
from numpy.typing import NDArray

MISSING = -1
ABSENT = -2
MAX_PLOIDY = 8
MAX_ALLELES = 127  # allele indexes are int8
FIELDS = ("DS", "GQ", "DP")  # FORMAT keys kept beside GT, in this order
_MAGIC = b"GC1"
_HEADER = struct.Struct("<3sIIBB")  # magic, variants, samples, width, field mask


@dataclass(frozen=True, slots=True)
class CallMatrix:
    alleles: NDArray[np.int8]
    phased: NDArray[np.bool_]
    fields: Mapping[str, NDArray[np.float32]]

    def __post_init__(self) -> None:
        if self.alleles.ndim != 3 or self.phased.shape != self.alleles.shape[:2]:
            raise ValueError(
                "alleles must be (variants, samples, width), phased (variants, samples)"
            )
        for name, values in self.fields.items():
            if name not in FIELDS or values.shape != self.phased.shape:
                raise ValueError(f"field {name!r} must be one of {FIELDS}, shaped like phased")

    def __len__(self) -> int:
        return int(self.alleles.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.alleles.shape[1])

    def rows(self, start: int, stop: int) -> CallMatrix:
        return CallMatrix(
            self.alleles[start:stop],
            self.phased[start:stop],
            {k: v[start:stop] for k, v in self.fields.items()},
        )

    def columns(self, columns: Sequence[int] | NDArray[np.intp]) -> CallMatrix:
        picked = np.asarray(columns, dtype=np.intp)
        if picked.size == self.n_samples and (picked == np.arange(picked.size)).all():
            return self  # every column in order: nothing to copy
        return CallMatrix(
            np.ascontiguousarray(self.alleles[:, picked]),
            np.ascontiguousarray(self.phased[:, picked]),
            {k: np.ascontiguousarray(v[:, picked]) for k, v in self.fields.items()},
        )

    def pick(self, rows: Sequence[int]) -> CallMatrix:
        """The given variants (rows), in that order."""
        at = np.asarray(rows, dtype=np.intp)
        return CallMatrix(
            self.alleles[at], self.phased[at], {k: v[at] for k, v in self.fields.items()}
        )

    def joined(self, following: Sequence[CallMatrix]) -> CallMatrix:
        return concat([self, *following]) if following else self

    def texts(
        self, sep_phased: str, sep_unphased: str, unknown: str, expand_homozygotes: bool
    ) -> list[list[str]]:
        """Every call spelled (see :class:`TextStyle`), ``(variants, samples)``."""
        style = TextStyle(sep_phased, sep_unphased, unknown, expand_homozygotes)
        return genotype_texts(self, style)

    def texts_json(
        self, sep_phased: str, sep_unphased: str, unknown: str, expand_homozygotes: bool
    ) -> bytes:
        """:meth:`texts` as a JSON array of rows, written as bytes directly."""
        style = TextStyle(sep_phased, sep_unphased, unknown, expand_homozygotes)
        return genotype_json(self, style)

    def coded_texts(
        self, sep_phased: str, sep_unphased: str, unknown: str, expand_homozygotes: bool
    ) -> tuple[bytes, list[bytes]] | None:
        """:func:`genotype_codes`: a byte per call and the JSON spellings it names."""
        style = TextStyle(sep_phased, sep_unphased, unknown, expand_homozygotes)
        coded = genotype_codes(self, style)
        return None if coded is None else (coded.codes, coded.tokens)

    def field_texts(self, name: str, unknown: str) -> list[list[str]]:
        return field_texts(self, name, unknown)

    def narrowed(self) -> CallMatrix:
        """The same calls without trailing allele slots no call uses (a diploid chunk cut
        from a block that also held tetraploid calls)."""
        used = np.flatnonzero((self.alleles != ABSENT).any(axis=(0, 1)))
        width = max(int(used[-1]) + 1 if used.size else 1, 1)
        if width == self.alleles.shape[2]:
            return self
        return CallMatrix(self.alleles[..., :width], self.phased, self.fields)

    def ploidy(self) -> NDArray[np.int8]:
        """Alleles per call, ``(variants, samples)``."""
        counts: NDArray[np.int8] = np.count_nonzero(self.alleles != ABSENT, axis=2).astype(np.int8)
        return counts

    def dosages(self, n_alt: NDArray[np.integer]) -> NDArray[np.int8]:
        """The kernels' view: ALT copies where a site is biallelic and a call diploid (or
        haploid, counted as homozygous); missing (-1) for every other call."""
        ploidy = self.ploidy()
        first = self.alleles[..., 0].astype(np.int16)
        second = self.alleles[..., 1].astype(np.int16) if self.alleles.shape[2] > 1 else first
        out = np.full(ploidy.shape, -1, dtype=np.int8)
        biallelic = (np.asarray(n_alt) == 1)[:, None]
        diploid = biallelic & (ploidy == 2) & (first >= 0) & (second >= 0)
        haploid = biallelic & (ploidy == 1) & (first >= 0)
        out[diploid] = (first + second)[diploid]
        out[haploid] = 2 * first[haploid]
        return out


def _dosage_alleles(d: NDArray[np.int8]) -> NDArray[np.int8]:
    alleles = np.empty((*d.shape, 2), dtype=np.int8)
    alleles[..., 0] = np.where(d == 2, 1, np.where(d < 0, MISSING, 0))
    alleles[..., 1] = np.where(d >= 1, 1, np.where(d < 0, MISSING, 0))
    return alleles


# The alleles of every int8 dosage, indexed by its byte: one gather per call on read.
_ALLELES_OF_BYTE = _dosage_alleles(np.arange(256, dtype=np.uint8).view(np.int8))


def from_dosages(dosages: NDArray[np.int8]) -> CallMatrix:
    """The calls a dosage matrix states: diploid, unphased, REF first (``0/1``)."""
    d = np.ascontiguousarray(dosages, dtype=np.int8)
    alleles = np.take(_ALLELES_OF_BYTE, d.view(np.uint8), axis=0)
    return CallMatrix(alleles, np.zeros(d.shape, dtype=np.bool_), {})


def said_by_dosages(calls: CallMatrix, dosages: NDArray[np.int8]) -> bool:
    """True when ``from_dosages(dosages)`` is exactly ``calls`` (nothing else to store)."""
    calls = calls.narrowed()
    if calls.fields or calls.alleles.shape[2] != 2 or calls.phased.any():
        return False
    return bool(np.array_equal(from_dosages(dosages).alleles, calls.alleles))


def concat(parts: Sequence[CallMatrix]) -> CallMatrix:
    """Stack call matrices of consecutive variants; widths and FORMAT keys are unified."""
    width = max(p.alleles.shape[2] for p in parts)
    names = [n for n in FIELDS if any(n in p.fields for p in parts)]
    alleles = np.concatenate([_widen(p.alleles, width) for p in parts])
    phased = np.concatenate([p.phased for p in parts])
    fields = {
        n: np.concatenate(
            [p.fields.get(n, np.full(p.phased.shape, np.nan, np.float32)) for p in parts]
        )
        for n in names
    }
    return CallMatrix(alleles, phased, fields)


def _widen(alleles: NDArray[np.int8], width: int) -> NDArray[np.int8]:
    if alleles.shape[2] == width:
        return alleles
    pad = np.full((*alleles.shape[:2], width - alleles.shape[2]), ABSENT, dtype=np.int8)
    return np.concatenate([alleles, pad], axis=2)


def encode(calls: CallMatrix) -> bytes:
    """A self-describing, deflated payload (level 1: fast, and repetitive calls shrink well)."""
    calls = calls.narrowed()
    n_variants, n_samples, width = calls.alleles.shape
    mask = sum(1 << i for i, n in enumerate(FIELDS) if n in calls.fields)
    parts = [
        np.ascontiguousarray(calls.alleles).tobytes(),
        np.packbits(calls.phased, axis=None).tobytes(),
        *(
            np.ascontiguousarray(calls.fields[n], np.float32).tobytes()
            for n in FIELDS
            if n in calls.fields
        ),
    ]
    header = _HEADER.pack(_MAGIC, n_variants, n_samples, width, mask)
    return header + zlib.compress(b"".join(parts), 1)


def decode(payload: bytes) -> CallMatrix:
    magic, n_variants, n_samples, width, mask = _HEADER.unpack_from(payload)
    if magic != _MAGIC:
        raise ValueError("not a call matrix payload")
    raw = zlib.decompress(memoryview(payload)[_HEADER.size :])
    cells = n_variants * n_samples
    alleles = np.frombuffer(raw, np.int8, cells * width).reshape(n_variants, n_samples, width)
    offset = cells * width
    packed_bits = (cells + 7) // 8
    bits = np.frombuffer(raw, np.uint8, packed_bits, offset)
    phased = np.unpackbits(bits, count=cells).astype(np.bool_).reshape(n_variants, n_samples)
    offset += packed_bits
    fields = {}
    for i, name in enumerate(FIELDS):
        if mask & (1 << i):
            values = np.frombuffer(raw, np.float32, cells, offset)
            fields[name] = values.reshape(n_variants, n_samples)
            offset += cells * 4
    return CallMatrix(alleles, phased, fields)


def genotype_text(alleles: Sequence[int], phased: bool, unknown: str = ".") -> str:
    """One call as VCF spells it (``0/1``, ``1|0``, ``./.``, ``0/0/1/2``, ``1``)."""
    return TextStyle(unknown=unknown).spell(alleles, phased)


def n_alt_of(alt: Sequence[str]) -> NDArray[np.int16]:
    """ALT allele counts from the stored ALT column (comma-joined, "" for none)."""
    return np.fromiter((a.count(",") + 1 if a else 0 for a in alt), np.int16, len(alt))


@dataclass(frozen=True, slots=True)
class TextStyle:
    """How calls are spelled (BrAPI ``sepPhased``, ``sepUnphased``, ``unknownString``,
    ``expandHomozygotes``; false collapses a call whose alleles are all equal, missing
    included, into one)."""

    sep_phased: str = "|"
    sep_unphased: str = "/"
    unknown: str = "."
    expand_homozygotes: bool = True

    def spell(self, alleles: Sequence[int], phased: bool) -> str:
        kept = [a for a in alleles if a != ABSENT]
        if not self.expand_homozygotes and len(set(kept)) == 1:
            kept = kept[:1]
        separator = self.sep_phased if phased else self.sep_unphased
        return separator.join(self.unknown if a == MISSING else str(a) for a in kept)


def genotype_texts(calls: CallMatrix, style: TextStyle) -> list[list[str]]:
    """Every call spelled, ``(variants, samples)``: each distinct genotype is spelled once."""
    n_variants, n_samples, _ = calls.alleles.shape
    if n_variants * n_samples == 0:
        return [[] for _ in range(n_variants)]
    spellings, inverse = _spelled(calls, style)
    spelled = np.array(spellings, dtype=object)
    texts: list[list[str]] = spelled[inverse].reshape(n_variants, n_samples).tolist()
    return texts


def genotype_json(calls: CallMatrix, style: TextStyle) -> bytes:
    """:func:`genotype_texts` as the JSON text of its rows, without a Python string per
    call: written from the calls' codes (:func:`genotype_codes`) in C, or, past 256
    distinct calls, joined from the distinct calls' bytes."""
    n_variants, n_samples, _ = calls.alleles.shape
    if n_variants * n_samples == 0:
        return b"[" + b",".join([b"[]"] * n_variants) + b"]"
    coded = genotype_codes(calls, style)
    if coded is not None:
        return expand_codes(b"", coded.codes, n_variants, n_samples, coded.tokens, b"")
    spellings, inverse = _spelled(calls, style)
    flat = np.array([_quoted(t) for t in spellings], dtype=object)[inverse].tolist()
    rows = (b",".join(flat[i : i + n_samples]) for i in range(0, len(flat), n_samples))
    return b"[[" + b"],[".join(rows) + b"]]"


@dataclass(frozen=True, slots=True)
class CodedTexts:
    """Calls as one byte each (row-major), naming one of ``tokens`` (JSON strings)."""

    codes: bytes
    tokens: list[bytes]


def genotype_codes(calls: CallMatrix, style: TextStyle) -> CodedTexts | None:
    """Each call's spelling as a one-byte code into the distinct spellings, JSON-quoted;
    None past 256 distinct calls. Calls up to two alleles wide (nearly every set) are
    keyed and coded by the C kernel in two passes; wider ones are found by sorting."""
    width = calls.alleles.shape[2]
    if width > 2:
        spellings, inverse = _spelled(calls, style)
        if len(spellings) > 256:
            return None
        return CodedTexts(inverse.astype(np.uint8).tobytes(), [_quoted(t) for t in spellings])
    alleles = np.ascontiguousarray(calls.alleles)
    phased = np.ascontiguousarray(calls.phased).view(np.uint8)
    keys = np.flatnonzero(count_call_keys(alleles, phased))
    if keys.size > 256:
        return None
    code_of_key = np.zeros(1 << 17, dtype=np.uint8)
    code_of_key[keys] = np.arange(keys.size)
    pairs = np.stack([keys & 255, keys >> 8 & 255], axis=1).astype(np.uint8).view(np.int8)
    tokens = [
        _quoted(style.spell(pair[:width], bool(key >> 16)))
        for pair, key in zip(pairs.tolist(), keys.tolist(), strict=True)
    ]
    return CodedTexts(call_codes(alleles, phased, code_of_key), tokens)


def _quoted(text: str) -> bytes:
    return json.dumps(text, ensure_ascii=False).encode()


def _spelled(calls: CallMatrix, style: TextStyle) -> tuple[list[str], NDArray[np.intp]]:
    """The distinct calls spelled, and each call's place among them (flat)."""
    width = calls.alleles.shape[2]
    distinct, inverse = _distinct_calls(calls)
    spellings = [style.spell(row[:width], bool(row[width])) for row in distinct.tolist()]
    return spellings, inverse


def _distinct_calls(calls: CallMatrix) -> tuple[NDArray[np.int8], NDArray[np.intp]]:
    """The distinct (alleles..., phase) rows of a block and each call's row. Up to two
    alleles a call (nearly every set) the key is 17 bits and a table finds them without
    sorting; wider calls are sorted as bytes."""
    n_variants, n_samples, width = calls.alleles.shape
    if width <= 2:
        alleles = np.ascontiguousarray(calls.alleles)
        both = alleles.view("<u2" if width == 2 else np.uint8)[..., 0]  # first byte low
        unphased = not calls.phased.any()  # then the pair alone is the key: no int32 copy
        code = both if unphased else both.astype(np.int32) << 1 | calls.phased
        present = np.zeros(1 << (16 if unphased else 17), dtype=np.bool_)
        present[code] = True
        found = np.flatnonzero(present)
        index = np.zeros(present.size, dtype=np.intp)
        index[found] = np.arange(found.size)
        keys = found << 1 if unphased else found
        rows = np.empty((keys.size, width + 1), dtype=np.int8)
        rows[:, 0] = (keys >> 1 & 255).astype(np.uint8).view(np.int8)
        if width == 2:
            rows[:, 1] = (keys >> 9).astype(np.uint8).view(np.int8)
        rows[:, width] = keys & 1
        return rows, np.take(index, code).ravel()
    keys = np.empty((n_variants * n_samples, width + 1), dtype=np.int8)
    keys[:, :width] = calls.alleles.reshape(-1, width)
    keys[:, width] = calls.phased.reshape(-1)
    void = np.ascontiguousarray(keys).view(np.dtype((np.void, width + 1))).ravel()
    distinct, inverse = np.unique(void, return_inverse=True)
    rows = np.frombuffer(distinct.tobytes(), dtype=np.int8).reshape(-1, width + 1)
    return rows, inverse.ravel()


def field_texts(calls: CallMatrix, name: str, unknown: str) -> list[list[str]]:
    """One FORMAT field as text (integers without a point), ``unknown`` where absent."""
    values = calls.fields.get(name)
    if values is None:
        return [[unknown] * calls.n_samples for _ in range(len(calls))]
    return [[unknown if v != v else number_text(v) for v in row] for row in values.tolist()]


def number_text(value: float) -> str:
    """A FORMAT value as written: the shortest text reading back as the same float32."""
    return str(np.format_float_positional(np.float32(value), trim="-"))
