"""Every query parameter a ``/api/v1`` handler reads is in the published contract (ADR 0350).

Handlers read them only through ``bijmantra.edge.query`` (which refuses a name the route does
not declare, so an undeclared read fails any test that reaches it), nothing in the gateway's
platform modules reads the raw query string, and each declared parameter is checked before
the handler: a wrong value is the 422 ``validation`` the handlers' own checks answered. The
gateway runs on its composition root over fakes (domain-api's included)."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from bijmantra.edge import Query, declared
from bijmantra.kernel import Principal, TenantId
from litestar.routes import HTTPRoute

ROOT = Path(__file__).resolve().parents[3]
GATEWAY = ROOT / "services" / "gateway" / "src" / "bijmantra" / "gateway"
COMMITTED = json.loads((ROOT / "api-contracts" / "openapi.json").read_text())
TOKEN = "admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Modules that are not the platform API: BrAPI (its parameters come from the official spec),
# the console's pages (/app), and middleware that only scans the raw URL (NULs) or keys the
# whole request (Idempotency-Key).
NOT_PLATFORM = (
    "brapi.py",
    "console/",
    "edge.py",
    "identity_proxy.py",
    "page_cache.py",
    "protection/",
)
RAW_READS = re.compile(r"query_params|query_string|\bint_param\(|\bpage_request\(|\bquery_of\(")


ADMIN = {
    TOKEN: Principal(subject="u1", tenant_id=TenantId(uuid.uuid4()), roles=frozenset({"admin"}))
}


def _bad_values(parameter: Query) -> list[str]:
    if parameter.kind == "boolean":
        return ["maybe"]
    if parameter.kind == "integer":
        bad = ["x1"]
        bad += [] if parameter.minimum is None else [str(parameter.minimum - 1)]
        bad += [] if parameter.maximum is None else [str(parameter.maximum + 1)]
        return bad
    return ["no-such-choice"] if parameter.enum else []


async def test_every_declared_parameter_is_checked_before_the_handler(
    gateway_on_fakes: Any,
) -> None:
    """For every /api/v1 operation: each declared parameter given a wrong value, and each
    required one left out, is a 422 ``validation`` naming it (the envelope and status the
    handlers' own checks gave: ``GET /api/v1/analyses?limit=x`` was that before)."""
    checked = set()
    async with gateway_on_fakes(ADMIN) as on:
        app, http = on.app, on.client
        for route in app.routes:
            if not isinstance(route, HTTPRoute) or not route.path.startswith("/api/v1/"):
                continue
            path = re.sub(r"\{[^}]+\}", "x", route.path_format)
            for handler in route.route_handlers:
                parameters = declared(handler)
                required = {q.name: "a" for q in parameters if q.required}
                methods = sorted(handler.http_methods - {"HEAD", "OPTIONS"})
                if not methods:
                    continue  # Litestar's own OPTIONS answer
                method = methods[0]
                for parameter in parameters:
                    cases = [(parameter.name, v) for v in _bad_values(parameter)]
                    if parameter.required:
                        cases.append((parameter.name, ""))
                    for name, value in cases:
                        query = {**required, name: value}
                        answer = await http.request(method, path, params=query, headers=AUTH)
                        assert answer.status_code == 422, (method, path, query, answer.text)
                        error = answer.json()["error"]
                        assert error["code"] == "validation"
                        assert name in {d["location"] for d in error["details"]}, answer.text
                        checked.add((route.path_format, name))
    assert ("/api/v1/analyses", "limit") in checked
    assert ("/api/v1/devices/{device_id}/telemetry", "resolution") in checked
    assert ("/api/v1/dependencies", "predecessor_id") in checked
    assert len(checked) > 40


async def test_valid_queries_are_served_as_before(gateway_on_fakes: Any) -> None:
    async with gateway_on_fakes(ADMIN) as on:
        http = on.client
        listed = await http.get("/api/v1/analyses?limit=5&active=TRUE", headers=AUTH)
        assert listed.status_code == 200, listed.text
        assert listed.json()["data"] == []
        board = await http.get("/api/v1/work-items?status=todo&page_size=10", headers=AUTH)
        assert board.status_code == 200, board.text
        # A filter the board does not have is refused naming it, as domain-api refused it.
        odd = await http.get("/api/v1/work-items?colour=red", headers=AUTH)
        assert odd.status_code == 422
        assert odd.json()["error"]["details"] == [
            {"location": "colour", "message": "unknown filter"}
        ]


def test_platform_handlers_read_the_query_only_through_their_declarations() -> None:
    offenders = []
    for module in sorted(GATEWAY.rglob("*.py")):
        relative = module.relative_to(GATEWAY).as_posix()
        if relative.startswith(NOT_PLATFORM):
            continue
        for number, line in enumerate(module.read_text().splitlines(), 1):
            if RAW_READS.search(line):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert not offenders, (
        "read query parameters with bijmantra.edge.query_value & co:\n" + "\n".join(offenders)
    )


def _operation(path: str, method: str) -> dict[str, object]:
    operation: dict[str, object] = COMMITTED["paths"][path][method]
    return operation


def test_the_committed_contract_lists_what_the_handlers_read() -> None:
    listing = _operation("/api/v1/analyses", "get")["parameters"]
    assert listing == [
        {
            "description": "default 20",
            "in": "query",
            "name": "limit",
            "required": False,
            "schema": {"maximum": 100, "minimum": 1, "type": "integer"},
        },
        {
            "description": "true: queued and running only",
            "in": "query",
            "name": "active",
            "required": False,
            "schema": {"type": "boolean"},
        },
    ]
    paged = _operation("/api/v1/seasons", "get")["parameters"]
    assert isinstance(paged, list)
    assert [p["name"] for p in paged] == ["page", "page_size"]


def test_posts_that_take_no_body_declare_none() -> None:
    for path in (
        "/api/v1/analyses/{analysis_db_id}/delete",
        "/api/v1/devices/{device_id}/revoke",
        "/api/v1/devices/{device_id}/claim-code",
        "/api/v1/alerts/{alert_id}/clear",
        "/api/v1/alerts/{alert_id}/acknowledge",
        "/api/v1/invoices/{record_id}/credit-notes",
        "/api/v1/organization/exports",
    ):
        assert "requestBody" not in _operation(path, "post"), path
    assert "requestBody" in _operation("/api/v1/analyses", "post")
