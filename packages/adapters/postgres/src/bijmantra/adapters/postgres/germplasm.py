"""Germplasm persistence: a write repository and a JSON read model.

The read model lets PostgreSQL build each BrAPI document (``json_build_object``), so a
1,000-row page is one query whose rows go to the client without Python re-encoding them.
``tests`` check the documents decode to ``GermplasmDocument`` exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bijmantra.application.germplasm import GermplasmFilter, document_for
from bijmantra.domain import DomainEvent
from bijmantra.domain.germplasm import Germplasm
from bijmantra.kernel import Page, PageRequest

SCALAR_COLUMNS = (
    "germplasm_db_id", "germplasm_name", "germplasm_pui", "common_crop_name",
    "accession_number", "acquisition_date", "biological_status_of_accession_code",
    "biological_status_of_accession_description", "breeding_method_db_id",
    "breeding_method_name", "collection", "country_of_origin_code", "default_display_name",
    "documentation_url", "genus", "germplasm_preprocessing", "institute_code",
    "institute_name", "pedigree", "seed_source", "seed_source_description", "species",
    "species_authority", "subtaxa", "subtaxa_authority",
)  # fmt: skip
JSON_COLUMNS = (
    "additional_info", "donors", "external_references", "germplasm_origin", "storage_types",
    "synonyms", "taxon_ids",
)  # fmt: skip
_SPECIAL_NAMES = {
    "germplasm_pui": "germplasmPUI",
    "documentation_url": "documentationURL",
}


def json_name(column: str) -> str:
    if column in _SPECIAL_NAMES:
        return _SPECIAL_NAMES[column]
    head, *rest = column.split("_")
    return head + "".join(part.title() for part in rest)


DOCUMENT_SQL = "json_build_object({})::text".format(
    ", ".join(f"'{json_name(c)}', {c}" for c in (*SCALAR_COLUMNS, *JSON_COLUMNS))
)

_insert_columns = (*SCALAR_COLUMNS, *JSON_COLUMNS)
_INSERT = text(
    "INSERT INTO domain.germplasm (tenant_id, {cols}) VALUES (:tenant_id, {vals})".format(
        cols=", ".join(_insert_columns),
        vals=", ".join(
            f"CAST(:{c} AS jsonb)" if c in JSON_COLUMNS else f":{c}" for c in _insert_columns
        ),
    )
)

# Filter field -> (column, how to match); jsonb arrays are matched by containment.
_FILTERS: dict[str, tuple[str, str]] = {
    "germplasm_db_ids": ("germplasm_db_id", "scalar"),
    "germplasm_names": ("germplasm_name", "scalar"),
    "germplasm_puis": ("germplasm_pui", "scalar"),
    "common_crop_names": ("common_crop_name", "scalar"),
    "accession_numbers": ("accession_number", "scalar"),
    "collections": ("collection", "scalar"),
    "genus": ("genus", "scalar"),
    "species": ("species", "scalar"),
    "synonyms": ("synonyms", "synonym"),
    "external_reference_ids": ("external_references", "referenceId"),
    "external_reference_sources": ("external_references", "referenceSource"),
}

_encode = msgspec.json.encode


def _row(germplasm: Germplasm) -> dict[str, Any]:
    document = msgspec.to_builtins(document_for(germplasm))
    row: dict[str, Any] = {"tenant_id": germplasm.tenant_id}
    for column in SCALAR_COLUMNS:
        row[column] = getattr(germplasm, column)
    for column in JSON_COLUMNS:
        row[column] = _encode(document[json_name(column)]).decode()
    return row


class PostgresGermplasmRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        self._pending: list[Germplasm] = []

    def add(self, germplasm: Germplasm) -> None:
        self._pending.append(germplasm)

    async def existing_ids(self, germplasm_db_ids: Sequence[str]) -> set[str]:
        result = await self._connection.execute(
            text("SELECT germplasm_db_id FROM domain.germplasm WHERE germplasm_db_id = ANY(:ids)"),
            {"ids": list(germplasm_db_ids)},
        )
        return set(result.scalars())

    async def ids_by_name(self, names: Sequence[str]) -> dict[str, str]:
        result = await self._connection.execute(
            text(
                "SELECT DISTINCT ON (germplasm_name) germplasm_name, germplasm_db_id FROM domain.germplasm "
                "WHERE germplasm_name = ANY(:names) ORDER BY germplasm_name, germplasm_db_id"
            ),
            {"names": list(names)},
        )
        return {name: db_id for name, db_id in result.all()}

    async def flush(self) -> list[DomainEvent]:
        """Insert staged aggregates in one multi-row statement; return their events."""
        pending, self._pending = self._pending, []
        if not pending:
            return []
        await self._connection.execute(_INSERT, [_row(g) for g in pending])
        return [event for g in pending for event in g.pull_events()]


class PostgresGermplasmReadModel:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def get_document(self, germplasm_db_id: str) -> bytes | None:
        result = await self._connection.execute(
            text(f"SELECT {DOCUMENT_SQL} FROM domain.germplasm WHERE germplasm_db_id = :id"),
            {"id": germplasm_db_id},
        )
        document = result.scalar_one_or_none()
        return None if document is None else document.encode()

    async def list_documents(self, criteria: GermplasmFilter, page: PageRequest) -> Page[bytes]:
        where, params = _where(criteria)
        params |= {"limit": page.page_size, "offset": page.offset}
        rows = (
            await self._connection.execute(
                text(
                    f"SELECT {DOCUMENT_SQL}, count(*) OVER () FROM domain.germplasm {where} "
                    "ORDER BY germplasm_db_id LIMIT :limit OFFSET :offset"
                ),
                params,
            )
        ).all()
        if rows:
            total = rows[0][1]
        else:  # past the last page: the window count is unavailable, ask directly
            total = (
                await self._connection.execute(
                    text(f"SELECT count(*) FROM domain.germplasm {where}"), params
                )
            ).scalar_one()
        return Page([r[0].encode() for r in rows], page, int(total))


def _where(criteria: GermplasmFilter) -> tuple[str, dict[str, Any]]:
    clauses, params = [], {}
    for name, (column, kind) in _FILTERS.items():
        values = getattr(criteria, name)
        if not values:
            continue
        if kind == "scalar":
            clauses.append(f"{column} = ANY(:{name})")
            params[name] = list(values)
        else:
            alternatives = []
            for i, value in enumerate(values):
                key = f"{name}_{i}"
                alternatives.append(f"{column} @> CAST(:{key} AS jsonb)")
                params[key] = _encode([{kind: value}]).decode()
            clauses.append("(" + " OR ".join(alternatives) + ")")
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params
