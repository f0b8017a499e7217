"""Every Core, Germplasm and Phenotyping operation through the running gateway, each answer
checked against the official BrAPI v2.1 OpenAPI schemas; then a bounded schemathesis run.

``brapi_openapi_all.nullable.yaml`` validates everything except ``/attributes*``, whose
``Method``/``Trait`` schemas in the merged file are Phenotyping's; those use the Germplasm
module file, made nullable the same way (non-required properties may be null).

The schemathesis run adjusts the official document twice (ADR 0040): BrAPI documents
400/401/403/404 bodies as plain strings while Bijmantra answers every error in the BrAPI
envelope, so errors are checked against that envelope; only the served modules' paths are kept.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from bijmantra.devstack.stack import DevStack, running_stack
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

SPEC_DIR = Path(__file__).resolve().parents[2] / "api-contracts" / "brapi"
SERVER = "https://test-server.brapi.org"


NULL_ONLY = {"nullable": True, "enum": [None]}


def _nullable(node: Any, *, mark: bool) -> Any:
    """``mark``: make every non-required property nullable (the BrAPI JSON-Schema convention).
    Always: a nullable enum lists ``null`` and a nullable ``anyOf`` gets a null branch, as
    OpenAPI 3.0.3 requires for ``null`` to be valid there (the document means it as valid)."""
    if isinstance(node, dict):
        required = set(node["required"]) if isinstance(node.get("required"), list) else set()
        properties = node.get("properties")
        if mark and isinstance(properties, dict):
            for name, schema in list(properties.items()):
                if name in required or not isinstance(schema, dict):
                    continue
                if "$ref" in schema:
                    properties[name] = {"anyOf": [schema], "nullable": True}
                else:
                    schema.setdefault("nullable", True)
        if node.get("nullable") and isinstance(node.get("enum"), list) and None not in node["enum"]:
            node["enum"].append(None)
        if node.get("nullable") and isinstance(node.get("anyOf"), list) and "type" not in node:
            node["anyOf"].append(NULL_ONLY)
        for value in node.values():
            _nullable(value, mark=mark)
    elif isinstance(node, list):
        for value in node:
            _nullable(value, mark=mark)
    return node


def _v21_spelling(spec: dict[str, Any]) -> dict[str, Any]:
    """The merged file's ``ProgramNewRequest`` (and so ``Program``) lists STANDARD; v2.1's
    JSON Schema ``Program.json``, its search request and its query parameter spell the
    value STANARD, which Bijmantra serves, so answers are held to that spelling."""
    schemas = spec.get("components", {}).get("schemas", {})
    if "ProgramNewRequest" in schemas:
        schemas["ProgramNewRequest"]["properties"]["programType"]["enum"] = ["STANARD", "PROJECT"]
    return spec


def _load(name: str, *, mark: bool) -> dict[str, Any]:
    spec = yaml.safe_load((SPEC_DIR / name).read_text())
    return _nullable(_v21_spelling(spec), mark=mark)


@cache
def specs() -> tuple[OpenAPI, OpenAPI]:
    merged = OpenAPI.from_dict(_load("brapi_openapi_all.nullable.yaml", mark=False))
    return merged, OpenAPI.from_dict(_load("brapi_openapi_BrAPI-Germplasm.yaml", mark=True))


def spec_for(path: str) -> OpenAPI:
    merged, germplasm = specs()
    return germplasm if path.startswith(("/attributes", "/search/attributes")) else merged


def validate(method: str, path: str, query: dict[str, Any], status: int, body: bytes) -> None:
    """Raise if the response does not conform to the operation's documented response."""
    request = MockRequest(SERVER, method.lower(), f"/brapi/v2{path}", args=query)
    response = MockResponse(body, status_code=status, content_type="application/json")
    try:
        spec_for(path).validate_response(request, response)
    except Exception as exc:
        errors = getattr(exc.__cause__, "schema_errors", ()) or ()
        found = [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for error in errors
            for e in _leaves(error)
        ]
        raise AssertionError(f"{method} {path} -> {status}: {found or exc}") from None


def _leaves(error: Any) -> list[Any]:
    """The innermost jsonschema errors (``anyOf`` wraps the real one in ``context``)."""
    return [leaf for sub in error.context for leaf in _leaves(sub)] if error.context else [error]


MODULES = ("BrAPI-Core", "BrAPI-Germplasm", "BrAPI-Phenotyping")


def operations(modules: tuple[str, ...] = MODULES) -> set[tuple[str, str]]:
    lines = (SPEC_DIR / "calls-matrix-v2.1.tsv").read_text().splitlines()[1:]
    return {
        (method, path)
        for module, method, path, *_ in (line.split("\t") for line in lines)
        if module in modules
    }


# Genotyping operations over documents (the genotype views have their own e2e module).
GENOTYPING_DOCUMENTS = ("/samples", "/plates", "/maps", "/markerpositions", "/vendor")


def served_operations() -> set[tuple[str, str]]:
    """Core, Germplasm and Phenotyping, and the Genotyping operations over documents."""
    prefixes = GENOTYPING_DOCUMENTS + tuple("/search" + p for p in GENOTYPING_DOCUMENTS)
    genotyping = {
        (method, path)
        for method, path in operations(("BrAPI-Genotyping",))
        if path.startswith(prefixes)
    }
    return operations() | genotyping


