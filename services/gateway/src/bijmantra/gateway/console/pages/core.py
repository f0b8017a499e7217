"""Programs -> trials -> studies -> observation units, and the locations studies run at: each
list paged and searchable by a part of the name, in any case (ADR 0385)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bijmantra.application.brapi.name_search import MAX_SEARCH_TERM
from bijmantra.application.security import Action, Permission
from bijmantra.gateway.console.paging import document, lists, page_request, rows, search_term
from bijmantra.gateway.console.tables import Column, cells, named, place
from bijmantra.gateway.console.web import PREFIX, View, view
from litestar import Request, get
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler
from litestar.response import Template

CORE = Permission("core", Action.READ)
PHENOTYPING = Permission("phenotyping", Action.READ)

PROGRAMS = (
    Column("Program", "programName", "/app/programs/{}", "programDbId"),
    Column("Abbreviation", "abbreviation"),
    Column("Crop", "commonCropName"),
    Column("Objective", "objective"),
)
TRIALS = (
    Column("Trial", "trialName", "/app/trials/{}", "trialDbId"),
    Column("Start", "startDate"),
    Column("End", "endDate"),
    Column("Active", "active"),
)
LOCATION = Column("Location", "locationName", "/app/locations/{}", "locationDbId")
STUDIES = (
    Column("Study", "studyName", "/app/studies/{}", "studyDbId"),
    Column("Type", "studyType"),
    LOCATION,
    Column("Seasons", "seasons"),
    Column("Trial", "trialName", "/app/trials/{}", "trialDbId"),
)
LOCATIONS = (
    LOCATION,
    Column("Abbreviation", "abbreviation"),
    Column("Country", "countryName"),
    Column("Type", "locationType"),
    Column("Latitude, longitude", "coordinates.geometry", shown=place),
)
UNITS = (
    Column("Unit", "observationUnitName"),
    Column("Level", "observationUnitPosition.observationLevel.levelName"),
    Column("Germplasm", "germplasmName", "/app/germplasm/{}", "germplasmDbId"),
    Column("X", "observationUnitPosition.positionCoordinateX"),
    Column("Y", "observationUnitPosition.positionCoordinateY"),
)


@dataclass(frozen=True)
class Listing:
    """A searchable list of one BrAPI entity: its columns and what the search box is called."""

    entity: str
    columns: tuple[Column, ...]
    search_label: str


PROGRAM_LIST = Listing("program", PROGRAMS, "Program name contains")
TRIAL_LIST = Listing("trial", TRIALS, "Trial name contains")
STUDY_LIST = Listing("study", STUDIES, "Study name contains")
UNIT_LIST = Listing("observationunit", UNITS, "Unit name contains")
LOCATION_LIST = Listing("location", LOCATIONS, "Location name contains")


async def listing(
    request: Request[Any, Any, Any],
    state: State,
    page: View,
    shown: Listing,
    criteria: dict[str, list[str]],
    *,
    heading: str,
    **context: Any,
) -> Template:
    """One page of a list: criteria from the route plus the optional search term, a part of
    the name in any case; domain-api refuses a term too long (400)."""
    term = search_term(request)
    query = {"q": term} if term else {}
    found = await lists(state, page).list(
        page.token, shown.entity, criteria, page_request(request), contains=term
    )
    listed = rows(found, query)
    return page.render(
        "core/list.html",
        heading=heading,
        columns=shown.columns,
        table=cells(listed.items, shown.columns),
        rows=listed,
        term=term,
        search_label=shown.search_label,
        max_term=MAX_SEARCH_TERM,
        **context,
    )


@dataclass(frozen=True)
class Parent:
    """A record whose page shows its facts above the list of its children."""

    entity: str
    name_key: str
    children: Listing
    subheading: str
    facts: tuple[Column, ...]  # shown above the list, a link where the column has one


PROGRAM_PAGE = Parent(
    "program",
    "programName",
    TRIAL_LIST,
    "Trials",
    (
        Column("Crop", "commonCropName"),
        Column("Objective", "objective"),
        Column("Lead", "leadPersonName"),
        Column("Type", "programType"),
    ),
)
TRIAL_PAGE = Parent(
    "trial",
    "trialName",
    STUDY_LIST,
    "Studies",
    (
        Column("Description", "trialDescription"),
        Column("Start", "startDate"),
        Column("End", "endDate"),
        Column("Active", "active"),
    ),
)
STUDY_PAGE = Parent(
    "study",
    "studyName",
    UNIT_LIST,
    "Observation units",
    (
        Column("Type", "studyType"),
        LOCATION,
        Column("Seasons", "seasons"),
        Column("Start", "startDate"),
        Column("End", "endDate"),
    ),
)
LOCATION_PAGE = Parent(
    "location",
    "locationName",
    STUDY_LIST,
    "Studies here",
    (
        *LOCATIONS[1:],
        Column("Country code", "countryCode"),
        Column("Coordinate description", "coordinateDescription"),
        Column("Institute", "instituteName"),
        Column("Address", "instituteAddress"),
        Column("Site status", "siteStatus"),
        Column("Within", "parentLocationName", "/app/locations/{}", "parentLocationDbId"),
    ),
)
Crumbs = list[tuple[str, str]]


async def parent_page(
    request: Request[Any, Any, Any],
    state: State,
    page: View,
    shown: Parent,
    db_id: str,
    crumbs: Callable[[dict[str, Any]], Crumbs],
    **context: Any,
) -> Template:
    """A record's facts, then its children listed by the record's id (``crumbs(doc)``: the
    path back up, which names the record's own parents)."""
    doc = document(await state.brapi.get(page.token, shown.entity, db_id))
    return await listing(
        request,
        state,
        page,
        shown.children,
        {f"{shown.entity}DbId": [db_id]},
        heading=named(doc.get(shown.name_key), db_id),
        subheading=shown.subheading,
        crumbs=crumbs(doc),
        facts=list(zip(shown.facts, cells([doc], shown.facts)[0], strict=True)),
        **context,
    )


def every(
    path: str, shown: Listing, heading: str, permission: Permission = CORE
) -> HTTPRouteHandler:
    """The route ``/app/<path>``: every record of one kind, paged and searchable."""

    async def handler(request: Request[Any, Any, Any], state: State) -> Template:
        page = view(request, permission)
        return await listing(request, state, page, shown, {}, heading=heading)

    return get(f"{PREFIX}/{path}", name=f"console:{path}")(handler)


def one(
    path: str, name: str, shown: Parent, crumbs: Callable[[dict[str, Any]], Crumbs]
) -> HTTPRouteHandler:
    """The route ``/app/<path>/<id>``: one record and its children. Another organization's
    id is not found (404): the read goes to domain-api under the organization's RLS."""

    async def handler(request: Request[Any, Any, Any], state: State, db_id: str) -> Template:
        return await parent_page(request, state, view(request, CORE), shown, db_id, crumbs)

    return get(f"{PREFIX}/{path}/{{db_id:str}}", name=f"console:{name}")(handler)


def _trial_crumbs(doc: dict[str, Any]) -> Crumbs:
    program_link = (
        f"/app/programs/{doc['programDbId']}" if doc.get("programDbId") else "/app/programs"
    )
    return [("Programs", "/app/programs"), (named(doc.get("programName"), "Program"), program_link)]


def _study_crumbs(doc: dict[str, Any]) -> Crumbs:
    crumbs = [("Studies", "/app/studies")]
    if doc.get("trialDbId"):
        crumbs.append((named(doc.get("trialName"), "Trial"), f"/app/trials/{doc['trialDbId']}"))
    return crumbs


@get(f"{PREFIX}/studies/{{db_id:str}}", name="console:study")
async def study(request: Request[Any, Any, Any], state: State, db_id: str) -> Template:
    page = view(request, CORE, PHENOTYPING)
    return await parent_page(
        request,
        state,
        page,
        STUDY_PAGE,
        db_id,
        _study_crumbs,
        actions=[
            ("Open the workbench", f"/app/studies/{db_id}/workbench"),
            ("Download observations (CSV)", f"/app/studies/{db_id}/observations.csv"),
        ],
    )


ROUTES = [
    every("programs", PROGRAM_LIST, "Programs"),
    one("programs", "program", PROGRAM_PAGE, lambda _doc: [("Programs", "/app/programs")]),
    one("trials", "trial", TRIAL_PAGE, _trial_crumbs),
    every("studies", STUDY_LIST, "Studies"),
    study,
    every("locations", LOCATION_LIST, "Locations"),
    one("locations", "location", LOCATION_PAGE, lambda _doc: [("Locations", "/app/locations")]),
]
