"""Every id a BrAPI write names is one of the organization's own (ADR 0335): another
organization's id in a list of ids or a cross's parent unit is 422, and nothing is stored."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import pytest
from bijmantra.adapters.postgres import unit_of_work_factory
from bijmantra.application.brapi.commands import ResourceCommands
from bijmantra.application.brapi.modules import catalog
from bijmantra.application.brapi.queries import ResourceQueries
from bijmantra.kernel import PageRequest, Principal, TenantId, Unprocessable
from bijmantra.testkit.fakes import FakeSearchResultStore
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration
CATALOG = catalog()


def member() -> Principal:
    return Principal(
        subject="tester", tenant_id=TenantId(uuid.uuid4()), roles=frozenset({"breeder"})
    )


async def make(
    commands: ResourceCommands, who: Principal, entity: str, item: dict[str, Any]
) -> dict[str, Any]:
    page = await commands.create(who, entity, [item])
    created: list[dict[str, Any]] = msgspec.json.decode(page.documents)
    return created[0]


async def theirs(commands: ResourceCommands) -> dict[str, str]:
    """Another organization's season, variable, study and observation unit."""
    other = member()
    season = await make(commands, other, "season", {"seasonName": "theirs", "year": 2026})
    ontology = await make(commands, other, "ontology", {"ontologyName": "theirs"})
    reference = {"ontologyDbId": ontology["ontologyDbId"], "ontologyName": "theirs"}
    parts = {
        part: await make(
            commands, other, part, {f"{part}Name": "theirs", "ontologyReference": reference}
        )
        for part in ("trait", "method", "scale")
    }
    variable = await make(
        commands,
        other,
        "variable",
        {
            "observationVariableName": "theirs",
            **{
                part: {f"{part}DbId": d[f"{part}DbId"], f"{part}Name": "theirs"}
                for part, d in parts.items()
            },
        },
    )
    trial = await make(commands, other, "trial", {"trialName": "theirs"})
    study = await make(
        commands, other, "study", {"studyName": "theirs", "trialDbId": trial["trialDbId"]}
    )
    unit = await make(
        commands,
        other,
        "observationunit",
        {"observationUnitName": "theirs", "studyDbId": study["studyDbId"]},
    )
    return {
        "season": season["seasonDbId"],
        "variable": variable["observationVariableDbId"],
        "unit": unit["observationUnitDbId"],
    }


async def stored(engine: AsyncEngine, who: Principal, entity: str) -> int:
    queries = ResourceQueries(
        CATALOG, unit_of_work_factory(engine, source="test"), FakeSearchResultStore()
    )
    page = await queries.list(who, entity, {}, PageRequest(0, 10))
    return len(msgspec.json.decode(page.documents))


async def test_a_study_naming_another_organizations_seasons_or_variables_is_422(
    engine: AsyncEngine,
) -> None:
    commands = ResourceCommands(CATALOG, unit_of_work_factory(engine, source="test"))
    foreign, who = await theirs(commands), member()
    for field, body in (
        ("seasons.*", {"seasons": [foreign["season"]]}),
        ("observationVariableDbIds.*", {"observationVariableDbIds": [foreign["variable"]]}),
    ):
        with pytest.raises(Unprocessable) as refused:
            await commands.create(who, "study", [{"studyName": "mine", **body}])
        assert [p.location for p in refused.value.details] == [f"[0].{field}"]
    assert await stored(engine, who, "study") == 0
    # Its own season and variable are accepted.
    season = await make(commands, who, "season", {"seasonName": "mine", "year": 2026})
    study = await make(
        commands, who, "study", {"studyName": "mine", "seasons": [season["seasonDbId"]]}
    )
    assert study["seasons"] == [season["seasonDbId"]]


async def test_a_cross_or_project_naming_another_organizations_unit_as_parent_is_422(
    engine: AsyncEngine,
) -> None:
    commands = ResourceCommands(CATALOG, unit_of_work_factory(engine, source="test"))
    foreign, who = await theirs(commands), member()
    project = await make(commands, who, "crossingproject", {"crossingProjectName": "mine"})
    parent = {"observationUnitDbId": foreign["unit"], "parentType": "FEMALE"}
    for entity, body, field in (
        (
            "cross",
            {
                "crossName": "c",
                "crossingProjectDbId": project["crossingProjectDbId"],
                "parent1": parent,
            },
            "parent1.observationUnitDbId",
        ),
        (
            "plannedcross",
            {
                "plannedCrossName": "p",
                "crossingProjectDbId": project["crossingProjectDbId"],
                "parent2": parent,
            },
            "parent2.observationUnitDbId",
        ),
        (
            "crossingproject",
            {"crossingProjectName": "p2", "potentialParents": [parent]},
            "potentialParents.*.observationUnitDbId",
        ),
    ):
        with pytest.raises(Unprocessable) as refused:
            await commands.create(who, entity, [body])
        assert [p.location for p in refused.value.details] == [f"[0].{field}"]
    assert await stored(engine, who, "cross") == 0
    assert await stored(engine, who, "plannedcross") == 0
    assert await stored(engine, who, "crossingproject") == 1