# Genotyping operations over the genotype store fuzzed beside the document ones: the
# references and the two writes (bounded bodies; a generated call or extract names ids
# that are not there, so they must answer 4xx, never 5xx).
FUZZED_GENOTYPE_STORE = {
    ("GET", "/references"),
    ("GET", "/references/{referenceDbId}"),
    ("GET", "/references/{referenceDbId}/bases"),
    ("POST", "/search/references"),
    ("GET", "/referencesets"),
    ("GET", "/referencesets/{referenceSetDbId}"),
    ("POST", "/search/referencesets"),
    ("PUT", "/calls"),
    ("POST", "/variantsets/extract"),
}
CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"
MAX_EXAMPLES = int(os.environ.get("BRAPI_FUZZ_EXAMPLES", "5"))
SEED = int(os.environ.get("BRAPI_FUZZ_SEED", "20261122"))

ERROR_ENVELOPE = {
    "type": "object",
    "required": ["metadata", "result"],
    "properties": {
        "metadata": {
            "type": "object",
            "required": ["status"],
            "properties": {
                "status": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["message", "messageType"],
                        "properties": {
                            "message": {"type": "string"},
                            "messageType": {"type": "string", "enum": ["ERROR"]},
                        },
                    },
                }
            },
        },
        "result": {"nullable": True, "type": "object"},
    },
}


def fuzz_spec(spec_dir: Path) -> dict[str, object]:
    spec = _v21_spelling(yaml.safe_load((spec_dir / "brapi_openapi_all.nullable.yaml").read_text()))
    kept = served_operations() | FUZZED_GENOTYPE_STORE
    paths = {}
    for path, item in spec["paths"].items():
        methods = {m for m, p in kept if p == path}
        if methods:
            paths[path] = {
                k: v for k, v in item.items() if k.upper() in methods or k == "parameters"
            }
    spec["paths"] = paths
    for name, response in spec["components"]["responses"].items():
        if name[:3] in {"400", "401", "403", "404"}:
            response["content"] = {"application/json": {"schema": ERROR_ENVELOPE}}
    return spec


def fuzz_operations(gateway_url: str, token: str, spec_dir: Path) -> list[str]:
    """Run schemathesis; return the failure lines it printed (empty when all checks pass)."""
    with tempfile.TemporaryDirectory() as scratch:
        spec_path = Path(scratch) / "brapi.json"
        spec_path.write_text(json.dumps(fuzz_spec(spec_dir)))
        command = [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            str(spec_path),
            "--url",
            f"{gateway_url}/brapi/v2",
            "-H",
            f"Authorization: Bearer {token}",
            "--checks",
            CHECKS,
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            "--mode",
            "positive",
            "--phases",
            "examples,coverage,fuzzing",
            "--no-shrink",
            "--workers",
            "2",
            "--request-timeout",
            "30",
            "--generation-database",
            "none",
            "--no-color",
        ]
        result = subprocess.run(  # cwd: schemathesis keeps its cache beside it, not in the repo
            command, capture_output=True, text=True, timeout=600, check=False, cwd=scratch
        )
    output = result.stdout + result.stderr
    if result.returncode == 0:
        return []
    return [line for line in output.splitlines() if line.strip()][-200:]


pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with running_stack(
        tmp_path_factory.mktemp("conformance"), testdata=True
    ) as stack:  # the imported Test Server data is served and validated too
        yield stack


@dataclass
class Recorder:
    """Calls the gateway and keeps every (operation, status, body) for validation."""

    client: httpx.Client
    seen: list[tuple[str, str, dict[str, Any], int, bytes]] = field(default_factory=list)

    def call(
        self,
        method: str,
        template: str,
        values: dict[str, str] | None = None,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        **request: Any,
    ) -> Any:
        path = template.format(**(values or {}))
        response = self.client.request(
            method, f"/brapi/v2{path}", json=json, params=params, **request
        )
        self.seen.append((method, template, params or {}, response.status_code, response.content))
        assert response.status_code in (200, 202), (method, path, response.text)
        return response.json()["result"]

    def create(self, path: str, *items: dict[str, Any]) -> list[dict[str, Any]]:
        return self.call("POST", path, json=list(items))["data"]


