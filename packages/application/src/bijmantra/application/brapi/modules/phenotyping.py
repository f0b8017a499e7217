"""BrAPI-Phenotyping: observation units, observations, variables and their parts, images, events.

Declarations only. The rules they name (a unit sits in its study and a consistent
observation-level hierarchy, an observation's value is a value of its variable's scale,
images are images) run in ``phenotyping_rules``; the streamed tables in ``phenotyping_tables``.
"""

from __future__ import annotations

from functools import partial

from bijmantra.application.brapi.entity import (
    CRUD,
    WITH_SEARCH,
    Entity,
    Match,
    Module,
    NoRules,
    Op,
    Ref,
    Vocabulary,
    external_reference_filters,
    fields,
)
from bijmantra.application.brapi.modules.phenotyping_rules import (
    MAX_IMAGE_FILE_SIZE,
    ImageFiles,
    ImageRules,
    ObservationRules,
    ObservationUnitRules,
    ScaleRules,
)
from bijmantra.application.brapi.modules.phenotyping_tables import (
    ObservationTable,
    ObservationUnitTable,
)
from bijmantra.application.brapi.schema import SchemaSet
from bijmantra.domain.phenotyping import OBSERVATION_LEVELS

SCHEMAS = SchemaSet("BrAPI-Phenotyping")
entity = partial(Entity, context="phenotyping", schemas=SCHEMAS)


def _names(schema: str) -> dict[str, str]:
    """Every field of a schema, copied under the same name (an embedded copy of a document)."""
    return {name: name for name in SCHEMAS.named(schema).get("properties", {})}


ONTOLOGY_REFERENCE = Ref(
    "ontologyReference.ontologyDbId", "ontology", {"ontologyName": "ontologyName"}
)
PART_FILTERS = {
    "ontologyDbId": Match.on("ontologyReference.ontologyDbId"),
    **external_reference_filters(),
}
PART_UNSUPPORTED = ("observationVariableDbId", "commonCropName", "programDbId")


def _variable_part(name: str, schema: str, rules: NoRules | None = None) -> Entity:
    """Traits, methods and scales: the three parts of a variable, declared alike."""
    db_id = f"{name}DbId"
    return entity(
        name=name,
        schema=schema,
        operations=CRUD,
        filters={db_id: Match.on(db_id), **PART_FILTERS},
        unsupported_filters=PART_UNSUPPORTED,
        references=(ONTOLOGY_REFERENCE,),
        rules=rules or NoRules(),
    )


ONTOLOGIES = entity(
    name="ontology",
    path="ontologies",
    schema="Ontology",
    operations=CRUD,
    filters=fields("ontologyDbId", "ontologyName"),
)

TRAITS = _variable_part("trait", "Trait")
METHODS = _variable_part("method", "Method")
SCALES = _variable_part("scale", "Scale", ScaleRules())

VARIABLES = entity(
    name="variable",
    schema="ObservationVariable",
    operations=WITH_SEARCH,
    filters={
        **fields(
            "observationVariableDbId",
            "observationVariableName",
            "observationVariablePUI",
            "commonCropName",
        ),
        "traitClass": Match.on("trait.traitClass"),
        "traitDbId": Match.on("trait.traitDbId"),
        "traitName": Match.on("trait.traitName"),
        "traitPUI": Match.on("trait.traitPUI"),
        "methodDbId": Match.on("method.methodDbId"),
        "methodName": Match.on("method.methodName"),
        "methodPUI": Match.on("method.methodPUI"),
        "scaleDbId": Match.on("scale.scaleDbId"),
        "scaleName": Match.on("scale.scaleName"),
        "scalePUI": Match.on("scale.scalePUI"),
        "dataType": Match.on("scale.dataType"),
        "ontologyDbId": Match.on("ontologyReference.ontologyDbId"),
        **external_reference_filters(),
    },
    unsupported_filters=("programDbId", "trialDbId", "studyDbId"),
    search_aliases={
        "observationVariablePUIs": "observationVariablePUI",
        "traitPUIs": "traitPUI",
        "methodPUIs": "methodPUI",
        "scalePUIs": "scalePUI",
        "traitClasses": "traitClass",
    },
    # A variable embeds its trait, method and scale as they are stored: the scale it is
    # validated against is the organization's scale, never a client's inline copy.
    references=(
        Ref("scale.scaleDbId", "scale", _names("Scale")),
        Ref("trait.traitDbId", "trait", _names("Trait")),
        Ref("method.methodDbId", "method", _names("Method")),
        ONTOLOGY_REFERENCE,
    ),
)

