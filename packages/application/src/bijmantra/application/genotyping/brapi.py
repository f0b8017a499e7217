"""The BrAPI engine's genotype views: variantsets, callsets, variants, calls, allelematrix.

``ResourceQueries`` hands an entity declared with ``view=True`` here (ADR 0191). Lists and
single reads come from the genotype store's rows and chunks; a search keeps its request
(not millions of ids) and runs it again for each page it is asked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import msgspec
from bijmantra.application.genotyping.filtered import passing_rows
from bijmantra.application.genotyping.maps import linkage_group_page
from bijmantra.application.genotyping.matrix import (
    Spelling,
    abbreviations_of,
    block_for,
    call_documents,
    check_matrix_page,
    data_matrices,
    dimension_page,
)
from bijmantra.application.genotyping.views import (
    NO_DB_ID,
    REFERENCE_FILTERS,
    UNSUPPORTED,
    Documents,
    filter_values,
    genotype_filter,
    with_filter,
)
from bijmantra.application.ports import GenotypeStore, UnitOfWork, UnitOfWorkFactory
from bijmantra.application.ports.documents import CodedMatrix, DocumentPage, SearchResultStore
from bijmantra.application.ports.genotypes import CallSetRow, GenotypeFilter, VariantRow
from bijmantra.application.security import Action, Permission, authorize
from bijmantra.application.use_case import organization_unit
from bijmantra.domain.genotyping.filters import variant_thresholds
from bijmantra.kernel import (
    FieldError,
    NotFound,
    PageRequest,
    Principal,
    ValidationFailed,
    decimal_integer,
)

READ = Permission("genotyping", Action.READ)
MAX_CALL_SETS = 100_000  # call sets one calls/allele-matrix request may span
_KEY = {"variantset": "variantSetDbId", "callset": "callSetDbId", "variant": "variantDbId"}
_SEARCH_TAG = "request:"
CODED_PLACE = b"\x00"  # where a coded GT matrix goes in its page's encoded document
_encode = msgspec.json.encode


def _germplasm_params(params: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    return filter_values(params, "germplasmName"), filter_values(params, "germplasmPUI")


@dataclass
class GenotypeViews:
    uow: UnitOfWorkFactory
    searches: SearchResultStore
    documents: Documents = field(default_factory=Documents)

    async def list(
        self, principal: Principal, entity: str, params: Mapping[str, Any], page: PageRequest
    ) -> DocumentPage:
        async with organization_unit(self.uow, principal, READ) as uow:
            return await self._page(uow, entity, params, page)

    async def get(self, principal: Principal, entity: str, db_id: str) -> bytes:
        found = await self.list(principal, entity, {_KEY[entity]: [db_id]}, PageRequest(0, 1))
        if not found.count:
            raise NotFound(f"{entity} {db_id!r} not found")
        return found.documents[1:-1]

    async def search(self, principal: Principal, entity: str, request: dict[str, Any]) -> str:
        """Check the request now (a bad one is a 400 at once), keep it for its pages."""
        authorize(principal, READ)
        self._filter(entity, request)
        Spelling.of(request)
        variant_thresholds(request)
        body = _encode(request).decode()
        return await self.searches.save(principal.tenant_id, entity, [_SEARCH_TAG + body])

    async def search_results(
        self, principal: Principal, entity: str, search_id: str, page: PageRequest
    ) -> DocumentPage:
        authorize(principal, READ)
        kept = await self.searches.load(principal.tenant_id, entity, search_id)
        if not kept or not kept[0].startswith(_SEARCH_TAG):
            raise NotFound(f"Search result {search_id!r} not found or expired")
        request = msgspec.json.decode(kept[0][len(_SEARCH_TAG) :])
        return await self.list(principal, entity, request, page)

    # ---- pages ---------------------------------------------------------------------

    def _filter(self, entity: str, params: Mapping[str, Any]) -> GenotypeFilter:
        refused: tuple[str, ...] = UNSUPPORTED
        if entity == "allelematrix":
            refused = tuple(n for n in UNSUPPORTED if n != "sampleDbId")
        if entity in ("variant", "variantset"):
            refused = tuple(n for n in UNSUPPORTED if n not in REFERENCE_FILTERS)
        return genotype_filter(params, refused)

    async def _page(
        self, uow: UnitOfWork, entity: str, params: Mapping[str, Any], page: PageRequest
    ) -> DocumentPage:
        if entity == "linkagegroup":  # a map's groups, from its marker positions
            return await linkage_group_page(uow.resources, params, page)
        where = self._filter(entity, params)
        if entity in ("variant", "variantset") and (
            asked := filter_values(params, "referenceDbId")
        ):
            where = with_filter(where, references=await _references(uow, asked))
        store = uow.genotypes
        documents: list[dict[str, Any]]
        if entity == "variantset":
            sets, total = await store.variant_set_rows(where, page.offset, page.page_size)
            documents = [self.documents.variant_set(r) for r in sets]
        elif entity == "callset":
            call_sets, total = await store.call_set_rows(where, page.offset, page.page_size)
            documents = [self.documents.call_set(r) for r in call_sets]
        elif entity == "variant":
            variants, total = await store.variant_rows(where, page.offset, page.page_size)
            on = await _reference_ids(uow, variants)
            documents = [
                self.documents.variant(r, on.get((r.reference_set_db_id, r.chrom)))
                for r in variants
            ]
        elif entity == "call":
            documents, total = await calls_page(store, where, Spelling.of(params), page)
        elif entity == "allelematrix":
            names, puis = _germplasm_params(params)
            if names or puis:
                where = await _with_germplasm(uow, where, names, puis)
            matrix, coded = await AlleleMatrix(store, where, params).build()
            body = _encode(matrix)
            if coded is None:
                return DocumentPage(body, 1, 1, PageRequest(0, 1))
            head, tail = body.split(CODED_PLACE)  # the one NUL: JSON text escapes any other
            return DocumentPage(head, 1, 1, PageRequest(0, 1), coded=replace(coded, tail=tail))
        else:
            raise NotFound(f"Unknown genotype view {entity!r}")
        return DocumentPage(_encode(documents), len(documents), total, page)


async def calls_page(
    store: GenotypeStore, where: GenotypeFilter, spelling: Spelling, page: PageRequest
) -> tuple[list[dict[str, Any]], int]:
    groups = await call_set_groups(store, where)
    names = await set_names(store, [*groups])
    skip, room, total = page.offset, page.page_size, 0
    documents: list[dict[str, Any]] = []
    for set_id, columns in groups.items():
        variants_of_set = with_filter(where, variant_set_db_ids=(set_id,))
        _, n_variants = await store.variant_rows(variants_of_set, 0, 1, alleles=False)
        width, n = len(columns), n_variants * len(columns)
        total += n
        if skip >= n:
            skip -= n
            continue
        if room:
            take = min(room, n - skip)
            v0, v1 = skip // width, (skip + take - 1) // width
            variants, _ = await store.variant_rows(variants_of_set, v0, v1 - v0 + 1, alleles=False)
            block = await block_for(
                store, set_id, [v.index for v in variants], [c.column for c in columns]
            )
            documents += call_documents(
                variants, columns, names[set_id], block, spelling, skip - v0 * width, take
            )
            room -= take
        skip = 0
    return documents, total


async def call_set_groups(
    store: GenotypeStore, where: GenotypeFilter
) -> dict[str, list[CallSetRow]]:
    """The call sets a request selects, by variant set (import order), columns ascending."""
    sets = set(where.variant_set_db_ids) | {s for s, _ in where.variants}
    chosen = with_filter(where, variant_set_db_ids=tuple(sorted(sets)))
    rows, total = await store.call_set_rows(chosen, 0, MAX_CALL_SETS)
    if total > MAX_CALL_SETS:
        raise ValidationFailed(
            "The request spans too many call sets",
            [FieldError("variantSetDbId", f"narrow it to at most {MAX_CALL_SETS} call sets")],
        )
    groups: dict[str, list[CallSetRow]] = {}
    for row in rows:
        groups.setdefault(row.variant_set_db_id, []).append(row)
    return groups


async def set_names(store: GenotypeStore, set_ids: Sequence[str]) -> dict[str, str]:
    if not set_ids:
        return {}
    rows, _ = await store.variant_set_rows(
        GenotypeFilter(variant_set_db_ids=tuple(set_ids)), 0, len(set_ids)
    )
    return {r.variant_set_db_id: r.name for r in rows}


async def _references(uow: UnitOfWork, db_ids: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """References (of this organization) as (reference set, contig name); an unknown id
    matches nothing."""
    found = await uow.resources.documents("reference", list(db_ids))
    pairs = tuple(
        (str(d.get("referenceSetDbId")), str(d.get("referenceName"))) for d in found.values()
    )
    return pairs or ((NO_DB_ID, NO_DB_ID),)


async def _reference_ids(
    uow: UnitOfWork, variants: Sequence[VariantRow]
) -> dict[tuple[str | None, str], str]:
    """The reference each variant is on: the contig of its name in its set's reference set
    (ADR 0273), looked up once per distinct contig on the page."""
    wanted = {(v.reference_set_db_id, v.chrom) for v in variants if v.reference_set_db_id}
    if not wanted:
        return {}
    alternatives = tuple({"referenceSetDbId": s, "referenceName": c} for s, c in wanted)
    ids = await uow.resources.matching_ids("reference", (alternatives,), 4 * len(wanted))
    found = await uow.resources.documents("reference", ids)
    on: dict[tuple[str | None, str], str] = {}
    for db_id, document in sorted(found.items()):
        key = (document.get("referenceSetDbId"), str(document.get("referenceName")))
        on.setdefault(key, db_id)
    return on


async def _with_germplasm(
    uow: UnitOfWork, where: GenotypeFilter, names: list[str], puis: list[str]
) -> GenotypeFilter:
    """Germplasm names and PUIs become germplasm DbIds (of this organization)."""
    alternatives = tuple(
        [{"germplasmName": n} for n in names] + [{"germplasmPUI": p} for p in puis]
    )
    found = await uow.resources.matching_ids("germplasm", (alternatives,), MAX_CALL_SETS)
    ids = (*where.germplasm_db_ids, *found) if found else (NO_DB_ID,)
    return with_filter(where, germplasm_db_ids=ids)


def _integer(raw: object) -> int:
    """A JSON body's integer as it is, a query's text in ASCII digits only (ADR 0387)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        return decimal_integer(raw)
    raise TypeError(type(raw).__name__)


