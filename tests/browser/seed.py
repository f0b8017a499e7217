"""Phenotyping data the demo import lacks: variables with scales and plots in a study.

Written through the BrAPI API with a bearer token, as any client would."""

from __future__ import annotations

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


def seed_study(base_url: str, token: str, plots: int = 6) -> dict[str, Any]:
    """A study of the demo organization with two variables and ``plots`` plots."""
    brapi = Brapi(base_url, token)
    study = brapi.data("/studies", pageSize=1)[0]
    germplasm = brapi.data("/germplasm", pageSize=plots)
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
    variable_ids = [height["observationVariableDbId"], score["observationVariableDbId"]]
    response = brapi.client.put(
        f"/studies/{study['studyDbId']}", json={**study, "observationVariableDbIds": variable_ids}
    )
    assert response.status_code == 200, response.text
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
    return {"study": study, "height": height, "score": score, "units": units}
