"""The published contract against the real stack: the served document is the committed one,
the docs page is self-contained, and schemathesis finds no server error and no response
outside the schema in any ``/api/v1`` operation (ADR 0230).

Examples per operation are few (``max_examples``): the run must stay well inside CI's budget.
The stack's rate limits are lifted so a 429 from a burst of generated requests cannot hide a
finding."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import schemathesis
from bijmantra.devstack.stack import DevStack, running_stack
from bijmantra.testkit.vcf import random_vcf
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

pytestmark = [pytest.mark.e2e]

COMMITTED = Path(__file__).resolve().parents[2] / "api-contracts" / "openapi.json"
UNLIMITED = ",".join(f"{c}=1000000/1000000" for c in ("read", "write", "search", "upload"))

SEEN: dict[str, set[int]] = {}  # operation -> statuses it answered with
DOCUMENT = json.loads(COMMITTED.read_text())
schema = schemathesis.openapi.from_dict(DOCUMENT).include(path_regex=r"^/api/v1/")
# Literal paths before templated ones: /devices/claim is not /devices/{device_id}.
TEMPLATES = sorted(
    (
        (re.compile("^" + re.sub(r"\{[^}/]+\}", "[^/]+", path) + "$"), path)
        for path in DOCUMENT["paths"]
        if path.startswith("/api/v1/")
    ),
    key=lambda pair: pair[1].count("{"),
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with running_stack(
        tmp_path_factory.mktemp("contract-stack"), env={"GATEWAY_RATE_LIMITS": UNLIMITED}
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def token(stack: DevStack) -> str:
    return stack.login()


def test_the_gateway_serves_the_committed_document(stack: DevStack) -> None:
    served = httpx.get(f"{stack.gateway_url}/openapi.json", timeout=30)
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("application/json")
    assert served.content == COMMITTED.read_bytes(), (
        "api-contracts/openapi.json is stale: run `just openapi`"
    )
    brapi_paths = {p for p in served.json()["paths"] if p.startswith("/brapi/v2/")}
    info = httpx.get(f"{stack.gateway_url}/brapi/v2/serverinfo", timeout=30).json()
    listed = {"/brapi/v2/" + call["service"] for call in info["result"]["calls"]}
    assert listed == brapi_paths


def test_the_docs_page_needs_nothing_from_elsewhere(stack: DevStack) -> None:
    page = httpx.get(f"{stack.gateway_url}/docs", timeout=30)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/api/v1/seasons" in page.text
    assert "/brapi/v2/germplasm" in page.text
    assert "src=" not in page.text
    assert "http://" not in page.text
    assert "https://" not in page.text


@schema.parametrize()
@settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_v1_operation(case: schemathesis.Case, stack: DevStack, token: str) -> None:
    response = case.call_and_validate(
        base_url=stack.gateway_url,
        headers={"Authorization": f"Bearer {token}"},
        checks=[not_a_server_error, response_schema_conformance],
        timeout=30,
    )
    SEEN.setdefault(case.operation.label, set()).add(response.status_code)


def test_the_run_reached_every_operation_and_got_past_authentication() -> None:
    """Guards the run above against passing vacuously (a dead token answers 401 everywhere)."""
    print(sorted((k, sorted(v)) for k, v in SEEN.items()))
    assert len(SEEN) == len(list(schema.get_all_operations()))
    assert not any(SEEN[label] == {401} for label in SEEN)
    document = json.loads(COMMITTED.read_text())
    plain_lists = [
        f"GET {path}"
        for path, operations in document["paths"].items()
        if path.startswith("/api/v1/")
        and "{" not in path
        and "get" in operations
        and not operations["get"]["parameters"]
    ]
    assert plain_lists
    assert [label for label in plain_lists if 200 not in SEEN[label]] == []


def brapi_germplasm_and_lot(client: httpx.Client) -> tuple[str, str]:
    """A germplasm and a seed lot of it, made over BrAPI (the contract stack has no demo data)."""
    germplasm = {"germplasmName": "IR64", "germplasmPUI": f"urn:contract:{uuid.uuid4()}"}
    germplasm |= {"commonCropName": "Rice", "genus": "Oryza"}
    made = client.post("/brapi/v2/germplasm", json=[germplasm])
    assert made.status_code == 200, made.text
    germplasm_id = made.json()["result"]["data"][0]["germplasmDbId"]
    lot = {"seedLotName": f"lot-{uuid.uuid4()}", "amount": 40, "units": "seeds"}
    lot["contentMixture"] = [{"germplasmDbId": germplasm_id}]
    made = client.post("/brapi/v2/seedlots", json=[lot])
    assert made.status_code == 200, made.text
    return germplasm_id, made.json()["result"]["data"][0]["seedLotDbId"]


class Conforming:
    """Real calls with valid bodies, each answer validated against the committed document by
    schemathesis (random cases mostly reach 404s and 422s; these reach the success bodies)."""

    def __init__(self, stack: DevStack, token: str) -> None:
        self.client = httpx.Client(
            base_url=stack.gateway_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        self.checked: set[str] = set()

    def __call__(self, method: str, path: str, status: int | set[int], **request: Any) -> Any:
        response = self.client.request(method, path, **request)
        expected = status if isinstance(status, set) else {status}
        assert response.status_code in expected, (method, path, response.text)
        template = next(t for pattern, t in TEMPLATES if pattern.match(path))
        schema[template][method].validate_response(response)
        self.checked.add(f"{method} {template}")
        # A refusal (the 409 of cancelling an analysis that already finished) is an error
        # envelope, validated above; only a success carries data.
        if not response.is_success or "json" not in response.headers["content-type"]:
            return None
        return response.json()["data"]


def test_real_answers_of_every_context_conform(stack: DevStack, token: str) -> None:
    call = Conforming(stack, token)
    call("GET", "/api/v1/permissions", 200)
    # operations
    season = {"name": "2027 main", "starts_on": "2027-03-01", "ends_on": "2027-09-30"}
    season_id = call("POST", "/api/v1/seasons", 201, json=season)["id"]
    call("PATCH", f"/api/v1/seasons/{season_id}", 200, json={"capacity_hours": 200})
    for path in (f"/api/v1/seasons/{season_id}", f"/api/v1/seasons/{season_id}/burndown"):
        call("GET", path, 200)
    plan_id = call("POST", "/api/v1/work-items", 201, json={"kind": "plan", "title": "main"})["id"]
    op = {"kind": "operation", "title": "Sow", "parent_id": plan_id, "operation_type": "planting"}
    op_id = call("POST", "/api/v1/work-items", 201, json=op)["id"]
    first, second = (
        call(
            "POST",
            "/api/v1/work-items",
            201,
            json={"kind": "task", "title": t, "parent_id": op_id, "season_id": season_id},
        )["id"]
        for t in ("t1", "t2")
    )
    call("PATCH", f"/api/v1/work-items/{first}", 200, json={"due": "2027-04-01"})
    call("POST", f"/api/v1/work-items/{first}/comments", 201, json={"body": "bring bags"})
    entry = {"work_item_id": first, "day": "2027-03-02", "hours": 2.5}
    call("POST", "/api/v1/time-entries", 201, json=entry)
    edge = {"predecessor_id": first, "successor_id": second}
    call("POST", "/api/v1/dependencies", 201, json=edge)
    for path in ("comments", "time-entries", "dependencies", "activity", ""):
        call("GET", f"/api/v1/work-items/{first}/{path}".rstrip("/"), 200)
    call("GET", "/api/v1/work-items", 200, params={"parent_id": op_id})
    call("GET", "/api/v1/seasons", 200)
    for path in ("time-entries", "dependencies"):
        call("GET", f"/api/v1/{path}", 200, params={"work_item_id": first})
    call("DELETE", "/api/v1/dependencies", 200, params=edge)
    # sensors
    metric = {"name": "air_temperature", "unit": "degC", "minimum": -50, "maximum": 70}
    profile = {"name": f"logger {uuid.uuid4()}", "metrics": [metric]}
    profile_id = call("POST", "/api/v1/device-profiles", 201, json=profile)["profileId"]
    store = call.client.post("/brapi/v2/locations", json=[{"locationName": "store"}])
    location = store.json()["result"]["data"][0]["locationDbId"]  # devices are placed there
    device = {"name": "store", "profileId": profile_id, "locationDbId": location}
    device_id = call("POST", "/api/v1/devices", 201, json=device)["deviceId"]
    code = call("POST", f"/api/v1/devices/{device_id}/claim-code", 201)["claimCode"]
    claimed = call("POST", "/api/v1/devices/claim", 200, json={"claimCode": code})
    now = datetime.now(UTC)
    an_hour_ago = (now - timedelta(hours=1)).isoformat()
    reading = {"metric": "air_temperature", "time": an_hour_ago, "value": 4.5}
    wrong = {"metric": "co2", "time": an_hour_ago, "value": 1}
    call.client.headers["Authorization"] = f"Device {claimed['credential']}"
    call("POST", "/api/v1/telemetry", 200, json={"readings": [reading, wrong]})
    call.client.headers["Authorization"] = f"Bearer {token}"
    rule = {"name": "warm", "metric": "air_temperature", "deviceId": device_id}
    rule |= {"kind": "threshold", "comparison": "above", "threshold": 8.0}
    call("POST", "/api/v1/alert-rules", 201, json=rule)
    window = {"metric": "air_temperature", "from": (now - timedelta(hours=6)).isoformat()}
    for resolution in ("raw", "1h"):
        history = {**window, "to": now.isoformat(), "resolution": resolution}
        call("GET", f"/api/v1/devices/{device_id}/telemetry", 200, params=history)
    for path in ("device-profiles", "devices", f"devices/{device_id}", "alert-rules", "alerts"):
        call("GET", f"/api/v1/{path}", 200)
    call("POST", f"/api/v1/devices/{device_id}/revoke", 200)
    # distribution
    partner = {"name": "KARI", "country": "KE", "type": "research_institute"}
    partner |= {"contacts": [{"name": "W", "email": "seeds@kari.example"}]}
    partner_id = call("POST", "/api/v1/partners", 201, json=partner)["id"]
    line = {"description": "Handling", "quantity": "3", "unit_price": "0.35", "tax_rate": "0.16"}
    invoice = {"partner_id": partner_id, "currency": "KES", "lines": [line]}
    invoice_id = call("POST", "/api/v1/invoices", 201, json=invoice)["id"]
    call("PUT", f"/api/v1/invoices/{invoice_id}/lines", 200, json={"lines": [line, line]})
    call("POST", f"/api/v1/invoices/{invoice_id}/actions", 200, json={"action": "issued"})
    call("POST", f"/api/v1/invoices/{invoice_id}/credit-notes", 201)
    for collection, record_id in (("partners", partner_id), ("invoices", invoice_id)):
        call("GET", f"/api/v1/{collection}/{record_id}", 200)
    for collection in ("partners", "invoices", "seed-requests", "agreements", "dispatches"):
        call("GET", f"/api/v1/{collection}", 200)
    germplasm, lot_id = brapi_germplasm_and_lot(call.client)
    item = {"germplasm_id": germplasm, "quantity": "1", "units": "seeds"}
    request = {"partner_id": partner_id, "purpose": "research", "items": [item]}
    request_id = call("POST", "/api/v1/seed-requests", 201, json=request)["id"]
    for action in ("submitted", "approved"):
        path = f"/api/v1/seed-requests/{request_id}/actions"
        call("POST", path, 200, json={"action": action})
    call("GET", f"/api/v1/seed-requests/{request_id}", 200)
    provider = {"name": "Our Genebank", "email": "mta@genebank.example", "country": "DE"}
    agreement = {"type": "smta", "partner_id": partner_id, "material": [germplasm]}
    agreement_id = call("POST", "/api/v1/agreements", 201, json=agreement | {"provider": provider})[
        "id"
    ]
    path = f"/api/v1/agreements/{agreement_id}"
    sent = call("POST", f"{path}/actions", 200, json={"action": "sent for signature"})
    signature = {"party_role": "provider", "document_sha256": sent["document_sha256"]}
    call("POST", f"{path}/signatures", 200, json=signature)
    call("GET", path, 200)
    packed = {
        "request_id": request_id,
        "lines": [{"seed_lot_id": lot_id, "amount": "1"}],
    }
    dispatch_id = call("POST", "/api/v1/dispatches", 201, json=packed)["id"]
    call("GET", f"/api/v1/dispatches/{dispatch_id}", 200)
    cancel = {"action": "cancelled"}
    call("POST", f"/api/v1/dispatches/{dispatch_id}/actions", {200, 409}, json=cancel)
    # genotypes and analyses
    vcf = random_vcf(np.random.default_rng(7), 6, 4, prefix=f"c{uuid.uuid4().hex[:6]}-")
    where = {"name": f"contract-{uuid.uuid4()}", "commonCropName": "Cassava"}
    imported = call("POST", "/api/v1/genotypes/imports", 201, params=where, content=vcf.text())
    variant_set = imported["variantSetDbId"]
    call("GET", f"/api/v1/variantsets/{variant_set}", 200)
    job = {"type": "grm", "variantSetDbId": variant_set}
    job_id = call("POST", "/api/v1/analyses", 202, json=job)["analysisDbId"]
    call("GET", f"/api/v1/analyses/{job_id}", 200)
    call("DELETE", f"/api/v1/analyses/{job_id}", {200, 409})
    call("DELETE", f"/api/v1/variantsets/{variant_set}", 409)  # its analysis remains
    call("POST", f"/api/v1/analyses/{job_id}/delete", 200)  # cancelled or finished: it goes
    call("DELETE", f"/api/v1/variantsets/{variant_set}", 200)
    # compliance
    call("GET", "/api/v1/audit", 200)
    call("GET", "/api/v1/audit/verify", 200)
    call("GET", "/api/v1/activity", 200, params={"resource": season_id})
    print(sorted(call.checked))
    assert len(call.checked) >= 45