def exercise_every_operation(api: Recorder) -> None:
    """Create one of everything in dependency order, then read, update and search it all."""
    ext = [{"referenceId": f"ref-{uuid.uuid4().hex[:6]}", "referenceSource": "conformance"}]
    [person] = api.create(
        "/people", {"firstName": "Ada", "lastName": "Lovelace", "externalReferences": ext}
    )
    [program] = api.create(
        "/programs",
        {
            "programName": "Maize 2030",
            "programType": "STANDARD",
            "commonCropName": "Maize",
            "leadPersonDbId": person["personDbId"],
            "additionalInfo": {"funding": "public"},
        },
    )
    assert program["programType"] == "STANARD"  # the v2.1 enum's spelling
    assert program["additionalInfo"] == {"funding": "public"}
    [location] = api.create(
        "/locations",
        {
            "locationName": "Field 7",
            "countryCode": "IND",
            "coordinates": {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [77.2, 28.6]},
            },
        },
    )
    [trial] = api.create(
        "/trials",
        {"trialName": "T1", "programDbId": program["programDbId"], "startDate": "2024-05-01"},
    )
    assert trial["programName"] == "Maize 2030"
    [study] = api.create(
        "/studies",
        {
            "studyName": "S1",
            "trialDbId": trial["trialDbId"],
            "studyType": "Yield Trial",
            "locationDbId": location["locationDbId"],
            "startDate": "2024-06-01T08:00:00Z",
        },
    )
    [season] = api.create("/seasons", {"seasonName": "Kharif", "year": 2024})
    [a, b, c] = api.create(
        "/germplasm",
        *(
            {
                "germplasmName": n,
                "germplasmPUI": f"doi:conf/{n}",
                "commonCropName": "Maize",
                "acquisitionDate": "2020-01-02",
                "synonyms": [{"synonym": f"{n}-alias", "type": "alias"}],
                "externalReferences": ext,
            }
            for n in "ABC"
        ),
    )
    [lst] = api.create(
        "/lists", {"listName": "Favourites", "listType": "germplasm", "data": [a["germplasmDbId"]]}
    )
    [attribute] = api.create(
        "/attributes",
        {
            "attributeName": "Height",
            "attributeCategory": "Agronomic",
            "trait": {"traitName": "Plant height"},
            "method": {"methodName": "Ruler"},
            "scale": {"scaleName": "cm", "scaleDbId": "cm"},
        },
    )
    [value] = api.create(
        "/attributevalues",
        {
            "attributeName": "Height",
            "attributeDbId": attribute["attributeDbId"],
            "germplasmDbId": a["germplasmDbId"],
            "value": "182",
        },
    )
    assert value["germplasmName"] == "A"
    [project] = api.create(
        "/crossingprojects", {"crossingProjectName": "CP1", "programDbId": program["programDbId"]}
    )
    parents = {
        "parent1": {"germplasmDbId": a["germplasmDbId"], "parentType": "FEMALE"},
        "parent2": {"germplasmDbId": b["germplasmDbId"], "parentType": "MALE"},
    }
    [planned] = api.create(
        "/plannedcrosses",
        {
            "plannedCrossName": "A x B",
            "crossingProjectDbId": project["crossingProjectDbId"],
            **parents,
        },
    )
    [cross] = api.create(
        "/crosses",
        {"crossName": "A x B #1", "plannedCrossDbId": planned["plannedCrossDbId"], **parents},
    )
    [node] = api.create(
        "/pedigree",
        {
            "germplasmDbId": c["germplasmDbId"],
            "germplasmName": "C",
            "parents": [
                {"germplasmDbId": a["germplasmDbId"], "parentType": "FEMALE"},
                {"germplasmDbId": b["germplasmDbId"], "parentType": "MALE"},
            ],
        },
    )
    [lot1, lot2] = api.create(
        "/seedlots",
        {"seedLotName": "L1", "amount": 100, "units": "seeds"},
        {"seedLotName": "L2", "amount": 0, "units": "seeds"},
    )
    api.create(
        "/seedlots/transactions",
        {
            "fromSeedLotDbId": lot1["seedLotDbId"],
            "toSeedLotDbId": lot2["seedLotDbId"],
            "amount": 40,
            "transactionTimestamp": "2024-07-01T10:00:00+05:30",
        },
    )

    ids = {
        **exercise_phenotyping(api, study, germplasm=c, season=season),
        "personDbId": person["personDbId"],
        "programDbId": program["programDbId"],
        "trialDbId": trial["trialDbId"],
        "locationDbId": location["locationDbId"],
        "studyDbId": study["studyDbId"],
        "seasonDbId": season["seasonDbId"],
        "listDbId": lst["listDbId"],
        "germplasmDbId": c["germplasmDbId"],
        "attributeDbId": attribute["attributeDbId"],
        "attributeValueDbId": value["attributeValueDbId"],
        "crossingProjectDbId": project["crossingProjectDbId"],
        "seedLotDbId": lot1["seedLotDbId"],
        "breedingMethodDbId": "breeding_method1",
    }
    ids |= exercise_genotyping_documents(api, ids)
    for method, path in sorted(served_operations()):
        if method != "GET" or "searchResultsDbId" in path:
            continue
        api.call("GET", path, ids, params={"pageSize": 5} if "{" not in path else None)

    assert api.call("GET", "/seedlots/{seedLotDbId}", ids)["amount"] == 60
    assert [
        p["germplasmDbId"]
        for p in api.call("GET", "/germplasm/{germplasmDbId}/pedigree", ids)["parents"]
    ] == [a["germplasmDbId"], b["germplasmDbId"]]
    progeny = api.call(
        "GET", "/germplasm/{germplasmDbId}/progeny", {"germplasmDbId": a["germplasmDbId"]}
    )
    assert progeny["progeny"] == [
        {"germplasmDbId": c["germplasmDbId"], "germplasmName": "C", "parentType": "FEMALE"}
    ]

    for path, body in (
        ("/people/{personDbId}", {"firstName": "Augusta Ada", "lastName": "King"}),
        ("/programs/{programDbId}", {"programName": "Maize 2031", "programType": "PROJECT"}),
        ("/locations/{locationDbId}", {"locationName": "Field 8"}),
        ("/trials/{trialDbId}", {"trialName": "T1b", "programDbId": program["programDbId"]}),
        ("/studies/{studyDbId}", {"studyName": "S1b", "trialDbId": trial["trialDbId"]}),
        ("/seasons/{seasonDbId}", {"seasonName": "Rabi", "year": 2025}),
        ("/lists/{listDbId}", {"listName": "Favourites 2", "listType": "germplasm", "data": []}),
        (
            "/germplasm/{germplasmDbId}",
            {"germplasmName": "C2", "germplasmPUI": "doi:conf/C", "commonCropName": "Maize"},
        ),
        (
            "/attributes/{attributeDbId}",
            {
                "attributeName": "Height2",
                "trait": {"traitName": "h"},
                "method": {"methodName": "m"},
                "scale": {"scaleName": "s", "scaleDbId": "s"},
            },
        ),
        ("/attributevalues/{attributeValueDbId}", {"attributeName": "Height2", "value": "190"}),
        ("/crossingprojects/{crossingProjectDbId}", {"crossingProjectName": "CP2"}),
        ("/seedlots/{seedLotDbId}", {"seedLotName": "L1b", "amount": 60, "units": "seeds"}),
    ):
        api.call("PUT", path, ids, json=body)
    api.call("POST", "/lists/{listDbId}/items", ids, json=[b["germplasmDbId"]])
    assert (
        api.call("POST", "/lists/{listDbId}/data", ids, json=[c["germplasmDbId"]])["listSize"] == 2
    )
    api.call("PUT", "/crosses", json={cross["crossDbId"]: {"crossName": "A x B #1b", **parents}})
    api.call(
        "PUT",
        "/plannedcrosses",
        json={planned["plannedCrossDbId"]: {"plannedCrossName": "AxB'", **parents}},
    )
    api.call(
        "PUT",
        "/pedigree",
        json={
            c["germplasmDbId"]: {
                "germplasmDbId": c["germplasmDbId"],
                "germplasmName": "C2",
                "familyCode": "F1",
                "parents": node["parents"],
            }
        },
    )

    for path in sorted(
        p for m, p in served_operations() if m == "POST" and p.startswith("/search/")
    ):
        search_id = api.call(
            "POST",
            path,
            json={"externalReferenceSources": ["conformance"]} if "people" in path else {},
        )
        api.call("GET", path + "/{searchResultsDbId}", search_id, params={"pageSize": 2})
    update_phenotyping(api, ids)
    update_genotyping_documents(api, ids)


