"""BrAPI-Phenotyping: observation units, observations, variables and their parts, images, events.

Besides declarations, this file holds the module's real rules: a unit belongs to a study of
the organization (its trial and program follow from the study) and sits in a consistent
observation-level hierarchy; an observation's value is a value of its variable's scale;
a variable's trait, method and scale are the organization's; images are images.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bijmantra.application.brapi.entity import (
    CRUD,
    Entity,
    Match,
    Module,
    NoRules,
    Op,
    Ref,
    TableChunk,
    Vocabulary,
    WriteContext,
    external_reference_filters,
    fields,
)
from bijmantra.application.brapi.schema import SchemaSet
from bijmantra.application.ports.documents import Criteria, ResourceStore
from bijmantra.domain.phenotyping import (
    OBSERVATION_LEVELS,
    hierarchy_problems,
    image_problem,
    scale_problem,
    scale_rule,
)
from bijmantra.kernel import FieldError, Unprocessable, ValidationFailed

SCHEMAS = SchemaSet("BrAPI-Phenotyping")
WITH_SEARCH = CRUD | {Op.SEARCH}
MAX_IMAGE_FILE_SIZE = 8 * 1024 * 1024  # bytes; one gRPC message carries the content
TABLE_CHUNK = 2000  # documents per streamed table chunk


def _fail(
    error: type[ValidationFailed | Unprocessable], message: str, problems: list[FieldError]
) -> None:
    if problems:
        raise error(message, problems)


def _adopt(
    context: WriteContext,
    document: dict[str, Any],
    source: dict[str, Any],
    keys: Iterable[tuple[str, str]],
    problems: list[FieldError],
) -> None:
    """Take ``source``'s values for ``keys`` (local, remote); a differing client DbId is wrong."""
    for local, remote in keys:
        given, actual = document.get(local), source.get(remote)
        if given is not None and actual is not None and given != actual and local.endswith("DbId"):
            problems.append(
                FieldError(f"{context.location(document)}.{local}", f"must be {actual!r}")
            )
        elif actual is not None:
            document[local] = actual


def _names(schema: str) -> dict[str, str]:
    """Every field of a schema, copied under the same name (an embedded copy of a document)."""
    return {name: name for name in SCHEMAS.named(schema).get("properties", {})}


