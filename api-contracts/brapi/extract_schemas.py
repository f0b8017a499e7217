"""Extract the entity schemas of the pinned BrAPI v2.1 modules into the application package.

The engine validates and shapes documents from the official schemas rather than from
hand-copied field lists; this writes the ``components.schemas`` of each module file here
(descriptions and examples dropped) to ``bijmantra/application/brapi/schemas.json``.
Run ``uv run python api-contracts/brapi/extract_schemas.py`` after changing the pinned spec.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
TARGET = HERE.parents[1] / "packages/application/src/bijmantra/application/brapi/schemas.json"
MODULES = ("BrAPI-Core", "BrAPI-Germplasm", "BrAPI-Phenotyping", "BrAPI-Genotyping")
DROPPED = {"description", "example", "x-brapi-metadata", "title"}


def _strip(node: Any, *, names: bool = False) -> Any:
    """Drop documentation keys; ``names`` marks a ``properties`` map, whose keys are field names."""
    if isinstance(node, dict):
        return {
            k: _strip(v, names=k == "properties" and not names)
            for k, v in node.items()
            if names or k not in DROPPED
        }
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def main() -> None:
    out = {}
    for module in MODULES:
        spec = yaml.safe_load((HERE / f"brapi_openapi_{module}.yaml").read_text())
        out[module] = _strip(spec["components"]["schemas"])
    TARGET.write_text(json.dumps(out, sort_keys=True, separators=(",", ":")) + "\n")
    print(f"wrote {TARGET} ({TARGET.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
