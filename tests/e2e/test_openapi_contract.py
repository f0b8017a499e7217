"""The published contract against the real stack: the served document is the committed one,
the docs page is self-contained, and schemathesis finds no server error and no response
outside the schema in any ``/api/v1`` operation (ADR 0230).

Examples per operation are few (``max_examples``): the run must stay well inside CI's budget.
The stack's rate limits are lifted so a 429 from a burst of generated requests cannot hide a
finding."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from bijmantra.devstack.stack import DevStack, running_stack
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

pytestmark = [pytest.mark.e2e]

COMMITTED = Path(__file__).resolve().parents[2] / "api-contracts" / "openapi.json"
UNLIMITED = ",".join(f"{c}=1000000/1000000" for c in ("read", "write", "search", "upload"))

SEEN: dict[str, set[int]] = {}  # operation -> statuses it answered with
schema = schemathesis.openapi.from_dict(json.loads(COMMITTED.read_text())).include(
    path_regex=r"^/api/v1/"
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