OBSERVATION_UNITS = entity(
    name="observationunit",
    schema="ObservationUnit",
    operations=WITH_SEARCH | {Op.UPDATE_MANY},
    filters={
        **fields(
            "observationUnitDbId",
            "observationUnitName",
            "locationDbId",
            "trialDbId",
            "studyDbId",
            "programDbId",
            "germplasmDbId",
            "observationUnitPUI",
            "locationName",
            "studyName",
            "trialName",
            "programName",
            "germplasmName",
        ),
        "observationUnitLevelName": Match.on("observationUnitPosition.observationLevel.levelName"),
        "observationUnitLevelOrder": Match.on(
            "observationUnitPosition.observationLevel.levelOrder"
        ),
        "observationUnitLevelCode": Match.on("observationUnitPosition.observationLevel.levelCode"),
        "observationUnitLevelRelationshipName": Match.on(
            "observationUnitPosition.observationLevelRelationships.*.levelName"
        ),
        "observationUnitLevelRelationshipOrder": Match.on(
            "observationUnitPosition.observationLevelRelationships.*.levelOrder"
        ),
        "observationUnitLevelRelationshipCode": Match.on(
            "observationUnitPosition.observationLevelRelationships.*.levelCode"
        ),
        "observationUnitLevelRelationshipDbId": Match.on(
            "observationUnitPosition.observationLevelRelationships.*.observationUnitDbId"
        ),
        **external_reference_filters(),
    },
    unsupported_filters=(
        "seasonDbId",
        "commonCropName",
        "observationVariableDbId",
        "observationVariableName",
        "observationVariablePUI",
        "observationLevel",
        "observationLevelRelationship",
    ),
    ignored_parameters=("includeObservations",),
    tables={"table": ObservationUnitTable()},
    search_aliases={"observationUnitNames": "observationUnitName"},
    references=(
        Ref("studyDbId", "study", {"studyName": "studyName"}),
        Ref("locationDbId", "location", {"locationName": "locationName"}),
        Ref("germplasmDbId", "germplasm", {"germplasmName": "germplasmName"}),
        Ref("seedLotDbId", "seedlot", {"seedLotName": "seedLotName"}),
        Ref("crossDbId", "cross", {"crossName": "crossName"}),
    ),
    rules=ObservationUnitRules(),
)

OBSERVATIONS = entity(
    name="observation",
    schema="Observation",
    operations=WITH_SEARCH | {Op.UPDATE_MANY, Op.DELETE},
    filters={
        **fields(
            "observationDbId",
            "observationUnitDbId",
            "observationVariableDbId",
            "studyDbId",
            "germplasmDbId",
            "observationUnitName",
            "observationVariableName",
            "germplasmName",
        ),
        "seasonDbId": Match.on("season.seasonDbId"),
        **external_reference_filters(),
    },
    unsupported_filters=(
        "locationDbId",
        "observationTimeStampRangeStart",
        "observationTimeStampRangeEnd",
        "observationUnitLevelName",
        "observationUnitLevelOrder",
        "observationUnitLevelCode",
        "observationUnitLevelRelationshipName",
        "observationUnitLevelRelationshipOrder",
        "observationUnitLevelRelationshipCode",
        "observationUnitLevelRelationshipDbId",
        "commonCropName",
        "programDbId",
        "trialDbId",
        "observationLevel",
        "observationLevelRelationship",
        "observationVariablePUI",
        "searchResultsDbId",
    ),
    search_aliases={"seasonDbIds": "seasonDbId"},
    references=(Ref("season.seasonDbId", "season", {"seasonName": "seasonName", "year": "year"}),),
    rules=ObservationRules(),
    tables={"table": ObservationTable()},
)

IMAGES = entity(
    name="image",
    schema="Image",
    operations=WITH_SEARCH | {Op.DELETE},
    filters={
        **fields("imageDbId", "imageName", "observationUnitDbId", "imageFileName", "mimeType"),
        "observationDbId": Match.on("observationDbIds.*"),
        "descriptiveOntologyTerm": Match.on("descriptiveOntologyTerms.*"),
        **external_reference_filters(),
    },
    unsupported_filters=("commonCropName", "programDbId"),
    references=(Ref("observationUnitDbId", "observationunit"),),
    rules=ImageRules(),
    content=("imagecontent", ImageFiles()),
)

EVENTS = entity(
    name="event",
    schema="Event",
    operations=frozenset({Op.LIST}),
    filters={
        **fields("eventDbId", "eventType", "studyDbId"),
        "observationUnitDbId": Match.on("observationUnitDbIds.*"),
    },
    unsupported_filters=("dateRangeStart", "dateRangeEnd"),
    references=(Ref("studyDbId", "study", {"studyName": "studyName"}),),
)

PHENOTYPING = Module(
    name="BrAPI-Phenotyping",
    entities=(
        ONTOLOGIES,
        TRAITS,
        METHODS,
        SCALES,
        VARIABLES,
        OBSERVATION_UNITS,
        OBSERVATIONS,
        IMAGES,
        EVENTS,
    ),
    vocabularies=(
        # The hierarchy every unit's levels are checked against (``ObservationUnitRules``).
        Vocabulary(
            "observationlevels",
            "observationlevels",
            "phenotyping",
            (),
            fixed=tuple({"levelName": n, "levelOrder": o} for n, o in OBSERVATION_LEVELS.items()),
        ),
    ),
)

__all__ = ["MAX_IMAGE_FILE_SIZE", "PHENOTYPING"]
