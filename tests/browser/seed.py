"""Phenotyping data the demo import lacks: variables with scales and plots in a study.

Written through the BrAPI API with a bearer token, as any client would."""

from __future__ import annotations

import uuid
from typing import Any

import httpx


class Brapi:
    def __init__(self, base_url: str, token: str) -> None:
        self.client = httpx.Client(
            base_url=f"{base_url}/brapi/v2",
            timeout=60,
            headers={"Authorization": f"Bearer {token}"},
        )

    def create(self, path: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        response = self.client.post(path, json=items)
        assert response.status_code == 200, response.text
        return response.json()["result"]["data"]

    def data(self, path: str, **params: Any) -> list[dict[str, Any]]:
        response = self.client.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()["result"]["data"]

    def variable(self, name: str, scale: dict[str, Any]) -> dict[str, Any]:
        [stored] = self.create("/scales", [{"scaleName": f"{name} scale", **scale}])
        [trait] = self.create(
            "/traits", [{"traitName": f"{name} trait", "traitClass": "morphological"}]
        )
        [method] = self.create(
            "/methods", [{"methodName": f"{name} method", "methodClass": "Measurement"}]
        )
        [variable] = self.create(
            "/variables",
            [
                {
                    "observationVariableName": name,
                    "trait": {"traitDbId": trait["traitDbId"], "traitName": name},
                    "method": {"methodDbId": method["methodDbId"], "methodName": name},
                    "scale": {"scaleDbId": stored["scaleDbId"], "scaleName": name},
                }
            ],
        )
        return variable


def seed_variables(base_url: str, token: str) -> dict[str, Any]:
    """Two variables of the demo organization: a numerical height and an ordinal score."""
    brapi = Brapi(base_url, token)
    height = brapi.variable(
        "Plant height",
        {
            "dataType": "Numerical",
            "units": "cm",
            "validValues": {"minimumValue": "0", "maximumValue": "400"},
        },
    )
    score = brapi.variable(
        "Virus score",
        {
            "dataType": "Ordinal",
            "validValues": {
                "categories": [
                    {"label": "none", "value": "0"},
                    {"label": "mild", "value": "1"},
                    {"label": "severe", "value": "3"},
                ]
            },
        },
    )
    brapi.client.close()
    return {"height": height, "score": score}


def seed_study(
    base_url: str,
    token: str,
    variables: dict[str, Any],
    plots: int = 6,
    germplasm: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A new study of the demo organization (in the first demo study's trial) with
    ``variables`` and ``plots`` plots: a test that writes observations writes them where no
    other test looks, so no test depends on which ran before it."""
    brapi = Brapi(base_url, token)
    trial = brapi.data("/studies", pageSize=1)[0]["trialDbId"]
    # ``germplasm``: the plots' own (a test naming samples after them makes its own, since the
    # shared stack's may carry another test's hostile names); else the demo organization's.
    germplasm = germplasm or brapi.data("/germplasm", pageSize=plots)
    variable_ids = [v["observationVariableDbId"] for v in variables.values()]
    [study] = brapi.create(
        "/studies",
        [
            {
                "studyName": f"Console study {uuid.uuid4().hex[:8]}",
                "trialDbId": trial,
                "observationVariableDbIds": variable_ids,
            }
        ],
    )
    units = brapi.create(
        "/observationunits",
        [
            {
                "observationUnitName": f"Plot {i + 1}",
                "studyDbId": study["studyDbId"],
                "germplasmDbId": germplasm[i % len(germplasm)]["germplasmDbId"],
                "observationUnitPosition": {
                    "observationLevel": {"levelName": "plot", "levelCode": f"P{i + 1}"},
                    "positionCoordinateX": str(i + 1),
                    "positionCoordinateXType": "GRID_COL",
                    "positionCoordinateY": "1",
                    "positionCoordinateYType": "GRID_ROW",
                },
            }
            for i in range(plots)
        ],
    )
    brapi.client.close()
    return {"study": study, **variables, "units": units}
