"""The ``/brapi/v2`` half of the published contract, cut from the pinned official spec.

BrAPI handlers return documents as raw bytes, so Litestar cannot describe them; the official
schemas can. ``build`` keeps exactly the operations the gateway serves (``catalog_routes``, the
list ``/brapi/v2/serverinfo`` also reports), the components they reach, and rewrites the spec's
OpenAPI 3.0 ``nullable`` into 3.1 type unions. The result is committed next to this module
(``brapi_v2.json``) so the running gateway needs neither the YAML spec nor PyYAML; a test
rebuilds it and fails when it is stale (``python -m bijmantra.gateway.contract.brapi_paths``
rewrites it).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from bijmantra.application.brapi.modules import catalog
from bijmantra.gateway.brapi import PREFIX, catalog_routes

FRAGMENT = Path(__file__).with_name("brapi_v2.json")
_REF = re.compile(r"^#/components/([^/]+)/(.+)$")


def _extension(
    summary: str, tag: str, path_id: str, responses: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    """An operation the gateway serves beyond the official spec, on one string path id."""
    return {
        "summary": summary,
        "tags": [tag],
        "parameters": [
            {"name": path_id, "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        **extra,
        "responses": responses,
    }


# Served by the gateway but absent from the official spec: image bytes as uploaded.
_IMAGE_CONTENT = _extension(
    "The bytes of an image, as uploaded with PUT",
    "Images",
    "imageDbId",
    {
        "200": {"description": "The image", "content": {"*/*": {"schema": {}}}},
        "404": {"description": "No such image, or no content yet"},
    },
)
# The lab moves a vendor order along its states; BrAPI only reads the status (ADR 0192).
_ORDER_STATUS = _extension(
    "Append statuses to a vendor order (registered, received, inProgress, ...)",
    "Vendor",
    "orderId",
    {
        "200": {"description": "The order, with its status history"},
        "404": {"description": "No such order in this organization"},
        "422": {"description": "A step the order's state machine does not allow"},
    },
    requestBody={
        "content": {"application/json": {"schema": {"type": "array", "items": {"type": "string"}}}}
    },
)
EXTENSIONS = {
    ("get", "/images/{imageDbId}/imagecontent"): _IMAGE_CONTENT,
    ("post", "/vendor/orders/{orderId}/status"): _ORDER_STATUS,
}


def to_31(node: Any) -> Any:
    """OpenAPI 3.0 ``nullable: true`` -> a 3.1 union with ``null``; everything else as is."""
    if isinstance(node, list):
        return [to_31(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: to_31(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is not True:
        return out
    kind = out.get("type")
    if isinstance(kind, str):
        out["type"] = [kind, "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        return out
    return {"anyOf": [out, {"type": "null"}]}


def _refs(node: Any) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and (match := _REF.match(ref)):
                found.add((match.group(1), match.group(2)))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def build(spec: dict[str, Any]) -> dict[str, Any]:
    """Paths (prefixed with ``/brapi/v2``) and the components they reach, in OpenAPI 3.1."""
    paths: dict[str, dict[str, Any]] = {}
    for route in catalog_routes(catalog()):
        method = route.method.lower()
        operation = spec["paths"].get(route.path, {}).get(method)
        operation = operation or EXTENSIONS.get((method, route.path))
        if operation is None:
            raise KeyError(f"{route.method} {route.path} is served but not in the BrAPI spec")
        paths.setdefault(PREFIX + route.path, {})[method] = operation
    components: dict[str, dict[str, Any]] = {}
    pending = _refs(paths)
    while pending:
        section, name = pending.pop()
        if name in components.get(section, {}):
            continue
        target = spec["components"][section][name]
        components.setdefault(section, {})[name] = target
        pending |= _refs(target)
    components["securitySchemes"] = spec["components"]["securitySchemes"]
    ordered = {k: dict(sorted(v.items())) for k, v in sorted(components.items())}
    converted: dict[str, Any] = to_31({"paths": dict(sorted(paths.items())), "components": ordered})
    return converted


def render(fragment: dict[str, Any]) -> str:
    return json.dumps(fragment, indent=1, sort_keys=True) + "\n"


def main() -> None:
    import yaml  # a dev dependency: only rebuilding the fragment needs it

    source = Path(
        sys.argv[1] if len(sys.argv) > 1 else "api-contracts/brapi/brapi_openapi_all.nullable.yaml"
    )
    FRAGMENT.write_text(render(build(yaml.safe_load(source.read_text()))))


if __name__ == "__main__":
    main()