class ObservationUnitRules(NoRules):
    """A unit belongs to a study of the organization; its trial and program are the study's;
    its observation levels form a consistent hierarchy whose named ancestors are units of
    the same study at those levels."""

    async def prepare(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        problems: list[FieldError] = []
        for document in documents:
            if document.get("studyDbId") is None:
                problems.append(
                    FieldError(f"{context.location(document)}.studyDbId", "is required")
                )
            position = document.get("observationUnitPosition") or {}
            problems += [
                FieldError(
                    f"{context.location(document)}.observationUnitPosition.{p.path}", p.message
                )
                for p in hierarchy_problems(position)
            ]
        _fail(ValidationFailed, "Invalid ObservationUnit", problems)
        studies = await context.store.documents(
            "study", sorted({d["studyDbId"] for d in documents})
        )
        trials = await context.store.documents(
            "trial", sorted({s["trialDbId"] for s in studies.values() if s.get("trialDbId")})
        )
        for document in documents:
            study = studies.get(document["studyDbId"], {})
            _adopt(
                context,
                document,
                study,
                [("trialDbId", "trialDbId"), ("trialName", "trialName")],
                problems,
            )
            trial = trials.get(document.get("trialDbId") or "", {})
            _adopt(
                context,
                document,
                trial,
                [("programDbId", "programDbId"), ("programName", "programName")],
                problems,
            )
        await self._check_ancestors(context, documents, problems)
        _fail(Unprocessable, "ObservationUnit does not fit its study", problems)

    async def _check_ancestors(
        self, context: WriteContext, documents: list[dict[str, Any]], problems: list[FieldError]
    ) -> None:
        sites = [
            (document, index, relation)
            for document in documents
            for index, relation in enumerate(
                (document.get("observationUnitPosition") or {}).get("observationLevelRelationships")
                or []
            )
            if relation and relation.get("observationUnitDbId")
        ]
        ancestors = await context.store.documents(
            "observationunit", sorted({r["observationUnitDbId"] for _, _, r in sites})
        )
        for document, index, relation in sites:
            where = (
                f"{context.location(document)}.observationUnitPosition"
                f".observationLevelRelationships[{index}]"
            )
            ancestor = ancestors.get(relation["observationUnitDbId"])
            if ancestor is None:
                problems.append(
                    FieldError(f"{where}.observationUnitDbId", "unknown observation unit")
                )
                continue
            level = (ancestor.get("observationUnitPosition") or {}).get("observationLevel") or {}
            if ancestor.get("studyDbId") != document.get("studyDbId"):
                problems.append(
                    FieldError(f"{where}.observationUnitDbId", "is a unit of another study")
                )
            elif level.get("levelName") != relation.get("levelName"):
                problems.append(
                    FieldError(
                        f"{where}.levelName", f"the unit is at level {level.get('levelName')!r}"
                    )
                )
            elif relation.get("levelCode") is None:
                relation["levelCode"] = level.get("levelCode")


UNIT_KEYS = (
    ("observationUnitName", "observationUnitName"),
    ("studyDbId", "studyDbId"),
    ("germplasmDbId", "germplasmDbId"),
    ("germplasmName", "germplasmName"),
)


class ObservationRules(NoRules):
    """An observation is of a unit and a variable of the organization; its study and germplasm
    are the unit's; its value is a value of the variable's scale. Every item is checked
    before any is stored, and every problem is reported with the item's index."""

    async def prepare(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        problems = [
            FieldError(f"{context.location(d)}.{key}", "is required")
            for d in documents
            for key in ("observationUnitDbId", "observationVariableDbId")
            if d.get(key) is None
        ]
        _fail(ValidationFailed, "Invalid Observation", problems)
        units = await context.store.documents(
            "observationunit", sorted({d["observationUnitDbId"] for d in documents})
        )
        variables = await context.store.documents(
            "variable", sorted({d["observationVariableDbId"] for d in documents})
        )
        rules = {db_id: scale_rule(v.get("scale")) for db_id, v in variables.items()}
        values: list[FieldError] = []
        for document in documents:
            where = context.location(document)
            unit = units.get(document["observationUnitDbId"])
            variable = variables.get(document["observationVariableDbId"])
            if unit is None:
                problems.append(
                    FieldError(f"{where}.observationUnitDbId", "unknown observation unit")
                )
            else:
                _adopt(context, document, unit, UNIT_KEYS, problems)
            if variable is None:
                problems.append(
                    FieldError(f"{where}.observationVariableDbId", "unknown observation variable")
                )
                continue
            document["observationVariableName"] = variable.get("observationVariableName")
            if problem := rules[document["observationVariableDbId"]](document.get("value")):
                values.append(FieldError(f"{where}.value", problem))
        _fail(Unprocessable, "Observations refer to unknown or mismatched entities", problems)
        _fail(ValidationFailed, f"{len(values)} observation value(s) outside their scale", values)


class ScaleRules(NoRules):
    """A scale's bounds are ordered and its category values distinct."""

    async def prepare(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        problems = []
        for document in documents:
            valid = document.get("validValues") or {}
            where = f"{context.location(document)}.validValues"
            low, high = valid.get("minimumValue"), valid.get("maximumValue")
            if (
                document.get("dataType") == "Numerical"
                and low is not None
                and high is not None
                and scale_problem({"dataType": "Numerical"}, low) is None
                and scale_problem({"dataType": "Numerical"}, high) is None
                and float(low) > float(high)
            ):
                problems.append(FieldError(where, "minimumValue must not exceed maximumValue"))
            for bound_name, bound in (("minimumValue", low), ("maximumValue", high)):
                kind = document.get("dataType")
                if kind in {"Numerical", "Date"} and bound is not None:
                    problem = scale_problem({"dataType": kind}, bound)
                    if problem:
                        problems.append(FieldError(f"{where}.{bound_name}", problem))
            category_values = [c.get("value") for c in valid.get("categories") or [] if c]
            if len(category_values) != len(set(category_values)):
                problems.append(
                    FieldError(f"{where}.categories", "category values must be distinct")
                )
        _fail(ValidationFailed, "Invalid Scale", problems)


class ImageRules(NoRules):
    """An image is ``image/*``, within the size limit, of known units and observations."""

    async def prepare(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        problems = []
        for document in documents:
            where = context.location(document)
            mime = document.get("mimeType")
            if mime is not None and not mime.startswith("image/"):
                problems.append(FieldError(f"{where}.mimeType", "must be an image/* media type"))
            size = document.get("imageFileSize")
            if size is not None and not 0 <= size <= MAX_IMAGE_FILE_SIZE:
                problems.append(
                    FieldError(
                        f"{where}.imageFileSize", f"must be between 0 and {MAX_IMAGE_FILE_SIZE}"
                    )
                )
        _fail(ValidationFailed, "Invalid Image", problems)
        wanted = sorted({o for d in documents for o in d.get("observationDbIds") or [] if o})
        found = await context.store.documents("observation", wanted)
        problems = [
            FieldError(f"{context.location(d)}.observationDbIds", f"unknown observation {o!r}")
            for d in documents
            for o in d.get("observationDbIds") or []
            if o and o not in found
        ]
        _fail(Unprocessable, "Images refer to unknown observations", problems)


@dataclass(frozen=True)
class ImageFiles:
    """``PUT /images/{id}/imagecontent``: raster images up to a size; the document follows."""

    max_bytes: int = MAX_IMAGE_FILE_SIZE

    def check(self, media_type: str, content: bytes) -> None:
        if problem := image_problem(media_type, content, self.max_bytes):
            raise ValidationFailed("Invalid image file", [FieldError("body", problem)])

    def describe(self, document: dict[str, Any], media_type: str, content: bytes) -> None:
        document["mimeType"] = media_type.split(";", 1)[0].strip().lower()
        document["imageFileSize"] = len(content)
        document["imageURL"] = f"/brapi/v2/images/{document['imageDbId']}/imagecontent"


UNIT_COLUMNS = (
    "observationUnitDbId",
    "observationUnitName",
    "studyDbId",
    "studyName",
    "germplasmDbId",
    "germplasmName",
    "positionCoordinateX",
    "positionCoordinateY",
    "year",
    "field",
    "plot",
    "sub-plot",
    "plant",
    "pot",
    "block",
    "entry",
    "rep",
)
LEVEL_COLUMNS = UNIT_COLUMNS[UNIT_COLUMNS.index("field") :]
OBSERVATION_COLUMNS = ("observationTimeStamp", *UNIT_COLUMNS)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _unit_cells(unit: dict[str, Any], year: Any) -> list[str]:
    """The unit's columns of a table row: names, position, and the code of each level."""
    position = unit.get("observationUnitPosition") or {}
    codes = {
        level.get("levelName"): level.get("levelCode")
        for level in [
            position.get("observationLevel"),
            *(position.get("observationLevelRelationships") or []),
        ]
        if level
    }
    cells = [_cell(unit.get(key)) for key in UNIT_COLUMNS[:6]]
    cells += [
        _cell(position.get("positionCoordinateX")),
        _cell(position.get("positionCoordinateY")),
    ]
    return [*cells, _cell(year), *(_cell(codes.get(level)) for level in LEVEL_COLUMNS)]


async def _variable_header(
    store: ResourceStore, variable_ids: Sequence[str]
) -> tuple[list[str], list[dict[str, Any]]]:
    """Variables ordered by name, as the table's value columns."""
    found = await store.documents("variable", sorted(variable_ids))
    ordered = sorted(
        variable_ids, key=lambda i: (found.get(i, {}).get("observationVariableName") or "", i)
    )
    columns = [
        {
            "observationVariableDbId": i,
            "observationVariableName": found.get(i, {}).get("observationVariableName"),
        }
        for i in ordered
    ]
    return ordered, columns


def _season_year(observation: dict[str, Any]) -> Any:
    return (observation.get("season") or {}).get("year")


class ObservationTable:
    """``GET /observations/table``: one row per observation, its value in its variable's
    column, ordered by unit and time; units are read per chunk, never all at once."""

    async def build(self, store: ResourceStore, criteria: Criteria) -> AsyncIterator[TableChunk]:
        ids = await store.distinct_values("observation", criteria, "observationVariableDbId")
        ordered, variables = await _variable_header(store, ids)
        yield TableChunk(header_row=OBSERVATION_COLUMNS, variables=variables)
        column = {variable_id: i for i, variable_id in enumerate(ordered)}
        order = ("observationUnitDbId", "observationTimeStamp")
        async for observations in store.stream("observation", criteria, order, TABLE_CHUNK):
            units = await store.documents(
                "observationunit", sorted({o["observationUnitDbId"] for o in observations})
            )
            rows = []
            for observation in observations:
                values = [""] * len(ordered)
                values[column[observation["observationVariableDbId"]]] = _cell(
                    observation.get("value")
                )
                unit = units.get(observation["observationUnitDbId"], observation)
                rows.append(
                    [
                        _cell(observation.get("observationTimeStamp")),
                        *_unit_cells(unit, _season_year(observation)),
                        *values,
                    ]
                )
            yield TableChunk(rows=rows)


class ObservationUnitTable:
    """``GET /observationunits/table``: one row per unit with its latest value of each
    variable observed in the units' studies."""

    async def build(self, store: ResourceStore, criteria: Criteria) -> AsyncIterator[TableChunk]:
        studies = await store.distinct_values("observationunit", criteria, "studyDbId")
        in_studies = (tuple({"studyDbId": s} for s in studies),)
        ids = (
            await store.distinct_values("observation", in_studies, "observationVariableDbId")
            if studies
            else []
        )
        ordered, variables = await _variable_header(store, ids)
        yield TableChunk(header_row=UNIT_COLUMNS, variables=variables)
        column = {variable_id: i for i, variable_id in enumerate(ordered)}
        order = ("observationUnitName",)
        async for units in store.stream("observationunit", criteria, order, TABLE_CHUNK):
            of_units = (tuple({"observationUnitDbId": u["observationUnitDbId"]} for u in units),)
            latest: dict[str, dict[str, dict[str, Any]]] = {}
            for observation in await store.matching("observation", of_units, 10_000_000):
                per_unit = latest.setdefault(observation["observationUnitDbId"], {})
                known = per_unit.get(observation["observationVariableDbId"])
                stamp = observation.get("observationTimeStamp") or ""
                if known is None or stamp >= (known.get("observationTimeStamp") or ""):
                    per_unit[observation["observationVariableDbId"]] = observation
            rows = []
            for unit in units:
                values = [""] * len(ordered)
                observed = latest.get(unit["observationUnitDbId"], {})
                for variable_id, observation in observed.items():
                    if variable_id in column:
                        values[column[variable_id]] = _cell(observation.get("value"))
                years = [_season_year(o) for o in observed.values()]
                year = next((y for y in years if y is not None), None)
                rows.append([*_unit_cells(unit, year), *values])
            yield TableChunk(rows=rows)


ONTOLOGY_REFERENCE = Ref(
    "ontologyReference.ontologyDbId", "ontology", {"ontologyName": "ontologyName"}
)
PART_FILTERS = {
    "ontologyDbId": Match.on("ontologyReference.ontologyDbId"),
    **external_reference_filters(),
}
PART_UNSUPPORTED = ("observationVariableDbId", "commonCropName", "programDbId")


def _variable_part(name: str, schema: str, db_id: str, rules: NoRules | None = None) -> Entity:
    """Traits, methods and scales: the three parts of a variable, declared alike."""
    return Entity(
        name=name,
        path=f"{name}s",
        context="phenotyping",
        schemas=SCHEMAS,
        schema=schema,
        request_schema=f"{schema}NewRequest",
        db_id=db_id,
        operations=CRUD,
        filters={db_id: Match.on(db_id), **PART_FILTERS},
        unsupported_filters=PART_UNSUPPORTED,
        references=(ONTOLOGY_REFERENCE,),
        rules=rules or NoRules(),
    )


ONTOLOGIES = Entity(
    name="ontology",
    path="ontologies",
    context="phenotyping",
    schemas=SCHEMAS,
    schema="Ontology",
    request_schema="OntologyNewRequest",
    db_id="ontologyDbId",
    operations=CRUD,
    filters=fields("ontologyDbId", "ontologyName"),
)

TRAITS = _variable_part("trait", "Trait", "traitDbId")
METHODS = _variable_part("method", "Method", "methodDbId")
SCALES = _variable_part("scale", "Scale", "scaleDbId", ScaleRules())

VARIABLES = Entity(
    name="variable",
    path="variables",
    context="phenotyping",
    schemas=SCHEMAS,
    schema="ObservationVariable",
    request_schema="ObservationVariableNewRequest",
    search_schema="ObservationVariableSearchRequest",
    db_id="observationVariableDbId",
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

OBSERVATION_UNITS = Entity(
    name="observationunit",
    path="observationunits",
    context="phenotyping",
    schemas=SCHEMAS,
    schema="ObservationUnit",
    request_schema="ObservationUnitNewRequest",
    search_schema="ObservationUnitSearchRequest",
    db_id="observationUnitDbId",
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

OBSERVATIONS = Entity(
    name="observation",
    path="observations",
    context="phenotyping",
    schemas=SCHEMAS,
    schema="Observation",
    request_schema="ObservationNewRequest",
    search_schema="ObservationSearchRequest",
    db_id="observationDbId",
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

IMAGES = Entity(
    name="image",
    path="images",
    context="phenotyping",
    schemas=SCHEMAS,
    schema="Image",
    request_schema="ImageNewRequest",
    search_schema="ImageSearchRequest",
    db_id="imageDbId",
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

EVENTS = Entity(
    name="event",
    path="events",
    context="phenotyping",
    schemas=SCHEMAS,
    schema="Event",
    request_schema="Event",
    db_id="eventDbId",
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
