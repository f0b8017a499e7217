"""BrAPI-Core: programs, trials, studies, locations, people, seasons, lists, vocabularies."""

from __future__ import annotations

from functools import partial
from typing import Any

from bijmantra.application.brapi.entity import (
    CRUD,
    WITH_SEARCH,
    Entity,
    Match,
    Module,
    NoRules,
    Ref,
    Vocabulary,
    WriteContext,
    external_reference_filters,
    fields,
)
from bijmantra.application.brapi.schema import SchemaSet

entity = partial(Entity, context="core", schemas=SchemaSet("BrAPI-Core"))


class ListRules(NoRules):
    """A list's size is its item count; creation and modification are stamped by the server."""

    async def prepare(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        now = context.clock.now().isoformat()
        for document in documents:
            document["listSize"] = len(document.get("data") or [])
            document["dateModified"] = now
            if context.creating or document.get("dateCreated") is None:
                document["dateCreated"] = document.get("dateCreated") or now


PROGRAMS = entity(
    name="program",
    schema="Program",
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

TRIALS = entity(
    name="trial",
    schema="Trial",
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

STUDIES = entity(
    name="study",
    path="studies",
    schema="Study",
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
        Ref("seasons.*", "season"),
        Ref("observationVariableDbIds.*", "variable"),
    ),
)

LOCATIONS = entity(
    name="location",
    schema="Location",
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

PEOPLE = entity(
    name="person",
    path="people",
    schema="Person",
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

SEASONS = entity(
    name="season",
    schema="Season",
    request_schema="Season",
    operations=CRUD,
    filters={**fields("seasonDbId", "seasonName", "year"), "season": Match.on("seasonName")},
)

LISTS = entity(
    name="list",
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
