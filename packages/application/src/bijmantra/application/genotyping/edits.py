"""``PUT /calls``: replace genotype calls in the packed store, all or nothing (ADR 0197).

The body is an array of BrAPI ``Call`` objects. Every call must name a variant and a call
set of the caller's organization in the same variant set (another organization's ids are
simply not found: 404), spell a genotype the store can keep and allele indexes the variant
has. Then the chunks are rewritten in one transaction, with one ``call.updated`` event (bulk
for several calls) in the outbox; the answer is the calls as now stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from bijmantra.application.events import bulk_data, bulk_type
from bijmantra.application.genotyping.extract import extract_variant_set
from bijmantra.application.genotyping.matrix import FIELD_NAMES, FIELD_TYPES
from bijmantra.application.genotyping.views import Documents, parse_variant_db_id
from bijmantra.application.json_input import decode_bounded
from bijmantra.application.ports import GenotypeStore, UnitOfWorkFactory
from bijmantra.application.ports.documents import DocumentPage
from bijmantra.application.ports.genotypes import CallEdit, CallSetRow, GenotypeFilter, VariantRow
from bijmantra.application.security import Action, Permission, authorize
from bijmantra.domain import DomainEvent
from bijmantra.domain.genotyping.calls import (
    MAX_CALL_EDITS,
    Genotype,
    check_alleles,
    format_value,
    genotype_of,
    parse_genotype,
)
from bijmantra.kernel import (
    Clock,
    FieldError,
    NotFound,
    PageRequest,
    Principal,
    SystemClock,
    Unprocessable,
    ValidationFailed,
)

WRITE = Permission("genotyping", Action.WRITE)


@dataclass(frozen=True, slots=True)
class _Asked:
    location: str
    call_set_db_id: str
    variant_set_db_id: str
    index: int
    genotype: Genotype
    fields: dict[str, float]


def _text(item: dict[str, Any], key: str, location: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value or len(value) > 1000:
        raise ValidationFailed("Invalid call", [FieldError(f"{location}.{key}", "required text")])
    return value


def _asked(item: Any, location: str) -> _Asked:
    if not isinstance(item, dict):
        raise ValidationFailed("Invalid call", [FieldError(location, "expected a Call object")])
    call_set = _text(item, "callSetDbId", location)
    variant = _text(item, "variantDbId", location)
    set_id, index = parse_variant_db_id(variant)
    given_set = item.get("variantSetDbId")
    if index < 0 or (given_set is not None and given_set != set_id):
        raise NotFound("Variant not found", [FieldError(f"{location}.variantDbId", variant)])
    given = item.get("genotype")
    values = given.get("values") if isinstance(given, dict) else None
    if isinstance(item.get("genotypeValue"), str):
        genotype = parse_genotype(item["genotypeValue"], f"{location}.genotypeValue")
    elif isinstance(values, list):
        genotype = genotype_of(values, False, f"{location}.genotype.values")
    else:
        raise ValidationFailed(
            "Invalid call", [FieldError(f"{location}.genotypeValue", "a genotype is required")]
        )
    fields: dict[str, float] = {}
    metadata = item.get("genotypeMetadata") or []
    if not isinstance(metadata, list) or len(metadata) > 8:
        raise ValidationFailed(
            "Invalid call", [FieldError(f"{location}.genotypeMetadata", "at most 8 entries")]
        )
    for n, entry in enumerate(metadata):
        where = f"{location}.genotypeMetadata[{n}]"
        if not isinstance(entry, dict):
            raise ValidationFailed("Invalid call", [FieldError(where, "expected an object")])
        name = str(entry.get("fieldAbbreviation"))
        fields[name] = format_value(name, entry.get("fieldValue"), where)
    return _Asked(location, call_set, set_id, index, genotype, fields)


@dataclass
class GenotypeWrites:
    """The engine's ``ViewWrites`` for the genotype views: ``PUT /calls`` and
    ``POST /variantsets/extract``."""

    uow: UnitOfWorkFactory
    documents: Documents = field(default_factory=Documents)
    clock: Clock = field(default_factory=SystemClock)

    async def create(self, principal: Principal, entity: str, body: bytes) -> DocumentPage:
        """``POST /variantsets/extract``: the only way a view entity is created."""
        if entity != "variantset":
            raise NotFound(f"{entity} cannot be created")
        async with self.uow(principal.tenant_id) as uow:
            page = await extract_variant_set(uow, principal, body, self.documents, self.clock.now())
            await uow.commit()
        return page

    async def update_many(self, principal: Principal, entity: str, body: bytes) -> DocumentPage:
        if entity != "call":
            raise NotFound(f"{entity} is not writable")
        return await self.update_calls(principal, body)

    async def update_calls(self, principal: Principal, body: bytes) -> DocumentPage:
        authorize(principal, WRITE)
        items = decode_bounded(body, "a JSON array of Call objects", max_items=MAX_CALL_EDITS)
        if not isinstance(items, list) or not items:
            raise ValidationFailed(
                "Request body must be a non-empty JSON array of Call objects",
                [FieldError("body", f"1 to {MAX_CALL_EDITS} calls")],
            )
        asked = [_asked(item, f"[{n}]") for n, item in enumerate(items)]
        seen: dict[tuple[str, int, str], str] = {}
        for a in asked:
            key = (a.variant_set_db_id, a.index, a.call_set_db_id)
            if key in seen:
                raise ValidationFailed(
                    "The same call twice", [FieldError(a.location, f"repeats {seen[key]}")]
                )
            seen[key] = a.location
        async with self.uow(principal.tenant_id) as uow:
            store = uow.genotypes
            call_sets = await _call_sets(store, asked)
            variants = await _variants(store, asked)
            alt_counts = await store.alt_allele_counts(tuple(variants))
            names = await _set_names(store, sorted({a.variant_set_db_id for a in asked}))
            edits: dict[str, list[CallEdit]] = {}
            documents: list[tuple[str, dict[str, Any]]] = []
            for a in asked:
                call_set = call_sets[a.call_set_db_id]
                variant = variants[(a.variant_set_db_id, a.index)]
                if call_set.variant_set_db_id != a.variant_set_db_id:
                    raise Unprocessable(
                        "Call set and variant are in different variant sets",
                        [FieldError(f"{a.location}.callSetDbId", a.call_set_db_id)],
                    )
                n_alt = alt_counts[(a.variant_set_db_id, a.index)]
                check_alleles(a.genotype, n_alt, f"{a.location}.genotypeValue")
                edits.setdefault(a.variant_set_db_id, []).append(
                    CallEdit(
                        a.index,
                        call_set.column,
                        a.genotype.alleles,
                        a.genotype.phased,
                        n_alt,
                        a.fields,
                    )
                )
                document = _document(a, variant, call_set, names[a.variant_set_db_id])
                documents.append((f"{variant.db_id}/{call_set.call_set_db_id}", document))
            for set_id, set_edits in edits.items():
                await store.update_calls(set_id, set_edits)
            uow.record(_event(principal, documents, self.clock.now()))
            await uow.commit()
        n = len(documents)
        encoded = msgspec.json.encode([d for _, d in documents])
        return DocumentPage(encoded, n, n, PageRequest(0, n))


async def _set_names(store: GenotypeStore, set_ids: Sequence[str]) -> dict[str, str]:
    rows, _ = await store.variant_set_rows(
        GenotypeFilter(variant_set_db_ids=tuple(set_ids)), 0, len(set_ids)
    )
    return {r.variant_set_db_id: r.name for r in rows}


async def _call_sets(store: GenotypeStore, asked: Sequence[_Asked]) -> dict[str, CallSetRow]:
    ids = tuple(sorted({a.call_set_db_id for a in asked}))
    rows, _ = await store.call_set_rows(GenotypeFilter(call_set_db_ids=ids), 0, len(ids))
    found = {r.call_set_db_id: r for r in rows}
    missing = [a for a in asked if a.call_set_db_id not in found]
    if missing:
        raise NotFound(
            "Call set not found",
            [FieldError(f"{a.location}.callSetDbId", a.call_set_db_id) for a in missing[:20]],
        )
    return found


async def _variants(
    store: GenotypeStore, asked: Sequence[_Asked]
) -> dict[tuple[str, int], VariantRow]:
    keys = tuple(sorted({(a.variant_set_db_id, a.index) for a in asked}))
    # No alleles: an edit needs only how many ALT alleles there are (``alt_allele_counts``),
    # and the edited variants' alleles may pass a page's bound together (ADR 0376).
    rows, _ = await store.variant_rows(GenotypeFilter(variants=keys), 0, len(keys), alleles=False)
    found = {(r.variant_set_db_id, r.index): r for r in rows}
    missing = [a for a in asked if (a.variant_set_db_id, a.index) not in found]
    if missing:
        raise NotFound(
            "Variant not found",
            [
                FieldError(f"{a.location}.variantDbId", f"{a.variant_set_db_id}:{a.index}")
                for a in missing[:20]
            ],
        )
    return found


def _document(
    a: _Asked, variant: VariantRow, call_set: CallSetRow, set_name: str
) -> dict[str, Any]:
    return {
        "additionalInfo": {},
        "callSetDbId": call_set.call_set_db_id,
        "callSetName": call_set.sample_name,
        "variantDbId": variant.db_id,
        "variantName": variant.name or None,
        "variantSetDbId": variant.variant_set_db_id,
        "variantSetName": set_name,
        "genotypeValue": a.genotype.text,
        "genotypeMetadata": [
            {
                "dataType": FIELD_TYPES[k],
                "fieldAbbreviation": k,
                "fieldName": FIELD_NAMES[k],
                "fieldValue": _number(v),
            }
            for k, v in a.fields.items()
        ],
        "phaseSet": None,
        "genotype": None,
        "genotype_likelihood": [],
    }


def _event(
    principal: Principal, documents: list[tuple[str, dict[str, Any]]], at: datetime
) -> DomainEvent:
    first_id, first = documents[0]
    single = len(documents) == 1
    return DomainEvent(
        type="call.updated" if single else bulk_type("call.updated"),
        tenant_id=principal.tenant_id,
        aggregate_id=first_id,
        data=first if single else bulk_data(documents),
        schema_version=1,
        actor=principal.subject,
        occurred_at=at,
    )


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)
