"""BrAPI-Germplasm: germplasm, attributes and values, crosses, pedigree, seed lots.

Besides declarations, this file holds the module's real rules: pedigrees without cycles,
seed moving between lots without any lot going below zero, and the derived views.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bijmantra.application.brapi.entity import (
    CRUD,
    READ_ONLY,
    DocumentReader,
    Entity,
    Match,
    Module,
    NoRules,
    Op,
    Ref,
    View,
    Vocabulary,
    WriteContext,
    external_reference_filters,
    fields,
)
from bijmantra.application.brapi.queries import containment
from bijmantra.application.brapi.schema import SchemaSet, empty
from bijmantra.domain.germplasm import (
    InsufficientSeed,
    SeedLotTransfer,
    acquisition_date_problem,
    apply_transfers,
    find_cycle,
)
from bijmantra.kernel import Conflict, FieldError, Unprocessable, ValidationFailed, new_id

SCHEMAS = SchemaSet("BrAPI-Germplasm")
UNSUPPORTED_CROSS_MODULE = ("programDbId", "trialDbId", "studyDbId")


class GermplasmRules(NoRules):
    async def prepare(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        problems = [
            FieldError(f"{context.location(d)}.acquisitionDate", problem)
            for d in documents
            if (
                problem := acquisition_date_problem(
                    d.get("acquisitionDate"), context.clock.now().date()
                )
            )
        ]
        if problems:
            raise ValidationFailed("Invalid Germplasm", problems)


class AttributeRules(NoRules):
    """An attribute's trait, method and scale are identified objects (the spec requires DbIds)."""

    async def prepare(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        for document in documents:
            for part in ("trait", "method", "scale"):
                if isinstance(document.get(part), dict) and not document[part].get(f"{part}DbId"):
                    document[part][f"{part}DbId"] = new_id()


def _parent_ids(node: dict[str, Any]) -> list[str]:
    return [p["germplasmDbId"] for p in node.get("parents") or [] if p.get("germplasmDbId")]


class PedigreeRules(NoRules):
    """Nodes name existing germplasm, none becomes its own ancestor, parents list their progeny."""

    async def prepare(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        own = await context.store.documents("germplasm", [d["germplasmDbId"] for d in documents])
        for document in documents:
            germplasm = own.get(document["germplasmDbId"])
            if germplasm is not None:
                for key in ("germplasmName", "germplasmPUI", "defaultDisplayName"):
                    document[key] = germplasm.get(key)
        problems = [
            FieldError(
                f"{context.location(d)}.germplasmDbId", "not a germplasm of this organization"
            )
            for d in documents
            if d["germplasmDbId"] not in own
        ]
        if problems:
            raise Unprocessable("Pedigree nodes must describe existing germplasm", problems)
        await self._reject_cycles(context, documents)

    async def _reject_cycles(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        graph: dict[str, list[str]] = {}
        for node in await context.store.matching("pedigree", (), limit=10_000_000):
            graph[node["germplasmDbId"]] = _parent_ids(node)
        for node in documents:
            graph[node["germplasmDbId"]] = _parent_ids(node)
        cycle = find_cycle(graph)
        if cycle is not None:
            raise Unprocessable(
                "A germplasm cannot be its own ancestor",
                [FieldError("parents", f"pedigree cycle {cycle}")],
            )

    async def after(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        """Keep ``progeny`` equal to the nodes naming it as a parent: for the new parents, the
        former parents (nodes listing a written node as progeny) and the written nodes."""
        written = [d["germplasmDbId"] for d in documents]
        former = [
            node["germplasmDbId"]
            for child in written
            for node in await context.store.matching(
                "pedigree", ((containment("progeny.*.germplasmDbId", child),),), 100_000
            )
        ]
        parents = sorted(
            {p for d in documents for p in _parent_ids(d)} | set(former) | set(written)
        )
        existing = await context.store.documents("pedigree", parents, for_update=True)
        germplasm = await context.store.documents(
            "germplasm", [p for p in parents if p not in existing]
        )
        changed, created = [], []
        for parent in parents:
            children = await context.store.matching(
                "pedigree", ((containment("parents.*.germplasmDbId", parent),),), 100_000
            )
            progeny = [
                {
                    "germplasmDbId": c["germplasmDbId"],
                    "germplasmName": c["germplasmName"],
                    "parentType": p.get("parentType"),
                }
                for c in children
                for p in c.get("parents") or []
                if p.get("germplasmDbId") == parent
            ]
            if parent in existing:
                node = existing[parent]
                if node.get("progeny") != progeny:
                    node["progeny"] = progeny
                    changed.append((parent, node))
            elif parent in germplasm and progeny:
                node = empty(context.entity.document_schema)
                g = germplasm[parent]
                node.update(
                    germplasmDbId=parent,
                    germplasmName=g["germplasmName"],
                    germplasmPUI=g.get("germplasmPUI"),
                    defaultDisplayName=g.get("defaultDisplayName"),
                    progeny=progeny,
                    parents=[],
                    siblings=[],
                )
                created.append((parent, node))
        await context.save("pedigree", changed, new=False)
        await context.save("pedigree", created, new=True)


class SeedLotRules(NoRules):
    async def prepare(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        problems = [
            FieldError(f"{context.location(d)}.amount", "must not be negative")
            for d in documents
            if (d.get("amount") or 0) < 0
        ]
        if problems:
            raise ValidationFailed("Invalid SeedLot", problems)
        for document in documents:
            document["amount"] = document.get("amount") or 0


class SeedLotTransactionRules(NoRules):
    """Transactions move seed atomically: lots are locked, every balance stays >= 0."""

    async def prepare(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        problems = []
        for d in documents:
            where = context.location(d)
            if d.get("amount") is None or d["amount"] <= 0:
                problems.append(FieldError(f"{where}.amount", "must be a positive number"))
            if not d.get("fromSeedLotDbId") and not d.get("toSeedLotDbId"):
                problems.append(FieldError(where, "needs fromSeedLotDbId or toSeedLotDbId"))
            if d.get("fromSeedLotDbId") and d.get("fromSeedLotDbId") == d.get("toSeedLotDbId"):
                problems.append(FieldError(where, "cannot move seed from a lot to itself"))
        if problems:
            raise ValidationFailed("Invalid SeedLotTransaction", problems)
        lot_ids = sorted(
            {d[k] for d in documents for k in ("fromSeedLotDbId", "toSeedLotDbId") if d.get(k)}
        )
        lots = await context.store.documents(
            "seedlot", lot_ids, for_update=True
        )  # sorted: no deadlocks
        transfers = [
            SeedLotTransfer(d["amount"], d.get("fromSeedLotDbId"), d.get("toSeedLotDbId"))
            for d in documents
        ]
        try:
            balances = apply_transfers(
                {i: float(lots[i].get("amount") or 0) for i in lots}, transfers
            )
        except InsufficientSeed as exc:
            raise Conflict(
                "Not enough seed in the lot", [FieldError(f"[{exc.index}].amount", str(exc))]
            ) from None
        for document in documents:
            if document.get("units") is None:
                lot_id = document.get("fromSeedLotDbId") or document.get("toSeedLotDbId")
                lot = lots.get(lot_id) if lot_id else None
                document["units"] = lot.get("units") if lot else None
        changed = []
        for lot_id, balance in balances.items():
            amount: float | int = int(balance) if float(balance).is_integer() else balance
            if lots[lot_id].get("amount") != amount:
                lots[lot_id]["amount"] = amount
                changed.append((lot_id, lots[lot_id]))
        await context.save("seedlot", changed, new=False)


GERMPLASM_REFERENCE = {"germplasmName": "germplasmName"}

GERMPLASM = Entity(
    name="germplasm",
    path="germplasm",
    context="germplasm",
    schemas=SCHEMAS,
    schema="Germplasm",
    request_schema="GermplasmNewRequest",
    search_schema="GermplasmSearchRequest",
    db_id="germplasmDbId",
    operations=CRUD | {Op.SEARCH},
    filters={
        **fields(
            "accessionNumber",
            "collection",
            "genus",
            "species",
            "commonCropName",
            "germplasmDbId",
            "germplasmName",
            "germplasmPUI",
            "instituteCode",
            "countryOfOriginCode",
            "seedSource",
            "defaultDisplayName",
            "biologicalStatusOfAccessionCode",
            "breedingMethodDbId",
        ),
        "synonym": Match.on("synonyms.*.synonym"),
        **external_reference_filters(),
    },
    unsupported_filters=(
        "binomialName",
        "parentDbId",
        "progenyDbId",
        "familyCode",
        *UNSUPPORTED_CROSS_MODULE,
    ),
    search_aliases={"germplasmPUIs": "germplasmPUI", "instituteCodes": "instituteCode"},
    references=(
        Ref("breedingMethodDbId", "breedingmethod", {"breedingMethodName": "breedingMethodName"}),
    ),
    rules=GermplasmRules(),
    event_version=2,  # v1 was the foundation slice's snake_case snapshot; see events.UPCASTERS
)

BREEDING_METHODS = Entity(
    name="breedingmethod",
    path="breedingmethods",
    context="germplasm",
    schemas=SCHEMAS,
    schema="BreedingMethod",
    request_schema="BreedingMethod",
    db_id="breedingMethodDbId",
    operations=READ_ONLY,
    filters=fields("breedingMethodDbId", "breedingMethodName", "abbreviation"),
)

ATTRIBUTES = Entity(
    name="attribute",
    path="attributes",
    context="germplasm",
    schemas=SCHEMAS,
    schema="GermplasmAttribute",
    request_schema="GermplasmAttributeNewRequest",
    search_schema="GermplasmAttributeSearchRequest",
    db_id="attributeDbId",
    operations=CRUD | {Op.SEARCH},
    filters={
        **fields(
            "attributeCategory", "attributeDbId", "attributeName", "attributePUI", "commonCropName"
        ),
        **{
            f"{part}{suffix}": Match.on(f"{part}.{part}{suffix}")
            for part in ("method", "scale", "trait")
            for suffix in ("DbId", "Name", "PUI")
        },
        **external_reference_filters(),
    },
    unsupported_filters=(
        "germplasmDbId",
        "programDbId",
        "ontologyDbId",
        "observationVariableDbId",
        "dataType",
        "studyDbId",
        "trialDbId",
        "traitClass",
        "traitClasses",
    ),
    search_aliases={"attributePUIs": "attributePUI", "attributeCategories": "attributeCategory"},
    rules=AttributeRules(),
)

ATTRIBUTE_VALUES = Entity(
    name="attributevalue",
    path="attributevalues",
    context="germplasm",
    schemas=SCHEMAS,
    schema="GermplasmAttributeValue",
    request_schema="GermplasmAttributeValueNewRequest",
    search_schema="GermplasmAttributeValueSearchRequest",
    db_id="attributeValueDbId",
    operations=CRUD | {Op.SEARCH},
    filters={
        **fields(
            "attributeValueDbId",
            "attributeDbId",
            "attributeName",
            "germplasmDbId",
            "germplasmName",
            "value",
        ),
        **external_reference_filters(),
    },
    unsupported_filters=(
        "commonCropName",
        "programDbId",
        "trialDbId",
        "studyDbId",
        "germplasmPUI",
        "ontologyDbId",
        "dataType",
        "methodDbId",
        "scaleDbId",
        "traitDbId",
        "traitClass",
    ),
    references=(
        Ref("attributeDbId", "attribute", {"attributeName": "attributeName"}),
        Ref("germplasmDbId", "germplasm", GERMPLASM_REFERENCE),
    ),
)

_CROSS_PARENTS = (
    Ref("parent1.germplasmDbId", "germplasm", GERMPLASM_REFERENCE),
    Ref("parent2.germplasmDbId", "germplasm", GERMPLASM_REFERENCE),
)
_CROSSING_PROJECT = Ref(
    "crossingProjectDbId", "crossingproject", {"crossingProjectName": "crossingProjectName"}
)

CROSSES = Entity(
    name="cross",
    path="crosses",
    context="germplasm",
    schemas=SCHEMAS,
    schema="Cross",
    request_schema="CrossNewRequest",
    db_id="crossDbId",
    operations=frozenset({Op.LIST, Op.CREATE, Op.UPDATE_MANY}),
    filters={
        **fields(
            "crossingProjectDbId",
            "crossingProjectName",
            "crossDbId",
            "crossName",
            "crossType",
            "plannedCrossDbId",
        ),
        **external_reference_filters(),
    },
    unsupported_filters=("commonCropName", "programDbId"),
    references=(
        _CROSSING_PROJECT,
        Ref("plannedCrossDbId", "plannedcross", {"plannedCrossName": "plannedCrossName"}),
        *_CROSS_PARENTS,
    ),
)

PLANNED_CROSSES = Entity(
    name="plannedcross",
    path="plannedcrosses",
    context="germplasm",
    schemas=SCHEMAS,
    schema="PlannedCross",
    request_schema="PlannedCrossNewRequest",
    db_id="plannedCrossDbId",
    operations=frozenset({Op.LIST, Op.CREATE, Op.UPDATE_MANY}),
    filters={
        **fields(
            "crossingProjectDbId",
            "crossingProjectName",
            "plannedCrossDbId",
            "plannedCrossName",
            "status",
            "crossType",
        ),
        **external_reference_filters(),
    },
    unsupported_filters=("commonCropName", "programDbId"),
    references=(_CROSSING_PROJECT, *_CROSS_PARENTS),
)

CROSSING_PROJECTS = Entity(
    name="crossingproject",
    path="crossingprojects",
    context="germplasm",
    schemas=SCHEMAS,
    schema="CrossingProject",
    request_schema="CrossingProjectNewRequest",
    db_id="crossingProjectDbId",
    operations=CRUD,
    filters={
        **fields("crossingProjectDbId", "crossingProjectName", "commonCropName", "programDbId"),
        **external_reference_filters(),
    },
    ignored_parameters=("includePotentialParents",),
    references=(
        Ref("programDbId", "program", {"programName": "programName"}),
        Ref("potentialParents.*.germplasmDbId", "germplasm", GERMPLASM_REFERENCE),
    ),
)

PEDIGREE = Entity(
    name="pedigree",
    path="pedigree",
    context="germplasm",
    schemas=SCHEMAS,
    schema="PedigreeNode",
    request_schema="PedigreeNode",
    search_schema="PedigreeSearchRequest",
    db_id="germplasmDbId",
    client_ids=True,
    operations=frozenset({Op.LIST, Op.CREATE, Op.UPDATE_MANY, Op.SEARCH}),
    filters={
        **fields(
            "germplasmDbId",
            "germplasmName",
            "germplasmPUI",
            "familyCode",
            "crossingProjectDbId",
            "breedingMethodDbId",
        ),
        **external_reference_filters(),
    },
    unsupported_filters=(
        "accessionNumber",
        "collection",
        "binomialName",
        "genus",
        "species",
        "synonym",
        "commonCropName",
        "instituteCode",
        "pedigreeDepth",
        "progenyDepth",
        "includeFullTree",
        *UNSUPPORTED_CROSS_MODULE,
    ),
    ignored_parameters=("includeParents", "includeSiblings", "includeProgeny"),
    search_aliases={"germplasmPUIs": "germplasmPUI", "familyCodes": "familyCode"},
    references=(
        Ref("parents.*.germplasmDbId", "germplasm", GERMPLASM_REFERENCE),
        Ref("siblings.*.germplasmDbId", "germplasm", GERMPLASM_REFERENCE),
        Ref("progeny.*.germplasmDbId", "germplasm", GERMPLASM_REFERENCE),
        Ref("breedingMethodDbId", "breedingmethod", {"breedingMethodName": "breedingMethodName"}),
        Ref("crossingProjectDbId", "crossingproject"),
    ),
    rules=PedigreeRules(),
)

SEED_LOTS = Entity(
    name="seedlot",
    path="seedlots",
    context="germplasm",
    schemas=SCHEMAS,
    schema="SeedLot",
    request_schema="SeedLotNewRequest",
    db_id="seedLotDbId",
    operations=CRUD,
    filters={
        **fields("seedLotDbId", "seedLotName", "locationDbId", "programDbId", "units"),
        "germplasmDbId": Match.on("contentMixture.*.germplasmDbId"),
        "germplasmName": Match.on("contentMixture.*.germplasmName"),
        "crossDbId": Match.on("contentMixture.*.crossDbId"),
        "crossName": Match.on("contentMixture.*.crossName"),
        **external_reference_filters(),
    },
    unsupported_filters=("commonCropName",),
    references=(
        Ref("programDbId", "program", {"programName": "programName"}),
        Ref("locationDbId", "location", {"locationName": "locationName"}),
        Ref("contentMixture.*.germplasmDbId", "germplasm", GERMPLASM_REFERENCE),
        Ref("contentMixture.*.crossDbId", "cross", {"crossName": "crossName"}),
    ),
    children={"transactions": ("seedlottransaction", "seedLotDbId")},
    rules=SeedLotRules(),
)

SEED_LOT_TRANSACTIONS = Entity(
    name="seedlottransaction",
    path="seedlots/transactions",
    context="germplasm",
    schemas=SCHEMAS,
    schema="SeedLotTransaction",
    request_schema="SeedLotTransactionNewRequest",
    db_id="transactionDbId",
    operations=frozenset({Op.LIST, Op.CREATE}),
    filters={
        **fields("transactionDbId", "units"),
        "seedLotDbId": Match.on("fromSeedLotDbId", "toSeedLotDbId"),
        **external_reference_filters(),
    },
    unsupported_filters=(
        "crossDbId",
        "crossName",
        "commonCropName",
        "programDbId",
        "germplasmDbId",
        "germplasmName",
        "transactionDirection",
    ),
    references=(Ref("fromSeedLotDbId", "seedlot"), Ref("toSeedLotDbId", "seedlot")),
    rules=SeedLotTransactionRules(),
)


async def mcpd_view(reader: DocumentReader, germplasm: dict[str, Any]) -> dict[str, Any]:
    """The germplasm in FAO/Bioversity Multi-Crop Passport Descriptors form."""
    document = empty(SCHEMAS.named("GermplasmMCPD"))
    for key in (
        "accessionNumber",
        "acquisitionDate",
        "biologicalStatusOfAccessionCode",
        "commonCropName",
        "genus",
        "germplasmDbId",
        "germplasmPUI",
        "instituteCode",
        "species",
        "speciesAuthority",
    ):
        document[key] = germplasm.get(key)
    document.update(
        accessionNames=[s["synonym"] for s in germplasm.get("synonyms") or [] if s.get("synonym")],
        alternateIDs=[
            r["referenceId"]
            for r in germplasm.get("externalReferences") or []
            if r.get("referenceId")
        ],
        ancestralData=germplasm.get("pedigree"),
        countryOfOrigin=germplasm.get("countryOfOriginCode"),
        subtaxon=germplasm.get("subtaxa"),
        subtaxonAuthority=germplasm.get("subtaxaAuthority"),
        storageTypeCodes=[s["code"] for s in germplasm.get("storageTypes") or [] if s.get("code")],
        breedingInstitutes=[],
        safetyDuplicateInstitutes=[],
    )
    donors = germplasm.get("donors") or []
    if donors:
        donor = donors[0]
        document["donorInfo"] = {
            "donorAccessionNumber": donor.get("donorAccessionNumber"),
            "donorAccessionPui": None,
            "donorInstitute": {
                "instituteCode": donor.get("donorInstituteCode"),
                "instituteName": None,
            },
        }
    return document


async def pedigree_view(reader: DocumentReader, germplasm: dict[str, Any]) -> dict[str, Any]:
    """The deprecated v2.0-style pedigree of one germplasm, from its pedigree node."""
    node = (await reader.documents("pedigree", [germplasm["germplasmDbId"]])).get(
        germplasm["germplasmDbId"]
    ) or {}
    return {
        "germplasmDbId": germplasm["germplasmDbId"],
        "germplasmName": germplasm["germplasmName"],
        "pedigree": node.get("pedigreeString") or germplasm.get("pedigree"),
        "crossingProjectDbId": node.get("crossingProjectDbId"),
        "crossingYear": node.get("crossingYear"),
        "familyCode": node.get("familyCode"),
        "parents": [
            {
                "germplasmDbId": p.get("germplasmDbId"),
                "germplasmName": p.get("germplasmName"),
                "parentType": p.get("parentType"),
            }
            for p in node.get("parents") or []
        ],
        "siblings": [
            {"germplasmDbId": s.get("germplasmDbId"), "germplasmName": s.get("germplasmName")}
            for s in node.get("siblings") or []
        ],
    }


async def progeny_view(reader: DocumentReader, germplasm: dict[str, Any]) -> dict[str, Any]:
    db_id = germplasm["germplasmDbId"]
    progeny: dict[str, dict[str, Any]] = defaultdict(dict)
    for child in await reader.matching("pedigree", containment("parents.*.germplasmDbId", db_id)):
        for parent in child.get("parents") or []:
            if parent.get("germplasmDbId") == db_id:
                progeny[child["germplasmDbId"]] = {
                    "germplasmDbId": child["germplasmDbId"],
                    "germplasmName": child.get("germplasmName"),
                    "parentType": parent.get("parentType") or "POPULATION",
                }
    return {
        "germplasmDbId": db_id,
        "germplasmName": germplasm["germplasmName"],
        "progeny": list(progeny.values()),
    }


GERMPLASM_MODULE = Module(
    name="BrAPI-Germplasm",
    entities=(
        GERMPLASM,
        BREEDING_METHODS,
        ATTRIBUTES,
        ATTRIBUTE_VALUES,
        CROSSES,
        PLANNED_CROSSES,
        CROSSING_PROJECTS,
        PEDIGREE,
        SEED_LOTS,
        SEED_LOT_TRANSACTIONS,
    ),
    vocabularies=(
        Vocabulary(
            "attributecategories",
            "attributes/categories",
            "germplasm",
            (("attribute", "attributeCategory"),),
        ),
    ),
    views=(
        View("germplasm", "mcpd", "GermplasmMCPD", mcpd_view),
        View("germplasm", "pedigree", "PedigreeNodeDEP", pedigree_view),
        View("germplasm", "progeny", "ProgenyNodeDEP", progeny_view),
    ),
)
