"""BrAPI calls and the allele matrix, read from the packed chunks of the selected variants.

A page names a rectangle (variants x call sets) per variant set; the store decodes only the
chunks that rectangle touches. Calls are ordered variant set, variant, call set, so call
``k`` of a set with ``c`` selected call sets is variant ``k // c``, call set ``k % c``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from bijmantra.application.ports.genotypes import (
    CallBlock,
    CallSetRow,
    GenotypeStore,
    VariantRow,
    variant_db_id,
)
from bijmantra.kernel import FieldError, ValidationFailed

FIELD_NAMES = {"GT": "Genotype", "DS": "Dosage", "GQ": "Genotype Quality", "DP": "Read Depth"}
FIELD_TYPES = {"GT": "string", "DS": "float", "GQ": "integer", "DP": "integer"}
# Cells one allele-matrix page may name: variant page size x call-set page size x layers
# (ADR 0332). The benchmark's page, 1,000 variants x 2,000 call sets of GT, is 2,000,000.
MAX_MATRIX_CELLS = 2_000_000


@dataclass(frozen=True, slots=True)
class Spelling:
    """BrAPI's text options for calls: ``sepPhased``, ``sepUnphased``, ``unknownString``,
    ``expandHomozygotes`` (default true: calls read as the file wrote them)."""

    sep_phased: str = "|"
    sep_unphased: str = "/"
    unknown: str = "."
    expand_homozygotes: bool = True

    @classmethod
    def of(cls, params: Mapping[str, Any]) -> Spelling:
        def text(name: str, default: str) -> str:
            value = _one(params.get(name))
            if value is None:
                return default
            if not isinstance(value, str) or len(value) > 16:
                raise ValidationFailed("Invalid option", [FieldError(name, "a short string")])
            return value

        expand = _one(params.get("expandHomozygotes"))
        if isinstance(expand, str):
            expand = {"true": True, "false": False}.get(expand.lower(), expand)
        if expand is not None and not isinstance(expand, bool):
            raise ValidationFailed("Invalid option", [FieldError("expandHomozygotes", "boolean")])
        return cls(
            text("sepPhased", "|"),
            text("sepUnphased", "/"),
            text("unknownString", "."),
            True if expand is None else expand,
        )

    def texts(self, calls: CallBlock) -> list[list[str]]:
        return calls.texts(
            self.sep_phased, self.sep_unphased, self.unknown, self.expand_homozygotes
        )

    def json(self, calls: CallBlock) -> msgspec.Raw:
        """:meth:`texts` already encoded, for a document that is encoded whole."""
        return msgspec.Raw(
            calls.texts_json(
                self.sep_phased, self.sep_unphased, self.unknown, self.expand_homozygotes
            )
        )

    def coded(self, calls: CallBlock) -> tuple[bytes, list[bytes]] | None:
        """:meth:`texts` as a byte per call and the spellings it names (ADR 0295)."""
        return calls.coded_texts(
            self.sep_phased, self.sep_unphased, self.unknown, self.expand_homozygotes
        )

    def document(self) -> dict[str, Any]:
        return {
            "expandHomozygotes": self.expand_homozygotes,
            "sepPhased": self.sep_phased,
            "sepUnphased": self.sep_unphased,
            "unknownString": self.unknown,
        }


def _one(value: Any) -> Any:
    if isinstance(value, list):
        return value[0] if value else None
    return value


async def block_for(
    store: GenotypeStore,
    variant_set_db_id: str,
    indexes: Sequence[int],
    columns: Sequence[int],
) -> CallBlock:
    """The calls of the given variants (indexes ascending) for the given columns."""
    chunks = [
        chunk
        async for chunk in store.read_calls(variant_set_db_id, indexes[0], indexes[-1] + 1, columns)
    ]
    picked: list[CallBlock] = []
    wanted = iter(indexes)
    current = next(wanted, None)
    for chunk in chunks:
        rows = []
        while current is not None and current < chunk.variant_start + len(chunk.chrom):
            rows.append(current - chunk.variant_start)
            current = next(wanted, None)
        if rows:
            picked.append(chunk.calls.pick(rows))
    return picked[0].joined(picked[1:])


def call_documents(
    variants: Sequence[VariantRow],
    call_sets: Sequence[CallSetRow],
    set_name: str,
    block: CallBlock,
    spelling: Spelling,
    first: int,
    count: int,
) -> list[dict[str, Any]]:
    """``count`` calls from call ``first`` of the rectangle (variant-major)."""
    texts = spelling.texts(block)
    present = [k for k in ("DS", "GQ", "DP") if k in block.fields]
    extra = {k: block.field_texts(k, "") for k in present}
    width = len(call_sets)
    out: list[dict[str, Any]] = []
    for k in range(first, first + count):
        v, c = divmod(k, width)
        variant, call_set = variants[v], call_sets[c]
        metadata = [
            {
                "dataType": FIELD_TYPES[key],
                "fieldAbbreviation": key,
                "fieldName": FIELD_NAMES[key],
                "fieldValue": extra[key][v][c],
            }
            for key in present
            if extra[key][v][c]
        ]
        out.append(
            {
                "additionalInfo": {},
                "callSetDbId": call_set.call_set_db_id,
                "callSetName": call_set.sample_name,
                "variantDbId": variant_db_id(variant.variant_set_db_id, variant.index),
                "variantName": variant.name or None,
                "variantSetDbId": variant.variant_set_db_id,
                "variantSetName": set_name,
                "genotypeValue": texts[v][c],
                "genotypeMetadata": metadata,
                "phaseSet": None,
                "genotype": None,
                "genotype_likelihood": [],
            }
        )
    return out


def data_matrices(
    block: CallBlock | None,
    abbreviations: Sequence[str],
    spelling: Spelling,
    shape: tuple[int, int],
    encoded_gt: msgspec.Raw | None = None,
) -> list[dict[str, Any]]:
    """One matrix per abbreviation asked for (GT, DS, GQ, DP), rows = variants; with
    ``encoded_gt`` the GT matrix is those bytes (``msgspec.Raw``), not lists to edit."""
    out: list[dict[str, Any]] = []
    for key in abbreviations:
        matrix: list[list[str]] | msgspec.Raw
        if block is None:
            matrix = [[spelling.unknown] * shape[1] for _ in range(shape[0])]
        elif key == "GT" and encoded_gt is not None:
            matrix = encoded_gt
        elif key == "GT":
            matrix = spelling.texts(block)
        else:
            matrix = block.field_texts(key, spelling.unknown)
        out.append(
            {
                "dataMatrix": matrix,
                "dataMatrixAbbreviation": key,
                "dataMatrixName": FIELD_NAMES[key],
                "dataType": FIELD_TYPES[key],
            }
        )
    return out


def abbreviations_of(params: Mapping[str, Any]) -> list[str]:
    """``dataMatrixAbbreviations`` (comma-separated in a query, a list in a search);
    ``dataMatrixNames`` by their names; GT when neither is given."""
    asked: list[str] = []
    for key, lookup in (
        ("dataMatrixAbbreviations", {k: k for k in FIELD_NAMES}),
        ("dataMatrixNames", {v: k for k, v in FIELD_NAMES.items()}),
    ):
        raw = params.get(key)
        items = raw if isinstance(raw, list) else [] if raw is None else [raw]
        for item in items:
            for name in str(item).split(","):
                if not name.strip():
                    continue
                found = lookup.get(name.strip()) or lookup.get(name.strip().upper())
                if found is None:
                    raise ValidationFailed(
                        "Unknown data matrix", [FieldError(key, f"{name.strip()!r}")]
                    )
                if found not in asked:
                    asked.append(found)
    return asked or ["GT"]


def check_matrix_page(variants: int, call_sets: int, layers: int) -> None:
    """A page names at most :data:`MAX_MATRIX_CELLS` cells, counted as asked (before any
    read): every layer but a coded GT is a Python string per cell, so 10,000 x 10,000 of
    four layers held gigabytes whatever the sets' sizes were."""
    cells = variants * call_sets * layers
    if cells > MAX_MATRIX_CELLS:
        raise ValidationFailed(
            "Allele matrix page too large",
            [
                FieldError(
                    "dimensionVariantPageSize",
                    f"{variants} variants x {call_sets} call sets x {layers} matrices is "
                    f"{cells} cells; at most {MAX_MATRIX_CELLS} per page",
                )
            ],
        )


def dimension_page(total: int, page: int, size: int, name: str) -> tuple[int, int]:
    """The (offset, size) of one dimension's page; a page past the end is a 400."""
    if size < 1 or page < 0 or size > 10_000:
        raise ValidationFailed(
            "Invalid dimension page", [FieldError(f"{name}PageSize", "1 to 10000; page >= 0")]
        )
    if page > 0 and page * size >= total:
        pages = max(math.ceil(total / size), 1)
        raise ValidationFailed(
            "Dimension page out of range",
            [FieldError(f"{name}Page", f"{page} is past the last page ({pages - 1})")],
        )
    return page * size, size
