"""The committed contract cannot drift from what the gateway builds (ADR 0230)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from bijmantra.gateway.config import Settings
from bijmantra.gateway.contract import docs_page, document, render
from bijmantra.gateway.contract.brapi_paths import FRAGMENT, build, to_31
from bijmantra.gateway.contract.brapi_paths import render as render_fragment
from bijmantra.gateway.production import create_app

ROOT = Path(__file__).resolve().parents[3]
COMMITTED = ROOT / "api-contracts" / "openapi.json"
SPEC = ROOT / "api-contracts" / "brapi" / "brapi_openapi_all.nullable.yaml"


@pytest.fixture(scope="module")
async def built() -> dict[str, object]:
    """Built inside the session's event loop: the app opens its gRPC channels on it."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # building the app connects nothing
        return document(create_app(Settings.from_env()))


def test_committed_document_is_what_the_gateway_builds(built: dict[str, object]) -> None:
    assert render(built) == COMMITTED.read_bytes(), (
        "api-contracts/openapi.json is stale: run `just openapi`"
    )


def test_brapi_fragment_is_cut_from_the_pinned_spec() -> None:
    fresh = render_fragment(build(yaml.safe_load(SPEC.read_text())))
    assert fresh == FRAGMENT.read_text(), "brapi_v2.json is stale: run `just openapi`"


def test_every_reference_resolves(built: dict[str, object]) -> None:
    text = json.dumps(built)
    components = built["components"]
    assert isinstance(components, dict)
    for ref in set(part.split('"')[0] for part in text.split('"$ref": "')[1:]):
        _, _, section, name = ref.split("/", 3)
        assert name in components[section], ref


def test_operation_ids_are_unique(built: dict[str, object]) -> None:
    paths = built["paths"]
    assert isinstance(paths, dict)
    ids = [
        op["operationId"] for ops in paths.values() for op in ops.values() if "operationId" in op
    ]
    assert len(ids) == len(set(ids))


def test_nullable_becomes_a_31_union() -> None:
    assert to_31({"type": "string", "nullable": True}) == {"type": ["string", "null"]}
    assert to_31({"type": "string", "enum": ["a"], "nullable": True}) == {
        "type": ["string", "null"],
        "enum": ["a", None],
    }
    assert to_31({"$ref": "#/x", "nullable": True}) == {
        "anyOf": [{"$ref": "#/x"}, {"type": "null"}]
    }
    assert to_31({"properties": {"a": {"type": "integer", "nullable": False}}}) == {
        "properties": {"a": {"type": "integer"}}
    }


def test_docs_page_escapes_what_it_shows() -> None:
    page = docs_page(
        {
            "info": {"title": "T<", "description": "D&"},
            "paths": {"/x/<script>": {"get": {"summary": "<b>s</b>"}}},
        }
    )
    assert "<script>" not in page
    assert "<b>" not in page
    assert "&lt;script&gt;" in page
    assert "T&lt;" in page
    assert "D&amp;" in page