def exercise_genotyping_documents(api: Recorder, ids: dict[str, str]) -> dict[str, str]:
    """A plate of the study and two samples on it (one through its unit); the Test Server's
    map. Returns the ids the GET loop needs."""
    [plate] = api.create(
        "/plates",
        {"plateName": "P1", "plateFormat": "PLATE_96", "studyDbId": ids["unitStudyDbId"]},
    )
    assert (plate["trialDbId"], plate["programDbId"]) == (ids["trialDbId"], ids["programDbId"])
    [by_unit, by_germplasm] = api.create(
        "/samples",
        {
            "sampleName": "S1",
            "observationUnitDbId": ids["observationUnitDbId"],
            "plateDbId": plate["plateDbId"],
            "well": "A1",
        },
        {
            "sampleName": "S2",
            "germplasmDbId": ids["germplasmDbId"],
            "plateDbId": plate["plateDbId"],
            "row": "H",
            "column": 12,
            "sampleType": "DNA",
        },
    )
    assert by_unit["germplasmDbId"] == ids["germplasmDbId"]  # the unit's germplasm
    assert (by_unit["well"], by_unit["plateName"]) == ("A01", "P1")
    assert by_germplasm["well"] == "H12"
    plates = [
        {
            "clientPlateId": "cp-1",
            "sampleSubmissionFormat": "PLATE_96",
            "samples": [
                {"clientSampleId": "a", "well": "A1"},
                {"clientSampleId": "b", "row": "B", "column": 1},
            ],
        }
    ]
    submission = {"clientId": "c-1", "numberOfSamples": 2, "sampleType": "DNA", "plates": plates}
    submitted = api.call("POST", "/vendor/plates", json=submission)
    order = api.call(
        "POST", "/vendor/orders", json={**submission, "serviceIds": ["vendor_spec_platform1"]}
    )
    return {
        "plateDbId": plate["plateDbId"],
        "sampleDbId": by_unit["sampleDbId"],
        "otherSampleDbId": by_germplasm["sampleDbId"],
        "mapDbId": "genome_map1",
        "submissionId": submitted["submissionId"],
        "orderId": order["orderId"],
    }


def update_genotyping_documents(api: Recorder, ids: dict[str, str]) -> None:
    sample = api.call("GET", "/samples/{sampleDbId}", ids)
    plate = api.call("GET", "/plates/{plateDbId}", ids)
    moved = api.call(
        "PUT",
        "/samples/{sampleDbId}",
        ids,
        json={**sample, "well": "B01", "row": None, "column": None},
    )
    assert (moved["row"], moved["column"]) == ("B", 1)
    api.call("PUT", "/samples", json={ids["sampleDbId"]: {**moved, "sampleName": "S1b"}})
    api.call("PUT", "/plates", json={ids["plateDbId"]: {**plate, "plateBarcode": "0042"}})
    groups = api.call("GET", "/maps/{mapDbId}/linkagegroups", ids)["data"]
    positions = api.call("GET", "/markerpositions", params={"mapDbId": ids["mapDbId"]})["data"]
    assert groups == [
        {
            "additionalInfo": None,
            "linkageGroupName": "Chromosome 1",
            "markerCount": len(positions),
            "maxPosition": max(p["position"] for p in positions),
        }
    ]
    the_map = api.call("GET", "/maps/{mapDbId}", ids)
    assert (the_map["markerCount"], the_map["linkageGroupCount"]) == (len(positions), 1)
    wells = api.call("GET", "/vendor/plates/{submissionId}", ids)["plates"][0]["samples"]
    assert [w["well"] for w in wells] == ["A01", "B01"]
    [order] = api.call("GET", "/vendor/orders", params={"orderId": ids["orderId"]})["data"]
    assert order["serviceIds"] == ["vendor_spec_platform1"]
    [on_order] = api.call("GET", "/vendor/orders/{orderId}/plates", ids)["data"]
    assert on_order["clientPlateId"] == "cp-1"
    assert api.call("GET", "/vendor/orders/{orderId}/status", ids) == {"status": "registered"}
    for status in ("received", "inProgress"):  # the lab's extension: not a spec operation
        moved = api.client.post(f"/brapi/v2/vendor/orders/{ids['orderId']}/status", json=[status])
        assert moved.status_code == 200, moved.text
    assert api.call("GET", "/vendor/orders/{orderId}/status", ids) == {"status": "inProgress"}
    found = api.call("POST", "/search/samples", json={"plateDbIds": [ids["plateDbId"]]})
    page = api.call("GET", "/search/samples/{searchResultsDbId}", found)["data"]
    assert sorted(s["sampleName"] for s in page) == ["S1b", "S2"]
    filter_plates_by_samples_and_positions_by_range(api, ids, positions)


