"""What a client may write as one genotype call (``PUT /calls``, ADR 0197).

A call is the allele indexes of one call set at one variant — ``0/1``, ``1|0``, ``./.``,
``0/0/1/2`` — and optionally its FORMAT values DS, GQ and DP. These are the rules a call
must keep to be stored: one separator kind, an allele index the variant has, a ploidy the
store holds, finite non-negative FORMAT numbers.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from bijmantra.kernel import FieldError, ValidationFailed

MAX_PLOIDY = 8  # what the packed store keeps per call (bijmantra.genomics.calls)
MAX_ALLELE = 126  # allele indexes are int8 there, ALT alleles at most 126
MAX_CALL_EDITS = 10_000  # calls one PUT /calls may change
FORMAT_FIELDS = ("DS", "GQ", "DP")
_ALLELE = re.compile(r"\.|0|[1-9][0-9]{0,2}")


@dataclass(frozen=True, slots=True)
class Genotype:
    alleles: tuple[int, ...]  # allele index per copy, -1 for a missing one (".")
    phased: bool

    @property
    def text(self) -> str:
        separator = "|" if self.phased else "/"
        return separator.join("." if a < 0 else str(a) for a in self.alleles)


def _refuse(location: str, message: str) -> ValidationFailed:
    return ValidationFailed("Invalid call", [FieldError(location, message)])


def parse_genotype(text: str, location: str) -> Genotype:
    """A VCF-style GT: alleles joined by ``/`` (unphased) or ``|`` (phased), never both."""
    if "/" in text and "|" in text:
        raise _refuse(location, "mixes phased and unphased separators")
    phased = "|" in text
    parts = text.split("|" if phased else "/")
    return genotype_of(parts, phased, location)


def genotype_of(parts: list[str], phased: bool, location: str) -> Genotype:
    """Alleles given one by one (``genotype.values``) or split from a GT text."""
    if not 1 <= len(parts) <= MAX_PLOIDY:
        raise _refuse(location, f"ploidy must be 1 to {MAX_PLOIDY}")
    alleles = []
    for part in parts:
        if not isinstance(part, str) or not _ALLELE.fullmatch(part):
            raise _refuse(location, f"{part!r} is not an allele index or '.'")
        value = -1 if part == "." else int(part)
        if value > MAX_ALLELE:
            raise _refuse(location, f"allele index {value} above {MAX_ALLELE}")
        alleles.append(value)
    return Genotype(tuple(alleles), phased)


def check_alleles(genotype: Genotype, n_alt: int, location: str) -> None:
    """Every allele index must name the variant's REF (0) or one of its ALT alleles."""
    beyond = [a for a in genotype.alleles if a > n_alt]
    if beyond:
        raise _refuse(location, f"allele {beyond[0]} but the variant has {n_alt} ALT allele(s)")


def format_value(name: str, raw: object, location: str) -> float:
    """DS, GQ or DP as a finite number (DS within 0..ploidy is the file's business)."""
    if name not in FORMAT_FIELDS:
        raise _refuse(location, f"{name!r} is not one of {', '.join(FORMAT_FIELDS)}")
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise _refuse(location, f"{name} must be a number")
    try:
        value = float(raw)
    except ValueError:
        raise _refuse(location, f"{name} must be a number") from None
    if not math.isfinite(value) or value < 0 or value > 1e9:
        raise _refuse(location, f"{name} must be a finite number from 0 to 1e9")
    return value
