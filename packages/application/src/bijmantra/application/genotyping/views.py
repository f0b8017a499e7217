"""BrAPI variant sets, call sets and variants as views over the genotype store's rows.

They are not documents in the resource table: an import writes rows and chunks (ADR 0070)
and these views read them, so nothing is copied and nothing can drift. Filters arrive as
BrAPI spells them (``variantSetDbId`` in a query, ``variantSetDbIds`` in a search body)
and become one typed :class:`GenotypeFilter`; filters on data the store does not hold
(studies, references, samples) are refused with 400 rather than ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bijmantra.application.brapi.schema import SchemaSet, empty, text_problem
from bijmantra.application.ports.genotypes import (
    NOWHERE,
    CallSetRow,
    GenotypeFilter,
    VariantRow,
    VariantSetRow,
)
from bijmantra.domain.genotyping import EXPORT_FORMATS
from bijmantra.kernel import FieldError, ValidationFailed

SCHEMAS = SchemaSet("BrAPI-Genotyping")
MAX_FILTER_VALUES = 10_000
MAX_VARIANT_INDEX = 2**31 - 1  # variant_index is a PostgreSQL integer
NO_DB_ID = ""  # a filter value no row holds (a DbId is never empty; NUL would fail in SQL)

# query/search name -> GenotypeFilter field; plural forms are the search-body spelling.
LIST_FILTERS = {
    "variantSetDbId": "variant_set_db_ids",
    "callSetDbId": "call_set_db_ids",
    "callSetName": "call_set_names",
    "germplasmDbId": "germplasm_db_ids",
    "variantDbId": "variant_db_ids",
    "positionRange": "position_ranges",
    "referenceSetDbId": "reference_set_db_ids",
}
# Filters only variants and variant sets take (BrAPI lists them for those alone).
REFERENCE_FILTERS = ("referenceDbId", "referenceSetDbId")
UNSUPPORTED = (
    "sampleDbId",
    "referenceDbId",
    "referenceSetDbId",
    "studyDbId",
    "studyName",
    "commonCropName",
    "programDbId",
    "externalReferenceId",
    "externalReferenceID",
    "externalReferenceSource",
)


def bounded_int(text: str, maximum: int) -> int | None:
    """``text`` as a whole number from 0 to ``maximum``, or None. ASCII digits only:
    ``str.isdigit`` also admits '²', which ``int`` refuses (once a 500)."""
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(maximum)):
        return None
    value = int(text)
    return value if value <= maximum else None


def parse_variant_db_id(db_id: str) -> tuple[str, int]:
    """``set:index``; an id of another shape, or an index past what the store can number,
    names no variant (index -1)."""
    set_id, _, index = db_id.rpartition(":")
    number = bounded_int(index, MAX_VARIANT_INDEX) if set_id else None
    return (set_id, number) if number is not None else (db_id, -1)


def filter_values(params: Mapping[str, Any], name: str) -> list[str]:
    """A filter's strings, from ``name`` (query) and ``name + "s"`` (search body), bounded
    and storable."""
    found: list[str] = []
    for key in (name, name + "s"):
        value = params.get(key)
        if value is None:
            continue
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str) for v in items):
            raise ValidationFailed("Invalid filter", [FieldError(key, "must be strings")])
        if problems := [FieldError(key, p) for v in items if (p := text_problem(v))]:
            raise ValidationFailed("Invalid filter", problems)
        found += items
    if len(found) > MAX_FILTER_VALUES:
        raise ValidationFailed("Too many filter values", [FieldError(name, "at most 10000")])
    return found


@dataclass(frozen=True, slots=True)
class PositionRange:
    chrom: str
    start: int
    end: int

    @classmethod
    def parse(cls, text: str) -> PositionRange:
        """``contig:start-end`` (1-based, inclusive) or just ``contig``."""
        chrom, _, span = text.rpartition(":") if ":" in text else (text, "", "")
        if not span:
            return cls(text, 0, NOWHERE)
        lo, _, hi = span.partition("-")
        start, end = bounded_int(lo, NOWHERE), bounded_int(hi, NOWHERE)
        if not chrom or start is None or end is None or start > end:
            raise ValidationFailed(
                "Invalid positionRange", [FieldError("positionRange", "contig:start-end")]
            )
        return cls(chrom, start, end)


def genotype_filter(
    params: Mapping[str, Any], refused: Sequence[str] = UNSUPPORTED
) -> GenotypeFilter:
    """A query map (lists of strings) or a search body, as one filter."""
    asked = [n for n in refused if params.get(n) is not None or params.get(n + "s") is not None]
    if asked:
        raise ValidationFailed(
            "Filters not supported by this server for genotype views",
            [FieldError(n, "not supported") for n in asked],
        )
    values = {target: filter_values(params, name) for name, target in LIST_FILTERS.items()}
    ranges = [PositionRange.parse(r) for r in values.pop("position_ranges")]
    if len(ranges) > 1:
        raise ValidationFailed(
            "One positionRange at a time", [FieldError("positionRanges", "at most one")]
        )
    where = GenotypeFilter(
        variant_set_db_ids=tuple(values["variant_set_db_ids"]),
        call_set_db_ids=tuple(values["call_set_db_ids"]),
        call_set_names=tuple(values["call_set_names"]),
        germplasm_db_ids=tuple(values["germplasm_db_ids"]),
        variants=tuple(parse_variant_db_id(v) for v in values["variant_db_ids"]),
        reference_set_db_ids=tuple(values["reference_set_db_ids"]),
    )
    if ranges:
        r = ranges[0]
        where = GenotypeFilter(
            **{**_fields(where), "chrom": r.chrom, "start": r.start, "end": r.end}
        )
    return where


def _fields(where: GenotypeFilter) -> dict[str, Any]:
    return {name: getattr(where, name) for name in GenotypeFilter.__slots__}


def with_filter(where: GenotypeFilter, **changes: Any) -> GenotypeFilter:
    return GenotypeFilter(**{**_fields(where), **changes})


@dataclass(frozen=True, slots=True)
class Documents:
    """BrAPI documents of the rows, every key of the official schema present."""

    public_url: str = ""  # the gateway's origin, for ``availableFormats`` file URLs

    def available_formats(self, variant_set_db_id: str) -> list[dict[str, Any]]:
        """Every export format with its download URL (ADR 0199)."""
        base = f"{self.public_url}/api/v1/variantsets/{quote(variant_set_db_id, safe='')}/files"
        return [
            {
                "dataFormat": f.data_format,
                "fileFormat": f.file_format,
                "fileURL": f"{base}/{f.name}",
                "expandHomozygotes": f.expand_homozygotes,
                "sepPhased": f.sep_phased,
                "sepUnphased": f.sep_unphased,
                "unknownString": f.unknown_string,
            }
            for f in EXPORT_FORMATS.values()
        ]

    def variant_set(self, row: VariantSetRow) -> dict[str, Any]:
        return {
            **empty(SCHEMAS.named("VariantSet")),
            "variantSetDbId": row.variant_set_db_id,
            "variantSetName": row.name,
            "variantCount": row.n_variants,
            "callSetCount": row.n_call_sets,
            "additionalInfo": {"sourceFormat": row.source_format, "created": row.created},
            "analysis": [],
            "availableFormats": self.available_formats(row.variant_set_db_id),
            "referenceSetDbId": row.reference_set_db_id,
            "externalReferences": [],
            "metadataFields": [
                {"dataType": "string", "fieldAbbreviation": "GT", "fieldName": "Genotype"},
                {"dataType": "float", "fieldAbbreviation": "DS", "fieldName": "Dosage"},
                {"dataType": "integer", "fieldAbbreviation": "GQ", "fieldName": "Genotype Quality"},
                {"dataType": "integer", "fieldAbbreviation": "DP", "fieldName": "Read Depth"},
            ],
        }

    @staticmethod
    def call_set(row: CallSetRow) -> dict[str, Any]:
        return {
            **empty(SCHEMAS.named("CallSet")),
            "callSetDbId": row.call_set_db_id,
            "callSetName": row.sample_name,
            "created": row.created,
            "updated": row.created,
            "variantSetDbIds": [row.variant_set_db_id],
            "externalReferences": [],
            "additionalInfo": {"germplasmDbId": row.germplasm_db_id, "ploidy": str(row.ploidy)},
        }

    @staticmethod
    def variant(row: VariantRow, reference_db_id: str | None = None) -> dict[str, Any]:
        alternates = row.alt.split(",") if row.alt else []
        single = len(row.ref) == 1 and all(len(a) == 1 for a in alternates)
        return {
            **empty(SCHEMAS.named("Variant")),
            "variantDbId": row.db_id,
            "variantSetDbId": [row.variant_set_db_id],
            "variantNames": [row.name] if row.name else [],
            "referenceName": row.chrom,
            "referenceDbId": reference_db_id,
            "referenceSetDbId": row.reference_set_db_id,
            "referenceBases": row.ref,
            "alternateBases": alternates,
            "alternate_bases": alternates,
            "start": row.pos - 1,  # BrAPI (GA4GH): 0-based start, exclusive end
            "end": row.pos - 1 + len(row.ref),
            "variantType": "SNV" if single else "INDEL",
            "externalReferences": [],
            "filtersApplied": False,
            "filtersFailed": [],
            "filtersPassed": None,
            "additionalInfo": {},
        }