def filter_plates_by_samples_and_positions_by_range(
    api: Recorder, ids: dict[str, str], positions: list[dict[str, Any]]
) -> None:
    """Plates by their samples' filters; marker positions by a position range (ADR 0272)."""
    by_sample = {"sampleDbId": ids["sampleDbId"]}
    assert [p["plateDbId"] for p in api.call("GET", "/plates", params=by_sample)["data"]] == [
        ids["plateDbId"]
    ]
    assert api.call("GET", "/plates", params={"sampleDbId": "no-such-sample"})["data"] == []
    by_name = {"sampleName": "S1b", "plateName": "no-such-plate"}  # both must match
    assert api.call("GET", "/plates", params=by_name)["data"] == []
    found = api.call("POST", "/search/plates", json={"sampleNames": ["S1b", "S2"]})
    page = api.call("GET", "/search/plates/{searchResultsDbId}", found)["data"]
    assert [p["plateDbId"] for p in page] == [ids["plateDbId"]]
    spots = sorted(p["position"] for p in positions)
    low, high = spots[0], spots[-1]
    window = {"mapDbId": ids["mapDbId"], "minPosition": low + 1, "maxPosition": high}
    inside = api.call("GET", "/markerpositions", params=window)["data"]
    assert sorted(p["position"] for p in inside) == [x for x in spots if low + 1 <= x <= high]
    found = api.call("POST", "/search/markerpositions", json={"maxPosition": low})
    page = api.call("GET", "/search/markerpositions/{searchResultsDbId}", found)["data"]
    assert page
    assert all(p["position"] <= low for p in page)
    wrong = api.client.get("/brapi/v2/markerpositions", params={"minPosition": "x"})
    assert wrong.status_code == 400, wrong.text


POINT = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [77.2, 28.6]}}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


def exercise_phenotyping(
    api: Recorder, study: dict[str, Any], *, germplasm: dict[str, Any], season: dict[str, Any]
) -> dict[str, str]:
    """Create one of every Phenotyping entity; return the ids the GET loop needs."""
    [ontology] = api.create("/ontologies", {"ontologyName": "CO_322", "version": "1"})
    reference = {"ontologyDbId": ontology["ontologyDbId"], "ontologyName": "CO_322"}
    [trait] = api.create("/traits", {"traitName": "Plant height", "ontologyReference": reference})
    [method] = api.create("/methods", {"methodName": "Ruler", "methodClass": "Measurement"})
    [scale] = api.create(
        "/scales",
        {
            "scaleName": "cm",
            "dataType": "Numerical",
            "validValues": {"minimumValue": "0", "maximumValue": "500"},
        },
    )
    [variable] = api.create(
        "/variables",
        {
            "observationVariableName": "PH_cm",
            "trait": {"traitDbId": trait["traitDbId"], "traitName": "x"},
            "method": {"methodDbId": method["methodDbId"], "methodName": "x"},
            "scale": {"scaleDbId": scale["scaleDbId"], "scaleName": "x"},
        },
    )
    [unit] = api.create(
        "/observationunits",
        {
            "observationUnitName": "Plot 1",
            "studyDbId": study["studyDbId"],
            "germplasmDbId": germplasm["germplasmDbId"],
            "observationUnitPosition": {
                "observationLevel": {"levelName": "plot", "levelCode": "1"},
                "observationLevelRelationships": [{"levelName": "block", "levelCode": "B1"}],
                "positionCoordinateX": "1",
                "positionCoordinateXType": "GRID_COL",
                "geoCoordinates": POINT,
            },
        },
    )
    [observation] = api.create(
        "/observations",
        {
            "observationUnitDbId": unit["observationUnitDbId"],
            "observationVariableDbId": variable["observationVariableDbId"],
            "value": "182",
            "observationTimeStamp": "2024-07-01T10:00:00Z",
            "geoCoordinates": POINT,
            "season": {"seasonDbId": season["seasonDbId"]},
        },
    )
    assert observation["season"]["year"] == 2024
    [image] = api.create(
        "/images",
        {
            "imageName": "leaf",
            "observationUnitDbId": unit["observationUnitDbId"],
            "observationDbIds": [observation["observationDbId"]],
            "imageLocation": POINT,
        },
    )
    return {
        "ontologyDbId": ontology["ontologyDbId"],
        "traitDbId": trait["traitDbId"],
        "methodDbId": method["methodDbId"],
        "scaleDbId": scale["scaleDbId"],
        "observationVariableDbId": variable["observationVariableDbId"],
        "observationUnitDbId": unit["observationUnitDbId"],
        "observationDbId": observation["observationDbId"],
        "imageDbId": image["imageDbId"],
        "unitStudyDbId": study["studyDbId"],
    }


