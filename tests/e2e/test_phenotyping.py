"""BrAPI Phenotyping over HTTP against the running services: a field app's day, and the rules."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from bijmantra.devstack.stack import DevStack

pytestmark = [pytest.mark.e2e]

POINT = {
    "geometry": {"type": "Point", "coordinates": [-76.506042, 42.417373, 123.0]},
    "type": "Feature",
}


@pytest.fixture(scope="module")
def stack(shared_stack: DevStack) -> DevStack:
    """The e2e modules' shared stack: this module's data is its own (conftest.py)."""
    return shared_stack


class Brapi:
    """A signed-in BrAPI client that fails loudly on unexpected statuses."""

    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    async def call(
        self, method: str, path: str, *, status: int = 200, **kwargs: Any
    ) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        response = await self.client.request(method, f"/brapi/v2{path}", headers=headers, **kwargs)
        assert response.status_code == status, (
            f"{method} {path}: {response.status_code} {response.text[:2000]}"
        )
        return response

    async def create(self, path: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return (await self.call("POST", path, json=items)).json()["result"]["data"]

    async def data(self, path: str, **params: Any) -> list[dict[str, Any]]:
        return (await self.call("GET", path, params=params)).json()["result"]["data"]


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
    # What the unit holds already (other tests of the module also observe it), unchanged.
    before = await brapi.data("/observations", observationUnitDbId=unit)
    response = await brapi.call("POST", "/observations", json=batch, status=400)
    messages = [s["message"] for s in response.json()["metadata"]["status"]]
    bad = sorted({m.split(".")[0] for m in messages if m.startswith("[")})
    assert bad == ["[1]", "[2]", "[3]", "[4]"], messages
    assert await brapi.data("/observations", observationUnitDbId=unit) == before


async def test_field_app_round_trip_through_the_observation_table_in_csv(
    brapi: Brapi,
    trial_site: dict[str, Any],
    variables: dict[str, dict[str, Any]],
    units: list[dict[str, Any]],
) -> None:
    [study] = await brapi.data("/studies", studyDbId=trial_site["study"]["studyDbId"])
    study_units = await brapi.data(
        "/observationunits", studyDbId=study["studyDbId"], observationUnitLevelName="plot"
    )
    all_variables = await brapi.data("/variables")
    chosen = [
        v for v in all_variables if v["observationVariableName"] in {"Plant height", "Virus score"}
    ]
    posted = [
        {
            "observationUnitDbId": unit["observationUnitDbId"],
            "observationVariableDbId": variable["observationVariableDbId"],
            "studyDbId": study["studyDbId"],
            "value": str(10 + i) if variable["observationVariableName"] == "Plant height" else "3",
            "observationTimeStamp": f"2026-07-0{i + 1}T10:00:00+00:00",
            "collector": "field app",
            "geoCoordinates": POINT,
        }
        for i, unit in enumerate(study_units)
        for variable in chosen
    ]
    stored = await brapi.create("/observations", posted)
    assert len(stored) == len(posted)
    assert stored[0]["geoCoordinates"] == POINT
    table = await brapi.call(
        "GET",
        "/observations/table",
        params={"studyDbId": study["studyDbId"]},
        headers={"Accept": "text/csv"},
    )
    assert table.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(table.text)))
    header, names, data = rows[0], rows[1], rows[2:]
    variable_columns = {header[i]: i for i in range(len(header)) if names[i]}
    assert {names[i] for i in variable_columns.values()} == {"Plant height", "Virus score"}
    read_back = sorted(
        (
            row[header.index("observationUnitDbId")],
            variable,
            row[column],
            row[header.index("observationTimeStamp")],
        )
        for row in data
        for variable, column in variable_columns.items()
        if row[column] != ""
    )
    expected = sorted(
        (
            o["observationUnitDbId"],
            o["observationVariableDbId"],
            o["value"],
            o["observationTimeStamp"],
        )
        for o in posted
    )
    assert read_back == expected


async def test_observation_table_formats_share_one_header(
    brapi: Brapi, trial_site: dict[str, Any]
) -> None:
    params = {"studyDbId": trial_site["study"]["studyDbId"]}
    as_json = (await brapi.call("GET", "/observations/table", params=params)).json()["result"]
    as_tsv = (
        await brapi.call(
            "GET", "/observations/table", params=params, headers={"Accept": "text/tsv"}
        )
    ).text
    rows = list(csv.reader(io.StringIO(as_tsv), delimiter="\t"))
    variable_ids = [v["observationVariableDbId"] for v in as_json["observationVariables"]]
    assert rows[0] == as_json["headerRow"] + variable_ids
    assert rows[2:] == as_json["data"]


async def test_observations_are_soft_deleted_and_the_deletion_is_an_event(
    brapi: Brapi, stack: DevStack, units: list[dict[str, Any]], variables: dict[str, dict[str, Any]]
) -> None:
    unit = units[3]["observationUnitDbId"]
    variable = variables["flowering"]["observationVariableDbId"]
    [observation] = await brapi.create(
        "/observations",
        [{"observationUnitDbId": unit, "observationVariableDbId": variable, "value": "2026-07-01"}],
    )
    db_id = observation["observationDbId"]
    deleted = (
        await brapi.call("POST", "/delete/observations", json={"observationDbIds": [db_id]})
    ).json()
    assert deleted["result"]["observationDbIds"] == [db_id]
    for nothing_named in (b"", b"{}"):  # never "delete everything"
        await brapi.call("POST", "/delete/observations", content=nothing_named, status=400)
    await brapi.call("GET", f"/observations/{db_id}", status=404)
    assert await brapi.data("/observations", observationDbId=db_id) == []
    assert stack.database is not None
    with psycopg.connect(stack.database.owner_url) as conn:
        kept = conn.execute(
            "SELECT deleted_at IS NOT NULL FROM domain.resources WHERE db_id = %s", (db_id,)
        ).fetchone()
        types = [
            r[0]
            for r in conn.execute(
                "SELECT type FROM domain.outbox WHERE aggregate_id = %s ORDER BY seq", (db_id,)
            )
        ]
    assert kept == (True,), "the row stays as history"
    assert types == ["observation.created", "observation.deleted"]


async def _chunks(start: bytes, size: int) -> AsyncIterator[bytes]:
    yield start
    sent = len(start)
    while sent < size:
        piece = min(64 * 1024, size - sent)
        yield bytes(piece)
        sent += piece


async def test_image_content_is_stored_size_limited_and_must_be_an_image(
    brapi: Brapi, units: list[dict[str, Any]]
) -> None:
    [image] = await brapi.create(
        "/images",
        [
            {
                "imageName": "leaf",
                "observationUnitDbId": units[0]["observationUnitDbId"],
                "imageLocation": POINT,
            }
        ],
    )
    db_id = image["imageDbId"]
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    updated = (
        await brapi.call(
            "PUT",
            f"/images/{db_id}/imagecontent",
            content=png,
            headers={"Content-Type": "image/png"},
        )
    ).json()["result"]
    assert (updated["mimeType"], updated["imageFileSize"]) == ("image/png", len(png))
    assert updated["imageLocation"] == POINT
    content = await brapi.client.get(updated["imageURL"], headers=brapi.headers)
    assert (content.status_code, content.content, content.headers["content-type"]) == (
        200,
        png,
        "image/png",
    )
    await brapi.call(
        "PUT",
        f"/images/{db_id}/imagecontent",
        content=b"plain text",
        headers={"Content-Type": "text/plain"},
        status=400,
    )
    await brapi.call(
        "PUT",
        f"/images/{db_id}/imagecontent",
        content=b"not a png",
        headers={"Content-Type": "image/png"},
        status=400,
    )
    await brapi.call(  # streamed (no Content-Length): the gateway counts and stops at the limit
        "PUT",
        f"/images/{db_id}/imagecontent",
        content=_chunks(png, 8 * 1024 * 1024 + 1),
        headers={"Content-Type": "image/png"},
        status=413,
    )
    await brapi.call(
        "PUT",
        f"/images/{uuid.uuid4()}/imagecontent",
        content=png,
        headers={"Content-Type": "image/png"},
        status=404,
    )
    deleted = (await brapi.call("POST", "/delete/images", json={"imageDbIds": [db_id]})).json()[
        "result"
    ]
    assert deleted["imageDbIds"] == [db_id]
    await brapi.call("GET", f"/images/{db_id}", status=404)
