"""BrAPI-Germplasm: germplasm, attributes and values, crosses, pedigree, seed lots.

Declarations only. The rules they name (pedigrees without cycles, seed moving between lots
without any lot going below zero) run in ``germplasm_rules``; the derived views in
``germplasm_views``.
"""

from __future__ import annotations

from functools import partial

from bijmantra.application.brapi.entity import (
    CRUD,
    READ_ONLY,
    WITH_SEARCH,
    Entity,
    Match,
    Module,
    Op,
    Ref,
    View,
    Vocabulary,
    external_reference_filters,
    fields,
)
from bijmantra.application.brapi.modules.germplasm_rules import (
    AttributeRules,
    GermplasmRules,
    PedigreeRules,
    SeedLotRules,
    SeedLotTransactionRules,
)
from bijmantra.application.brapi.modules.germplasm_views import (
    mcpd_view,
    pedigree_view,
    progeny_view,
)
from bijmantra.application.brapi.schema import SchemaSet

entity = partial(Entity, context="germplasm", schemas=SchemaSet("BrAPI-Germplasm"))

UNSUPPORTED_CROSS_MODULE = ("programDbId", "trialDbId", "studyDbId")


GERMPLASM_REFERENCE = {"germplasmName": "germplasmName"}

GERMPLASM = entity(
    name="germplasm",
    path="germplasm",
    schema="Germplasm",
    operations=WITH_SEARCH,
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

BREEDING_METHODS = entity(
    name="breedingmethod",
    schema="BreedingMethod",
    operations=READ_ONLY,
    filters=fields("breedingMethodDbId", "breedingMethodName", "abbreviation"),
)

ATTRIBUTES = entity(
    name="attribute",
    schema="GermplasmAttribute",
    db_id="attributeDbId",
    operations=WITH_SEARCH,
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

ATTRIBUTE_VALUES = entity(
    name="attributevalue",
    schema="GermplasmAttributeValue",
    db_id="attributeValueDbId",
    operations=WITH_SEARCH,
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

_UNIT_NAME = {"observationUnitName": "observationUnitName"}
_CROSS_PARENTS = (
    Ref("parent1.germplasmDbId", "germplasm", GERMPLASM_REFERENCE),
    Ref("parent2.germplasmDbId", "germplasm", GERMPLASM_REFERENCE),
    Ref("parent1.observationUnitDbId", "observationunit", _UNIT_NAME),
    Ref("parent2.observationUnitDbId", "observationunit", _UNIT_NAME),
)
_CROSSING_PROJECT = Ref(
    "crossingProjectDbId", "crossingproject", {"crossingProjectName": "crossingProjectName"}
)


def _cross_entity(
    name: str, path: str, schema: str, own_filters: tuple[str, ...], *references: Ref
) -> Entity:
    """A cross and a planned cross are declared alike: listed, created and updated in bulk
    within a crossing project, between two parent germplasm; ``own_filters`` and
    ``references`` are what one kind adds."""
    return entity(
        name=name,
        path=path,
        schema=schema,
        operations=frozenset({Op.LIST, Op.CREATE, Op.UPDATE_MANY}),
        filters={
            **fields("crossingProjectDbId", "crossingProjectName", "crossType", *own_filters),
            **external_reference_filters(),
        },
        unsupported_filters=("commonCropName", "programDbId"),
        references=(_CROSSING_PROJECT, *references, *_CROSS_PARENTS),
    )


CROSSES = _cross_entity(
    "cross",
    "crosses",
    "Cross",
    ("crossDbId", "crossName", "plannedCrossDbId"),
    Ref("plannedCrossDbId", "plannedcross", {"plannedCrossName": "plannedCrossName"}),
)
PLANNED_CROSSES = _cross_entity(
    "plannedcross",
    "plannedcrosses",
    "PlannedCross",
    ("plannedCrossDbId", "plannedCrossName", "status"),
)

CROSSING_PROJECTS = entity(
    name="crossingproject",
    schema="CrossingProject",
    operations=CRUD,
    filters={
        **fields("crossingProjectDbId", "crossingProjectName", "commonCropName", "programDbId"),
        **external_reference_filters(),
    },
    ignored_parameters=("includePotentialParents",),
    references=(
        Ref("programDbId", "program", {"programName": "programName"}),
        Ref("potentialParents.*.germplasmDbId", "germplasm", GERMPLASM_REFERENCE),
        Ref("potentialParents.*.observationUnitDbId", "observationunit", _UNIT_NAME),
    ),
)

PEDIGREE = entity(
    name="pedigree",
    path="pedigree",
    schema="PedigreeNode",
    request_schema="PedigreeNode",
    search_schema="PedigreeSearchRequest",
    db_id="germplasmDbId",
    client_ids=True,
    serial_writes=True,  # a node is created if its DbId is free; no edge may close a cycle
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

SEED_LOTS = entity(
    name="seedlot",
    schema="SeedLot",
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

SEED_LOT_TRANSACTIONS = entity(
    name="seedlottransaction",
    path="seedlots/transactions",
    schema="SeedLotTransaction",
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