def update_phenotyping(api: Recorder, ids: dict[str, str]) -> None:
    """Every Phenotyping PUT, the image upload, the table formats, then the deletes."""
    unit = api.call("GET", "/observationunits/{observationUnitDbId}", ids)
    observation = api.call("GET", "/observations/{observationDbId}", ids)
    variable = api.call("GET", "/variables/{observationVariableDbId}", ids)
    for path, body in (
        ("/ontologies/{ontologyDbId}", {"ontologyName": "CO_322", "version": "2"}),
        ("/traits/{traitDbId}", {"traitName": "Plant height", "traitClass": "morphological"}),
        ("/methods/{methodDbId}", {"methodName": "Ruler", "formula": "h"}),
        ("/scales/{scaleDbId}", {"scaleName": "cm", "dataType": "Numerical", "decimalPlaces": 1}),
        ("/variables/{observationVariableDbId}", {**variable, "defaultValue": "0"}),
        ("/observationunits/{observationUnitDbId}", {**unit, "observationUnitName": "Plot 1b"}),
        ("/observations/{observationDbId}", {**observation, "value": "183"}),
        (
            "/images/{imageDbId}",
            {"imageName": "leaf 2", "observationUnitDbId": ids["observationUnitDbId"]},
        ),
    ):
        api.call("PUT", path, ids, json=body)
    api.call(
        "PUT",
        "/observationunits",
        json={ids["observationUnitDbId"]: {**unit, "observationUnitName": "Plot 1c"}},
    )
    api.call("PUT", "/observations", json={ids["observationDbId"]: {**observation, "value": "184"}})
    uploaded = api.call(
        "PUT",
        "/images/{imageDbId}/imagecontent",
        ids,
        content=PNG,
        headers={"Content-Type": "image/png"},
    )
    assert uploaded["imageFileSize"] == len(PNG)
    study = {"studyDbId": ids["unitStudyDbId"]}
    for path in ("/observations/table", "/observationunits/table"):
        table = api.call("GET", path, params=study)
        assert table["data"], table
        assert table["observationVariables"], table
    api.call("POST", "/delete/images", json={"imageDbIds": [ids["imageDbId"]]})
    deleted = api.call(
        "POST", "/delete/observations", json={"observationDbIds": [ids["observationDbId"]]}
    )
    [observation_id] = deleted["observationDbIds"]
    assert observation_id == ids["observationDbId"]


@pytest.fixture(scope="module")
def client(stack: DevStack) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {stack.login()}"}
    with httpx.Client(base_url=stack.gateway_url, timeout=60, headers=headers) as client:
        yield client


@pytest.fixture(scope="module")
def recorded(client: httpx.Client) -> Recorder:
    api = Recorder(client)
    exercise_every_operation(api)
    return api


def test_every_served_operation_answers_and_conforms_to_the_official_schemas(
    recorded: Recorder,
) -> None:
    exercised = {(method, template) for method, template, *_ in recorded.seen}
    assert exercised == served_operations()
    assert len(exercised) == 91 + 49 + 19 + 8
    for method, template, params, status, body in recorded.seen:
        concrete = re.sub(r"\{\w+\}", "x", template)
        validate(method, concrete, params, status, body)


def test_a_pedigree_cycle_is_refused_with_422_and_nothing_changes(
    client: httpx.Client, recorded: Recorder
) -> None:
    nodes = client.get("/brapi/v2/pedigree", params={"familyCode": "F1"}).json()["result"]["data"]
    [child] = nodes
    parent = child["parents"][0]["germplasmDbId"]
    before = client.get("/brapi/v2/pedigree", params={"pageSize": 1000}).json()["result"]["data"]
    cycle = {
        parent: {
            "germplasmDbId": parent,
            "germplasmName": "A",
            "parents": [{"germplasmDbId": child["germplasmDbId"], "parentType": "SELF"}],
        }
    }
    response = client.put("/brapi/v2/pedigree", json=cycle)
    assert response.status_code == 422, response.text
    assert "cycle" in " ".join(s["message"] for s in response.json()["metadata"]["status"])
    assert (
        client.get("/brapi/v2/pedigree", params={"pageSize": 1000}).json()["result"]["data"]
        == before
    )


def test_search_results_of_an_unknown_or_foreign_id_are_404(
    client: httpx.Client, recorded: Recorder
) -> None:
    ticket = client.post("/brapi/v2/search/germplasm", json={"germplasmNames": ["A"]})
    assert ticket.status_code == 202
    search_id = ticket.json()["result"]["searchResultsDbId"]
    found = client.get(f"/brapi/v2/search/germplasm/{search_id}").json()
    assert [g["germplasmName"] for g in found["result"]["data"]] == ["A"]
    assert client.get("/brapi/v2/search/germplasm/not-a-search").status_code == 404
    # The id is bound to the entity it searched.
    assert client.get(f"/brapi/v2/search/programs/{search_id}").status_code == 404


