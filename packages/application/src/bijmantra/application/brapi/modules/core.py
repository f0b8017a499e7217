"""BrAPI-Core: programs, trials, studies, locations, people, seasons, lists, vocabularies."""

from __future__ import annotations

from typing import Any

from bijmantra.application.brapi.entity import (
    CRUD,
    Entity,
    Match,
    Module,
    NoRules,
    Op,
    Ref,
    Vocabulary,
    WriteContext,
    external_reference_filters,
    fields,
)
from bijmantra.application.brapi.schema import SchemaSet

SCHEMAS = SchemaSet("BrAPI-Core")
WITH_SEARCH = CRUD | {Op.SEARCH}


class ListRules(NoRules):
    """A list's size is its item count; creation and modification are stamped by the server."""

    async def prepare(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        now = context.clock.now().isoformat()
        for document in documents:
            document["listSize"] = len(document.get("data") or [])
            document["dateModified"] = now
            if context.creating or document.get("dateCreated") is None:
                document["dateCreated"] = document.get("dateCreated") or now


PROGRAMS = Entity(
    name="program",
    path="programs",
    context="core",
    schemas=SCHEMAS,
    schema="Program",
    request_schema="ProgramNewRequest",
    search_schema="ProgramSearchRequest",
    db_id="programDbId",
    operations=WITH_SEARCH,
    filters={
        **fields(
            "abbreviation",
            "programType",
            "commonCropName",
            "programDbId",
            "programName",
            "leadPersonDbId",
            "leadPersonName",
            "objective",
        ),
        **external_reference_filters(),
    },
    search_aliases={"programNames": "programName", "programDbIds": "programDbId"},
    references=(Ref("leadPersonDbId", "person"),),
    # v2.1 spells the value STANARD (Program.json, the search request, the query parameter)
    # but the pinned ProgramNewRequest says STANDARD: both are accepted on input and in
    # filters, and STANARD is stored and served, as a response validator expects.
    value_aliases={"programType": {"STANARD": "STANDARD"}},
    served_values={"programType": {"STANDARD": "STANARD"}},
)

TRIALS = Entity(
    name="trial",
    path="trials",
    context="core",
    schemas=SCHEMAS,
    schema="Trial",
    request_schema="TrialNewRequest",
    search_schema="TrialSearchRequest",
    db_id="trialDbId",
    operations=WITH_SEARCH,
    filters={
        **fields("active", "trialPUI", "commonCropName", "programDbId", "trialDbId", "trialName"),
        **external_reference_filters(),
    },
    unsupported_filters=(
        "contactDbId",
        "locationDbId",
        "searchDateRangeStart",
        "searchDateRangeEnd",
        "studyDbId",
        "sortBy",
        "sortOrder",
    ),
    search_aliases={"trialPUIs": "trialPUI"},
    references=(Ref("programDbId", "program", {"programName": "programName"}),),
)

STUDIES = Entity(
    name="study",
    path="studies",
    context="core",
    schemas=SCHEMAS,
    schema="Study",
    request_schema="StudyNewRequest",
    search_schema="StudySearchRequest",
    db_id="studyDbId",
    operations=WITH_SEARCH,
    filters={
        **fields(
            "studyType",
            "locationDbId",
            "studyCode",
            "studyPUI",
            "active",
            "commonCropName",
            "trialDbId",
            "studyDbId",
            "studyName",
            "locationName",
            "trialName",
        ),
        "seasonDbId": Match.on("seasons.*"),
        "observationVariableDbId": Match.on("observationVariableDbIds.*"),
        **external_reference_filters(),
    },
    unsupported_filters=("programDbId", "germplasmDbId", "sortBy", "sortOrder"),
    search_aliases={
        "studyPUIs": "studyPUI",
        "studyCodes": "studyCode",
        "seasonDbIds": "seasonDbId",
    },
    references=(
        Ref("trialDbId", "trial", {"trialName": "trialName"}),
        Ref("locationDbId", "location", {"locationName": "locationName"}),
    ),
)

LOCATIONS = Entity(
    name="location",
    path="locations",
    context="core",
    schemas=SCHEMAS,
    schema="Location",
    request_schema="LocationNewRequest",
    search_schema="LocationSearchRequest",
    db_id="locationDbId",
    operations=WITH_SEARCH,
    filters={
        **fields(
            "locationType",
            "locationDbId",
            "locationName",
            "parentLocationDbId",
            "parentLocationName",
            "abbreviation",
            "countryCode",
            "countryName",
            "instituteName",
            "instituteAddress",
        ),
        **external_reference_filters(),
    },
    unsupported_filters=("commonCropName", "programDbId"),
    references=(Ref("parentLocationDbId", "location", {"parentLocationName": "locationName"}),),
)

PEOPLE = Entity(
    name="person",
    path="people",
    context="core",
    schemas=SCHEMAS,
    schema="Person",
    request_schema="PersonNewRequest",
    search_schema="PersonSearchRequest",
    db_id="personDbId",
    operations=WITH_SEARCH,
    filters={
        **fields(
            "firstName",
            "lastName",
            "middleName",
            "personDbId",
            "userID",
            "emailAddress",
            "phoneNumber",
            "mailingAddress",
        ),
        **external_reference_filters(),
    },
    unsupported_filters=("commonCropName", "programDbId"),
    search_aliases={"emailAddresses": "emailAddress", "userIDs": "userID"},
)

SEASONS = Entity(
    name="season",
    path="seasons",
    context="core",
    schemas=SCHEMAS,
    schema="Season",
    request_schema="Season",
    db_id="seasonDbId",
    operations=CRUD,
    filters={**fields("seasonDbId", "seasonName", "year"), "season": Match.on("seasonName")},
)

LISTS = Entity(
    name="list",
    path="lists",
    context="core",
    schemas=SCHEMAS,
    schema="ListDetails",
    request_schema="ListNewRequest",
    search_schema="ListSearchRequest",
    db_id="listDbId",
    operations=WITH_SEARCH,
    filters={
        **fields(
            "listType", "listName", "listDbId", "listSource", "listOwnerPersonDbId", "listOwnerName"
        ),
        **external_reference_filters(),
    },
    unsupported_filters=(
        "commonCropName",
        "programDbId",
        "dateCreatedRangeStart",
        "dateCreatedRangeEnd",
        "dateModifiedRangeStart",
        "dateModifiedRangeEnd",
    ),
    references=(Ref("listOwnerPersonDbId", "person"),),
    appends={"items": "data", "data": "data"},
    rules=ListRules(),
)

CORE = Module(
    name="BrAPI-Core",
    entities=(PROGRAMS, TRIALS, STUDIES, LOCATIONS, PEOPLE, SEASONS, LISTS),
    vocabularies=(
        Vocabulary(
            "commoncropnames",
            "commoncropnames",
            "core",
            (
                ("program", "commonCropName"),
                ("germplasm", "commonCropName"),
                ("trial", "commonCropName"),
                ("study", "commonCropName"),
                ("crossingproject", "commonCropName"),
            ),
        ),
        Vocabulary("studytypes", "studytypes", "core", (("study", "studyType"),)),
    ),
)