def _dimension(params: Mapping[str, Any], name: str, default_size: int) -> tuple[int, int]:
    """A dimension's (page, pageSize) from a query (``dimensionVariantPage``) or a search
    body (``pagination: [{dimension: VARIANTS, page, pageSize}]``)."""
    page: Any = params.get(f"dimension{name}Page")
    size: Any = params.get(f"dimension{name}PageSize")
    for item in params.get("pagination") or []:
        if isinstance(item, dict) and str(item.get("dimension", "")).upper() == name.upper() + "S":
            page, size = item.get("page"), item.get("pageSize")
    values = []
    for raw, default, label in ((page, 0, "Page"), (size, default_size, "PageSize")):
        raw = raw[0] if isinstance(raw, list) and raw else raw
        try:
            values.append(default if raw in (None, "") else _integer(raw))
        except (TypeError, ValueError):
            raise ValidationFailed(
                "Invalid dimension page", [FieldError(f"dimension{name}{label}", str(raw))]
            ) from None
    return values[0], values[1]


@dataclass
class AlleleMatrix:
    """One page of the allele matrix: variants x call sets, every layer asked for."""

    store: GenotypeStore
    where: GenotypeFilter
    params: Mapping[str, Any]

    async def build(self) -> tuple[dict[str, Any], CodedMatrix | None]:
        """The page's document; when its GT matrix is coded (ADR 0295), the document holds
        :data:`CODED_PLACE` where the matrix goes and the codes come beside it."""
        spelling = Spelling.of(self.params)
        layers = abbreviations_of(self.params)
        preview = str(_first(self.params.get("preview"))).lower() == "true"
        groups = await call_set_groups(self.store, self.where)
        call_sets = [c for rows in groups.values() for c in rows]
        sets = self.where.variant_set_db_ids
        narrowed = self.where.call_set_db_ids or self.where.germplasm_db_ids
        if not sets and (narrowed or self.where.call_set_names):
            sets = tuple(groups) or (NO_DB_ID,)
        v_page, v_size = _dimension(self.params, "Variant", 100)
        c_page, c_size = _dimension(self.params, "CallSet", 100)
        if not preview:
            check_matrix_page(v_size, c_size, len(layers))
        c_offset, _ = dimension_page(len(call_sets), c_page, c_size, "dimensionCallSet")
        v_probe = with_filter(self.where, variant_set_db_ids=sets)
        thresholds = variant_thresholds(self.params)
        if thresholds.active:
            passing = await passing_rows(self.store, v_probe, groups, thresholds)
            v_total = len(passing)
            v_offset, _ = dimension_page(v_total, v_page, v_size, "dimensionVariant")
            variants = list(passing[v_offset : v_offset + v_size])
        else:
            _, v_total = await self.store.variant_rows(v_probe, 0, 1, alleles=False)
            v_offset, _ = dimension_page(v_total, v_page, v_size, "dimensionVariant")
            variants, _ = await self.store.variant_rows(v_probe, v_offset, v_size, alleles=False)
        columns = call_sets[c_offset : c_offset + c_size]
        matrices: list[dict[str, Any]] = []
        coded: CodedMatrix | None = None
        if not preview:
            matrices, coded = await self._layers(variants, columns, layers, spelling)
        return {
            "callSetDbIds": [c.call_set_db_id for c in columns],
            "variantDbIds": [v.db_id for v in variants],
            "variantSetDbIds": sorted({v.variant_set_db_id for v in variants}),
            "dataMatrices": matrices,
            **spelling.document(),
            "pagination": [
                _pagination("VARIANTS", v_page, v_size, v_total),
                _pagination("CALLSETS", c_page, c_size, len(call_sets)),
            ],
        }, coded

    async def _layers(
        self,
        variants: list[VariantRow],
        columns: list[CallSetRow],
        layers: list[str],
        spelling: Spelling,
    ) -> tuple[list[dict[str, Any]], CodedMatrix | None]:
        shape = (len(variants), len(columns))
        set_ids = {v.variant_set_db_id for v in variants}
        if len(set_ids) == 1 and all(c.variant_set_db_id in set_ids for c in columns):
            if not (variants and columns):
                return data_matrices(None, layers, spelling, shape), None
            block = await block_for(
                self.store,
                variants[0].variant_set_db_id,
                [v.index for v in variants],
                [c.column for c in columns],
            )
            found = spelling.coded(block) if "GT" in layers else None
            if found is None:
                return data_matrices(block, layers, spelling, shape, spelling.json(block)), None
            coded = CodedMatrix(found[0], shape[0], shape[1], found[1])
            matrices = data_matrices(block, layers, spelling, shape, msgspec.Raw(CODED_PLACE))
            return matrices, coded
        # Several variant sets: each set fills its own rows x columns; the rest is unknown.
        out = data_matrices(None, layers, spelling, shape)
        for set_id in sorted(set_ids):
            rows = [i for i, v in enumerate(variants) if v.variant_set_db_id == set_id]
            cols = [j for j, c in enumerate(columns) if c.variant_set_db_id == set_id]
            if not rows or not cols:
                continue
            block = await block_for(
                self.store,
                set_id,
                [variants[i].index for i in rows],
                [columns[j].column for j in cols],
            )
            filled = data_matrices(block, layers, spelling, (len(rows), len(cols)))
            for layer, part in zip(out, filled, strict=True):
                for r, i in enumerate(rows):
                    for c, j in enumerate(cols):
                        layer["dataMatrix"][i][j] = part["dataMatrix"][r][c]
        return out, None


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def _pagination(dimension: str, page: int, size: int, total: int) -> dict[str, Any]:
    return {
        "dimension": dimension,
        "page": page,
        "pageSize": size,
        "totalCount": total,
        "totalPages": -(-total // size) if size else 0,
    }
