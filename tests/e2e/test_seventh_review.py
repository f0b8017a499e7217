"""The seventh adversarial review (ADR 0342) through a running stack's gateway: what a
viewer may not do anywhere."""

from __future__ import annotations

import re

import httpx
import pytest
from bijmantra.devstack.stack import DevStack

pytestmark = [pytest.mark.e2e]

WRITES = ("post", "put", "patch", "delete")
# A device's routes: its claim code or its credential, never a member's token.
DEVICE_WRITES = {("POST", "/api/v1/devices/claim"), ("POST", "/api/v1/telemetry")}
SOME_ID = "0193a000-0000-7000-8000-000000000001"


@pytest.fixture(scope="module")
def stack(shared_stack: DevStack) -> DevStack:
    """The e2e modules' shared stack: this module's data is its own (conftest.py)."""
    return shared_stack


def test_a_viewer_is_refused_by_every_write_route_in_the_openapi_document(
    stack: DevStack,
) -> None:
    """Every route that writes answers a viewer 403 before it reads the body; searches are
    reads sent as POST. A route added without its permission fails here."""
    stack.register_member("viewer7@example.org", "a-viewer-password-7", ["viewer"])
    token = stack.login("viewer7@example.org", "a-viewer-password-7")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=60) as client:
        document = client.get("/openapi.json").json()
        answered: dict[str, int] = {}
        for path, operations in document["paths"].items():
            for method in (m for m in operations if m in WRITES):
                if "/search/" in path or (method.upper(), path) in DEVICE_WRITES:
                    continue
                url = re.sub(r"\{[^}]+\}", SOME_ID, path)
                body: object = [{}] if path.startswith("/brapi/") else {}
                answer = client.request(method.upper(), url, json=body)
                answered[f"{method.upper()} {path}"] = answer.status_code
    assert len(answered) > 80  # the document lists the routes
    assert {k: v for k, v in answered.items() if v != 403} == {}