def test_genotyping_documents_stay_in_their_organization_and_keep_their_rules(
    stack: DevStack, client: httpx.Client, recorded: Recorder
) -> None:
    [sample] = client.get("/brapi/v2/samples", params={"sampleName": "S2"}).json()["result"]["data"]
    plate_id = sample["plateDbId"]
    before = client.get("/brapi/v2/samples", params={"plateDbId": plate_id}).json()["result"]
    for bad, status in (
        ({"sampleName": "x", "germplasmDbId": sample["germplasmDbId"]}, 201),  # control
        ({**sample, "sampleDbId": None, "sampleName": "late", "well": "H12"}, 422),  # taken
        ({"sampleName": "x", "plateDbId": plate_id, "well": "A0"}, 400),  # names no well
        (
            {
                "sampleName": "x",
                "germplasmDbId": sample["germplasmDbId"],
                "well": "I1",
                "plateDbId": plate_id,
            },
            422,
        ),  # no row I on a 96-well plate
        ({"sampleName": "x", "germplasmDbId": "no-such-germplasm"}, 422),
    ):
        answer = client.post("/brapi/v2/samples", json=[bad])
        if status == 201:
            assert answer.status_code == 200, answer.text
            continue
        assert answer.status_code == status, (bad, answer.text)
        assert answer.json()["metadata"]["status"][0]["messageType"] == "ERROR"
    after = client.get("/brapi/v2/samples", params={"plateDbId": plate_id}).json()["result"]
    assert after == before

    email = f"outsider-{uuid.uuid4().hex[:8]}@example.org"
    stack.register_member(email, "pw-123456", ["breeder"])
    outsider = {"Authorization": f"Bearer {stack.login(email, 'pw-123456')}"}
    for path in (
        f"/samples/{sample['sampleDbId']}",
        f"/plates/{plate_id}",
        "/maps/genome_map1",
        "/maps/genome_map1/linkagegroups",
    ):
        foreign = client.get(f"/brapi/v2{path}", headers=outsider)
        assert foreign.status_code == 404, (path, foreign.text)
        assert foreign.json()["result"] is None
    listed = client.get("/brapi/v2/samples", headers=outsider).json()["result"]["data"]
    assert listed == []
    by_sample = {"sampleDbId": sample["sampleDbId"]}  # another organization's sample
    found = client.get("/brapi/v2/plates", params=by_sample, headers=outsider)
    assert found.json()["result"]["data"] == []
    borrowed = client.post(
        "/brapi/v2/samples",
        json=[{"sampleName": "x", "germplasmDbId": sample["germplasmDbId"]}],
        headers=outsider,
    )
    assert borrowed.status_code == 422, borrowed.text

    [order] = client.get("/brapi/v2/vendor/orders").json()["result"]["data"]
    status_path = f"/brapi/v2/vendor/orders/{order['orderId']}/status"
    for path in (
        status_path,
        f"/brapi/v2/vendor/orders/{order['orderId']}/plates",
        f"/brapi/v2/vendor/plates/{order['submissionId']}",
        "/brapi/v2/vendor/specifications",
    ):
        foreign = client.get(path, headers=outsider)
        assert foreign.status_code == 404, (path, foreign.text)
    assert client.post(status_path, json=["received"], headers=outsider).status_code == 404

    # The order is inProgress: it may complete or be rejected, nothing else; then it is final.
    plates = [{"sampleSubmissionFormat": "PLATE_96", "samples": [{"clientSampleId": "a"}]}]
    order_request = {"clientId": "c", "sampleType": "DNA", "plates": plates}
    for body, status in (
        ({**order_request, "numberOfSamples": 2, "serviceIds": ["vendor_spec_platform1"]}, 422),
        ({**order_request, "numberOfSamples": 1, "serviceIds": ["not-offered"]}, 422),
        ({**order_request, "numberOfSamples": 1}, 400),  # serviceIds are required
        ([order_request], 400),
    ):
        refused = client.post("/brapi/v2/vendor/orders", json=body)
        assert refused.status_code == status, (body, refused.text)
    assert client.get("/brapi/v2/vendor/orders").json()["result"]["data"] == [order]
    for steps, status in ((["received"], 422), (["done"], 422), (["completed"], 200)):
        answer = client.post(status_path, json=steps)
        assert answer.status_code == status, (steps, answer.text)
    assert client.post(status_path, json=["rejected"]).status_code == 422
    final = client.get(status_path).json()["result"]
    assert final == {"status": "completed"}
    results_of_an_order_import_as_a_listed_variant_set(stack, client, order["orderId"], outsider)

    viewer_email = f"viewer-{uuid.uuid4().hex[:8]}@example.org"
    stack.register_member(viewer_email, "pw-123456", ["viewer"])
    viewer = {"Authorization": f"Bearer {stack.login(viewer_email, 'pw-123456')}"}
    for method, path, body in (
        ("POST", "/samples", [{"sampleName": "x"}]),
        ("POST", "/plates", [{"plateName": "x"}]),
        ("PUT", "/plates", {}),
        ("POST", "/vendor/orders", {**order_request, "serviceIds": ["vendor_spec_platform1"]}),
        ("POST", f"/vendor/orders/{order['orderId']}/status", ["rejected"]),
    ):
        denied = client.request(method, f"/brapi/v2{path}", json=body, headers=viewer)
        assert denied.status_code == 403, (path, denied.text)


def results_of_an_order_import_as_a_listed_variant_set(
    stack: DevStack, client: httpx.Client, order_id: str, outsider: dict[str, str]
) -> None:
    """A VCF uploaded with ``vendorOrderId`` is that order's result file (ADR 0274)."""
    vcf = (
        b"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tv1\tv2\n"
        b"chr9\t7\tm1\tA\tC\t.\t.\t.\tGT\t0/1\t1/1\n"
    )

    def upload(order: str, headers: dict[str, str] | None = None) -> httpx.Response:
        params = {"name": f"results-{order}", "commonCropName": "Rice", "vendorOrderId": order}
        return client.post("/api/v1/genotypes/imports", params=params, content=vcf, headers=headers)

    def set_count() -> int:
        return int(
            client.get("/brapi/v2/variantsets").json()["metadata"]["pagination"]["totalCount"]
        )

    before = set_count()
    assert upload("no-such-order").status_code == 404
    assert upload(order_id, outsider).status_code == 404  # another organization's order
    assert set_count() == before
    imported = upload(order_id)
    assert imported.status_code == 201, imported.text
    set_id = imported.json()["data"]["variantSetDbId"]
    [result] = client.get(f"/brapi/v2/vendor/orders/{order_id}/results").json()["result"]["data"]
    assert (result["fileType"], result["clientSampleIds"]) == ("VCF", ["v1", "v2"])
    assert result["fileURL"] == f"{stack.gateway_url}/api/v1/variantsets/{set_id}/files/vcf"
    downloaded = client.get(result["fileURL"])
    assert downloaded.status_code == 200, downloaded.text
    assert downloaded.text.splitlines()[-1].endswith("\t0/1\t1/1")


# The run covers 176 operations with bounded examples; on a loaded machine it can take
# longer than the suite's default test timeout (the schemathesis process has its own 600 s).
@pytest.mark.timeout(900)
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    stack: DevStack, recorded: Recorder
) -> None:
    """Generated requests for every Core, Germplasm and Phenotyping operation and the
    Genotyping operations over documents, the references, PUT /calls and extract
    (bounded for CI)."""
    failures = fuzz_operations(stack.gateway_url, stack.login(), SPEC_DIR)
    assert failures == []


