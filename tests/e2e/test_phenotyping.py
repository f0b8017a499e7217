"""BrAPI Phenotyping over HTTP against the running services: a field app's day, and the rules."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from bijmantra.testkit.devstack import DevStack, Ports
from bijmantra.testkit.servers import free_port

pytestmark = [pytest.mark.e2e]

POINT = {
    "geometry": {"type": "Point", "coordinates": [-76.506042, 42.417373, 123.0]},
    "type": "Feature",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    workdir = tmp_path_factory.mktemp("pheno")
    stack = DevStack(workdir, Ports(gateway=free_port()), log_dir=workdir / "logs")
    try:
        stack.start_servers()
        stack.seed(testdata=False)
        stack.start_services()
        yield stack
    finally:
        stack.stop()


class Brapi:
    """A signed-in BrAPI client that fails loudly on unexpected statuses."""

    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    async def call(
        self, method: str, path: str, *, status: int = 200, **kwargs: Any
    ) -> httpx.Response:
        response = await self.client.request(
            method, f"/brapi/v2{path}", headers=self.headers, **kwargs
        )
        assert response.status_code == status, (
            f"{method} {path}: {response.status_code} {response.text[:2000]}"
        )
        return response

    async def create(self, path: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return (await self.call("POST", path, json=items)).json()["result"]["data"]  # type: ignore[no-any-return]

    async def data(self, path: str, **params: Any) -> list[dict[str, Any]]:
        return (await self.call("GET", path, params=params)).json()["result"]["data"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
async def brapi(stack: DevStack) -> AsyncIterator[Brapi]:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as client:
        yield Brapi(client, stack.login())


@pytest.fixture(scope="module")
async def trial_site(brapi: Brapi) -> dict[str, Any]:
    """A program, trial, study and two germplasm: what a field season starts from."""
    [program] = await brapi.create("/programs", [{"programName": "Pheno program"}])
    [trial] = await brapi.create(
        "/trials", [{"trialName": "Pheno trial", "programDbId": program["programDbId"]}]
    )
    [study] = await brapi.create(
        "/studies",
        [{"studyName": "Pheno 2026", "trialDbId": trial["trialDbId"], "studyType": "Yield Trial"}],
    )
    germplasm = await brapi.create(
        "/germplasm",
        [
            {"germplasmName": f"G{i}", "germplasmPUI": f"doi:pheno/{i}", "commonCropName": "Maize"}
            for i in range(2)
        ],
    )
    return {"program": program, "trial": trial, "study": study, "germplasm": germplasm}


async def _variable(brapi: Brapi, name: str, scale: dict[str, Any]) -> dict[str, Any]:
    [stored_scale] = await brapi.create("/scales", [{"scaleName": f"{name} scale", **scale}])
    [trait] = await brapi.create(
        "/traits", [{"traitName": f"{name} trait", "traitClass": "morphological"}]
    )
    [method] = await brapi.create(
        "/methods", [{"methodName": f"{name} method", "methodClass": "Measurement"}]
    )
    [variable] = await brapi.create(
        "/variables",
        [
            {
                "observationVariableName": name,
                "trait": {"traitDbId": trait["traitDbId"], "traitName": "client copy"},
                "method": {"methodDbId": method["methodDbId"], "methodName": "client copy"},
                "scale": {"scaleDbId": stored_scale["scaleDbId"], "scaleName": "client copy"},
            }
        ],
    )
    return variable


@pytest.fixture(scope="module")
async def variables(brapi: Brapi) -> dict[str, dict[str, Any]]:
    return {
        "height": await _variable(
            brapi,
            "Plant height",
            {
                "dataType": "Numerical",
                "decimalPlaces": 1,
                "units": "cm",
                "validValues": {"minimumValue": "0", "maximumValue": "400"},
            },
        ),
        "score": await _variable(
            brapi,
            "Virus score",
            {
                "dataType": "Ordinal",
                "validValues": {
                    "categories": [
                        {"label": "none", "value": "0"},
                        {"label": "severe", "value": "3"},
                    ]
                },
            },
        ),
        "flowering": await _variable(brapi, "Flowering date", {"dataType": "Date"}),
    }


def _unit(study: dict[str, Any], name: str, level: str, code: str, **extra: Any) -> dict[str, Any]:
    position = {
        "observationLevel": {"levelName": level, "levelCode": code},
        **extra.pop("position", {}),
    }
    return {
        "observationUnitName": name,
        "studyDbId": study["studyDbId"],
        "observationUnitPosition": position,
        **extra,
    }


@pytest.fixture(scope="module")
async def units(brapi: Brapi, trial_site: dict[str, Any]) -> list[dict[str, Any]]:
    study = trial_site["study"]
    [block] = await brapi.create("/observationunits", [_unit(study, "B1", "block", "B1")])
    plots = [
        _unit(
            study,
            f"P{i}",
            "plot",
            f"P{i}",
            germplasmDbId=trial_site["germplasm"][i % 2]["germplasmDbId"],
            position={
                "positionCoordinateX": str(i),
                "positionCoordinateXType": "GRID_COL",
                "positionCoordinateY": "1",
                "positionCoordinateYType": "GRID_ROW",
                "geoCoordinates": POINT,
                "observationLevelRelationships": [
                    {"levelName": "field", "levelCode": "F1"},
                    {"levelName": "rep", "levelCode": "R1"},
                    {"levelName": "block", "observationUnitDbId": block["observationUnitDbId"]},
                ],
            },
        )
        for i in range(4)
    ]
    return await brapi.create("/observationunits", plots)


async def test_a_unit_takes_its_trial_and_program_from_its_study_and_round_trips_positions(
    brapi: Brapi, trial_site: dict[str, Any], units: list[dict[str, Any]]
) -> None:
    unit = (await brapi.call("GET", f"/observationunits/{units[2]['observationUnitDbId']}")).json()[
        "result"
    ]
    assert unit["trialDbId"] == trial_site["trial"]["trialDbId"]
    assert unit["programDbId"] == trial_site["program"]["programDbId"]
    assert unit["studyName"] == "Pheno 2026"
    position = unit["observationUnitPosition"]
    assert position["geoCoordinates"] == POINT
    assert (position["positionCoordinateX"], position["positionCoordinateXType"]) == (
        "2",
        "GRID_COL",
    )
    assert position["observationLevel"] == {"levelName": "plot", "levelCode": "P2", "levelOrder": 6}
    block = position["observationLevelRelationships"][2]
    assert (block["levelCode"], block["levelOrder"]) == ("B1", 4), (
        "ancestor's code and order filled in"
    )
    by_level = await brapi.data(
        "/observationunits",
        studyDbId=trial_site["study"]["studyDbId"],
        observationUnitLevelName="plot",
    )
    assert sorted(u["observationUnitName"] for u in by_level) == ["P0", "P1", "P2", "P3"]


async def test_inconsistent_hierarchies_and_foreign_studies_are_refused(
    brapi: Brapi, trial_site: dict[str, Any], units: list[dict[str, Any]]
) -> None:
    study = trial_site["study"]
    bad = [
        _unit(
            study,
            "X0",
            "plot",
            "X0",
            position={"observationLevelRelationships": [{"levelName": "plant"}]},
        ),
        _unit(study, "X1", "paddock", "X1"),
        _unit(
            study,
            "X2",
            "plot",
            "X2",
            position={"observationLevel": {"levelName": "plot", "levelOrder": 1}},
        ),
    ]
    response = await brapi.call("POST", "/observationunits", json=bad, status=400)
    messages = " ".join(s["message"] for s in response.json()["metadata"]["status"])
    assert "[0].observationUnitPosition.observationLevelRelationships[0].levelName" in messages
    assert "[1].observationUnitPosition.observationLevel.levelName" in messages
    assert "[2].observationUnitPosition.observationLevel.levelOrder" in messages
    plot = units[0]["observationUnitDbId"]
    wrong_ancestor = _unit(
        study,
        "X3",
        "plant",
        "X3",
        position={
            "observationLevelRelationships": [{"levelName": "block", "observationUnitDbId": plot}]
        },
    )
    await brapi.call("POST", "/observationunits", json=[wrong_ancestor], status=422)
    await brapi.call(
        "POST",
        "/observationunits",
        json=[{**_unit(study, "X4", "plot", "X4"), "studyDbId": str(uuid.uuid4())}],
        status=422,
    )
    await brapi.call(
        "POST",
        "/observationunits",
        json=[{**_unit(study, "X5", "plot", "X5"), "trialDbId": str(uuid.uuid4())}],
        status=422,
    )
    names = {
        u["observationUnitName"]
        for u in await brapi.data("/observationunits", studyDbId=study["studyDbId"])
    }
    assert not names & {"X0", "X1", "X2", "X3", "X4", "X5"}, "nothing of a refused batch is stored"


async def test_a_variable_embeds_the_stored_scale_not_the_clients_copy(
    brapi: Brapi, variables: dict[str, dict[str, Any]]
) -> None:
    height = variables["height"]
    assert height["scale"]["scaleName"] == "Plant height scale"
    assert height["scale"]["validValues"]["maximumValue"] == "400"
    assert height["trait"]["traitName"] == "Plant height trait"
    found = await brapi.data("/variables", scaleDbId=height["scale"]["scaleDbId"])
    assert [v["observationVariableDbId"] for v in found] == [height["observationVariableDbId"]]
    unknown = {**height, "scale": {"scaleDbId": str(uuid.uuid4()), "scaleName": "x"}}
    await brapi.call("POST", "/variables", json=[unknown], status=422)


async def test_a_batch_with_values_outside_their_scales_lists_every_bad_item_and_stores_nothing(
    brapi: Brapi, units: list[dict[str, Any]], variables: dict[str, dict[str, Any]]
) -> None:
    unit = units[0]["observationUnitDbId"]

    def observation(variable: str, value: str) -> dict[str, Any]:
        return {
            "observationUnitDbId": unit,
            "observationVariableDbId": variables[variable]["observationVariableDbId"],
            "value": value,
        }

    batch = [
        observation("height", "120.5"),
        observation("height", "401"),
        observation("score", "2"),
        observation("flowering", "2026-02-30"),
        observation("height", "12.25"),
        observation("score", "3"),
    ]
    response = await brapi.call("POST", "/observations", json=batch, status=400)
    messages = [s["message"] for s in response.json()["metadata"]["status"]]
    bad = sorted({m.split(".")[0] for m in messages if m.startswith("[")})
    assert bad == ["[1]", "[2]", "[3]", "[4]"], messages
    assert await brapi.data("/observations", observationUnitDbId=unit) == []