REFERENCE_OPERATIONS = {
    ("GET", "/references"),
    ("GET", "/references/{referenceDbId}"),
    ("GET", "/references/{referenceDbId}/bases"),
    ("POST", "/search/references"),
    ("GET", "/search/references/{searchResultsDbId}"),
    ("GET", "/referencesets"),
    ("GET", "/referencesets/{referenceSetDbId}"),
    ("POST", "/search/referencesets"),
    ("GET", "/search/referencesets/{searchResultsDbId}"),
}
# The Test Server's reference1: four upstream pages of its 6,010 bases, joined.
UPSTREAM_BASES = "TAGGATTGAGCTCTATAT"


def test_references_and_reference_sets_serve_the_test_data_and_conform(
    client: httpx.Client,
) -> None:
    api = Recorder(client)
    sets = api.call("GET", "/referencesets", params={"assemblyPUI": "doi://10.12345/fake/9876"})
    assert [s["referenceSetDbId"] for s in sets["data"]] == ["reference_set1"]
    one = api.call(
        "GET", "/referencesets/{referenceSetDbId}", {"referenceSetDbId": "reference_set1"}
    )
    assert [g["germplasmDbId"] for g in one["sourceGermplasm"]] == ["germplasm1"]
    ticket = api.call("POST", "/search/referencesets", json={"md5checksums": [one["md5checksum"]]})
    found = api.call(
        "GET",
        "/search/referencesets/{searchResultsDbId}",
        {"searchResultsDbId": ticket["searchResultsDbId"]},
    )
    assert {s["referenceSetDbId"] for s in found["data"]} == {"reference_set1", "reference_set2"}

    refs = api.call("GET", "/references", params={"referenceSetDbId": "reference_set2"})
    assert [(r["referenceDbId"], r["referenceSetName"]) for r in refs["data"]] == [
        ("reference2", "The Best Assembly Ever")
    ]
    reference = api.call("GET", "/references/{referenceDbId}", {"referenceDbId": "reference1"})
    assert reference["length"] == 6010
    ticket = api.call("POST", "/search/references", json={"referenceDbIds": ["reference1"]})
    found = api.call(
        "GET",
        "/search/references/{searchResultsDbId}",
        {"searchResultsDbId": ticket["searchResultsDbId"]},
    )
    assert [r["referenceName"] for r in found["data"]] == ["scaffold1"]

    bases = "/references/{referenceDbId}/bases"
    whole = api.call("GET", bases, {"referenceDbId": "reference1"})
    assert (whole["offset"], len(whole["sequence"]), whole["nextPageToken"]) == (0, 6010, None)
    assert whole["sequence"].startswith(UPSTREAM_BASES)
    assert whole["sequence"].endswith("GATTGAGCTC")
    window = api.call(
        "GET", bases, {"referenceDbId": "reference1"}, params={"start": 1995, "end": 2015}
    )
    assert window["sequence"] == whole["sequence"][1995:2015]
    assert {(m, t) for m, t, *_ in api.seen} == REFERENCE_OPERATIONS
    for method, template, params, status, body in api.seen:
        validate(method, re.sub(r"\{\w+\}", "x", template), params, status, body)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"start": "-1"}, "start"),
        ({"start": "10", "end": "5"}, "end"),
        ({"end": "6011"}, "end"),
        ({"pageToken": "abc"}, "pageToken"),
        ({"start": "100", "pageToken": "99"}, "pageToken"),
        ({"start": "9" * 40}, "start"),
    ],
)
def test_a_bad_bases_range_is_a_400_naming_the_parameter(
    client: httpx.Client, query: dict[str, str], field: str
) -> None:
    response = client.get("/brapi/v2/references/reference1/bases", params=query)
    assert response.status_code == 400, response.text
    assert field in response.text


def test_another_organization_sees_no_references(stack: DevStack, client: httpx.Client) -> None:
    email = f"breeder-{uuid.uuid4().hex[:8]}@example.org"
    stack.register_member(email, "pw-123456", ["breeder"])
    other = {"Authorization": f"Bearer {stack.login(email, 'pw-123456')}"}
    for path in (
        "/references/reference1",
        "/references/reference1/bases",
        "/referencesets/reference_set1",
    ):
        response = client.get(f"/brapi/v2{path}", headers=other)
        assert response.status_code == 404, (path, response.text)
    listed = client.get("/brapi/v2/references", headers=other).json()
    assert listed["result"]["data"] == []
    ticket = client.post("/brapi/v2/search/references", json={}).json()["result"]
    foreign = client.get(
        f"/brapi/v2/search/references/{ticket['searchResultsDbId']}", headers=other
    )
    assert foreign.status_code == 404


def test_the_test_servers_variant_set_is_demo_data_in_the_genotype_store(
    client: httpx.Client,
) -> None:
    sets = client.get("/brapi/v2/variantsets").json()["result"]["data"]
    [demo] = [s for s in sets if s["variantSetName"].startswith("Dummy VariantSet 1")]
    assert (demo["variantCount"], demo["callSetCount"]) == (20, 13)
    calls = client.get(
        "/brapi/v2/calls", params={"variantSetDbId": demo["variantSetDbId"], "pageSize": 13}
    ).json()["result"]["data"]
    # Upstream allele_0101: variant01 (M1) x callset01 (P2) is 0/0 with read depth 85.
    first = calls[0]
    assert (first["variantName"], first["callSetName"], first["genotypeValue"]) == (
        "M1",
        "P2",
        "0/0",
    )
    assert first["genotypeMetadata"][0]["fieldValue"] == "85"
